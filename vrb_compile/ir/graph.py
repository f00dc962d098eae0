"""A networkx view of a step graph and its validation.

:func:`validate` checks everything the interpreter relies on, so that a graph
that loads never makes a run fail inside the interpreter: its values
(:mod:`.fields`), its Python source (:mod:`.sources`) and its control flow
(:mod:`.flow`). The VRB3xx warnings (unbounded loops, unreachable code)
are reported by the checker from the source, where they have exact ranges and
suppression comments; a graph that reaches the builder is already free of
unreachable nodes, or :func:`validate` refuses it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import networkx as nx

from ..errors import VrbCompileError
from .fields import field_problems, node_id_problem
from .flow import flow_problems
from .models import (
    Graph,
    MapNode,
    ParallelNode,
    RollbackNode,
    StepNode,
)
from .sources import source_problems

__all__ = [
    "GraphInvalid",
    "back_edges",
    "to_networkx",
    "validate",
]


class GraphInvalid(VrbCompileError, ValueError):
    """A graph breaks a structural rule the interpreter relies on.

    Attributes:
        workflow: The workflow name.
        problems: Every problem found, one sentence each.
    """

    def __init__(self, workflow: str, problems: list[str]) -> None:
        self.workflow = workflow
        self.problems = tuple(problems)
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"graph of workflow {workflow!r} is invalid: {shown}{more}")


def to_networkx(graph: Graph) -> Any:
    """The graph as a ``networkx.MultiDiGraph``.

    Node attributes are the node models' fields (``kind``, ``line`` ...); each
    edge has its ``kind`` as attribute and as key.
    """
    view = nx.MultiDiGraph(workflow=graph.workflow.name)
    for node in graph.nodes:
        view.add_node(node.id, **node.model_dump())
    for edge in graph.edges:
        view.add_edge(edge.source, edge.target, key=edge.kind, kind=edge.kind)
    return view


def validate(graph: Graph) -> Any:
    """Check that ``graph`` holds nothing the interpreter cannot run; return its networkx view.

    First what every other check relies on: ids are unique; there is exactly one
    start node and it is the entry; every edge joins existing nodes; every step,
    parallel branch, map and rollback names a declared step, declared once. Then
    every value (:mod:`.fields`: names, ids, options, parameters), every Python
    source field (:mod:`.sources`: it compiles as the interpreter runs it, within
    bounds) and the control flow (:mod:`.flow`: edges per node kind, frames,
    loops, cycles, reachability, re-raises, sagas).

    Returns:
        The ``networkx.MultiDiGraph`` view of the graph.

    Raises:
        GraphInvalid: Listing every problem found.
    """
    structure = _structure_problems(graph)
    problems = structure + _step_problems(graph) + field_problems(graph)
    # The later checks quote node ids, and the flow analyses need well-formed edges.
    if all(node_id_problem(node_id) is None for node_id in _node_refs(graph)):
        problems += source_problems(graph)
        if not structure:
            problems += flow_problems(graph)
    if problems:
        raise GraphInvalid(graph.workflow.name, problems)
    return to_networkx(graph)


def _node_refs(graph: Graph) -> list[str]:
    """Every node id the graph holds: the nodes' own and those naming others."""
    refs = [graph.entry]
    for node in graph.nodes:
        refs += [node.id, *node.loops]
        refs += [ref for ref in (node.scope, getattr(node, "handling", None)) if ref is not None]
        if isinstance(node, RollbackNode):
            refs.append(node.of)
    return refs


def _structure_problems(graph: Graph) -> list[str]:
    """What the flow analyses rely on: unique ids, one start as the entry, edges between nodes."""
    problems: list[str] = []
    ids = Counter(node.id for node in graph.nodes)
    problems += [
        f"node id {_shown(node_id)} is used {n} times" for node_id, n in ids.items() if n > 1
    ]
    starts = [node.id for node in graph.nodes if node.kind == "start"]
    if len(starts) != 1:
        problems.append(f"expected exactly one start node, found {len(starts)}")
    if graph.entry not in ids:
        problems.append(f"entry {_shown(graph.entry)} is not a node")
    elif graph.node(graph.entry).kind != "start":
        problems.append(f"entry {_shown(graph.entry)} is not the start node")
    for edge in graph.edges:
        for end in (edge.source, edge.target):
            if end not in ids:
                problems.append(
                    f"{edge.kind} edge {_shown(edge.source)}->{_shown(edge.target)} "
                    f"references missing node {_shown(end)}"
                )
    return problems


def _step_problems(graph: Graph) -> list[str]:
    problems: list[str] = []
    declared = {ref.name for ref in graph.steps}
    if len(declared) != len(graph.steps):
        problems.append("a step is declared twice in steps")
    for node in graph.nodes:
        names: list[str] = []
        if isinstance(node, StepNode | MapNode | RollbackNode):
            names.append(node.step)
        elif isinstance(node, ParallelNode):
            names.extend(branch.step for branch in node.branches)
        for name in names:
            if name not in declared:
                problems.append(
                    f"{node.kind} node {_shown(node.id)} calls undeclared step {name!r:.60}"
                )
    return problems


def _shown(value: str) -> str:
    """A value of the file in a message: as it is if it is a plain id, else quoted and cut short."""
    if value.isidentifier() and len(value) <= 64:
        return value
    return repr(value if len(value) <= 40 else value[:40] + "...")


def back_edges(graph: Graph) -> set[tuple[str, str, str]]:
    """The edges that close a cycle (``loop`` edges and the back edges of a DFS).

    Removing them leaves a DAG, which the layered layouts use.
    """
    control = nx.MultiDiGraph()
    control.add_nodes_from(node.id for node in graph.nodes)
    found: set[tuple[str, str, str]] = set()
    for edge in graph.edges:
        if edge.kind == "loop":
            found.add((edge.source, edge.target, edge.kind))
        else:
            control.add_edge(edge.source, edge.target, key=edge.kind)
    # Rollback chains of steps inside loops point to themselves or backwards.
    while True:
        try:
            cycle = nx.find_cycle(control, source=graph.entry)
        except nx.NetworkXNoCycle:
            try:
                cycle = nx.find_cycle(control)
            except nx.NetworkXNoCycle:
                return found
        source, target, key = cycle[-1]
        control.remove_edge(source, target, key=key)
        found.add((source, target, key))
