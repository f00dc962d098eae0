"""Helpers for the lowering, IR and emitter tests: compile a snippet to graphs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from vrb_compile.discover import discover
from vrb_compile.ir.models import Edge, Graph, Node
from vrb_compile.lower import lower_workflow
from vrb_compile.source import SourceFile

HEADER = """\
import asyncio
from runtime import StepContext, Step, Workflow, WorkflowContext, step, workflow


async def _undo(error, output):
    return None


@step("a")
async def a(*args, **kwargs):
    return 1


@step("b", retries=3, timeout="30s")
async def b(*args, **kwargs):
    return 2


@step("c")
async def c(*args, **kwargs):
    return 3


@step("r1", rollback_fn=_undo)
async def r1(*args):
    return 1


@step("r2", rollback_fn=_undo)
async def r2(*args):
    return 2


@step("r3", rollback_fn=_undo)
async def r3(*args):
    return 3

"""


def source_of(tmp_path: Path, body: str, *, name: str = "flow.py", header: bool = True) -> Path:
    """Write ``HEADER`` + ``body`` (dedented) to ``tmp_path/name``."""
    path = tmp_path / name
    path.write_text((HEADER if header else "") + textwrap.dedent(body), encoding="utf-8")
    return path


def lower_file(path: Path) -> dict[str, Graph]:
    """Every workflow of one file, lowered, by name."""
    source = SourceFile.from_path(path, cwd=path.parent)
    index = discover([source])
    return {info.name: lower_workflow(info, index) for info in index.workflows}


def lower_snippet(tmp_path: Path, body: str, *, header: bool = True) -> Graph:
    """The graph of the single workflow defined in ``body``."""
    graphs = lower_file(source_of(tmp_path, body, header=header))
    assert len(graphs) == 1, sorted(graphs)
    return next(iter(graphs.values()))


def kinds(graph: Graph) -> list[str]:
    """Node kinds in id order."""
    return [node.kind for node in graph.nodes]


def of_kind(graph: Graph, kind: str) -> list[Node]:
    """Nodes of one kind, in id order."""
    return [node for node in graph.nodes if node.kind == kind]


def edges_of(graph: Graph, kind: str) -> list[Edge]:
    """Edges of one kind, in canonical order."""
    return [edge for edge in graph.edges if edge.kind == kind]


def successor(graph: Graph, node_id: str, kind: str = "next") -> Node:
    """The node the single ``kind`` edge of ``node_id`` leads to."""
    targets = [e.target for e in graph.edges if e.source == node_id and e.kind == kind]
    assert len(targets) == 1, (node_id, kind, targets)
    return graph.node(targets[0])


def step_nodes(graph: Graph) -> dict[str, Node]:
    """Step nodes by step name (the last one wins when a step is called twice)."""
    return {node.step: node for node in graph.nodes if node.kind == "step"}  # type: ignore[union-attr]
