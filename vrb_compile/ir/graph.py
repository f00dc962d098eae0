"""A networkx view of a step graph and its structural validation.

:func:`validate` checks what the interpreter relies on (one entry, no dangling
edges, every node reachable, every step declared, each node kind with the
out-edges it needs). The VRB3xx warnings (unbounded loops, unreachable code)
are reported by the checker from the source, where they have exact ranges and
suppression comments; a graph that reaches the builder is already free of
unreachable nodes, or :func:`validate` refuses it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import networkx as nx

from ..errors import VrbCompileError
from .models import (
    CONTROL_EDGE_KINDS,
    Graph,
    MapNode,
    ParallelNode,
    RollbackNode,
    StepNode,
)

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


# Out-edge kinds each node kind must have exactly one of (control flow), and the
# kinds it may have at all.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "branch": ("true", "false"),
    "except": ("true", "false"),
    "loop": ("next", "exit"),
}
_ALLOWED: dict[str, frozenset[str]] = {
    "start": frozenset({"next"}),
    "end": frozenset(),
    "branch": frozenset({"true", "false", "error"}),
    "except": frozenset({"true", "false", "error"}),
    "loop": frozenset({"next", "exit", "error"}),
    "raise": frozenset({"error"}),
    "rollback": frozenset({"compensate"}),
}
_DEFAULT_ALLOWED = frozenset({*CONTROL_EDGE_KINDS, "error", "compensate"})


def _node_problems(graph: Graph) -> list[str]:
    problems: list[str] = []
    out: dict[str, Counter[str]] = {node.id: Counter() for node in graph.nodes}
    for edge in graph.edges:
        if edge.source in out:
            out[edge.source][edge.kind] += 1
    for node in graph.nodes:
        kinds = out[node.id]
        allowed = _ALLOWED.get(node.kind, _DEFAULT_ALLOWED)
        for kind in sorted(set(kinds) - allowed):
            problems.append(f"{node.kind} node {node.id} has a {kind!r} edge")
        for kind, count in sorted(kinds.items()):
            if count > 1 and kind not in ("compensate",):
                problems.append(f"node {node.id} has {count} {kind!r} edges")
        if node.kind in _REQUIRED:
            for kind in _REQUIRED[node.kind]:
                if kinds[kind] == 0:
                    problems.append(f"{node.kind} node {node.id} has no {kind!r} edge")
        elif node.kind == "start":
            if kinds["next"] != 1:
                problems.append(f"start node {node.id} needs one 'next' edge")
        elif node.kind not in ("end", "raise", "rollback"):
            control = sum(kinds[kind] for kind in CONTROL_EDGE_KINDS)
            if control != 1:
                problems.append(
                    f"{node.kind} node {node.id} has {control} control edges "
                    "(next/loop/exit), expected 1"
                )
    return problems


def validate(graph: Graph) -> Any:
    """Check the structure of ``graph`` and return its networkx view.

    Checks: ids are unique; there is exactly one start node and it is the
    entry; every edge joins existing nodes; every node is reachable from the
    entry; every step, parallel branch and map names a declared step; every
    rollback names a declared step with that rollback; each node kind has the
    out-edges the interpreter follows (a branch its ``true`` and ``false``, a
    loop its ``next`` and ``exit`` ...).

    Returns:
        The ``networkx.MultiDiGraph`` view of the graph.

    Raises:
        GraphInvalid: Listing every problem found.
    """
    problems: list[str] = []
    ids = Counter(node.id for node in graph.nodes)
    problems += [f"node id {node_id} is used {n} times" for node_id, n in ids.items() if n > 1]
    starts = [node.id for node in graph.nodes if node.kind == "start"]
    if len(starts) != 1:
        problems.append(f"expected exactly one start node, found {len(starts)}")
    if graph.entry not in ids:
        problems.append(f"entry {graph.entry} is not a node")
    elif graph.node(graph.entry).kind != "start":
        problems.append(f"entry {graph.entry} is not the start node")
    for edge in graph.edges:
        for end in (edge.source, edge.target):
            if end not in ids:
                problems.append(
                    f"{edge.kind} edge {edge.source}->{edge.target} references missing node {end}"
                )
    declared = {ref.name: ref for ref in graph.steps}
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
                problems.append(f"{node.kind} node {node.id} calls undeclared step {name!r}")
        if isinstance(node, RollbackNode):
            ref = declared.get(node.step)
            if ref is not None and ref.rollback_ref != node.rollback_ref:
                problems.append(f"rollback node {node.id} does not match step {node.step!r}")
            if node.of not in ids:
                problems.append(f"rollback node {node.id} compensates missing node {node.of}")
    problems += _node_problems(graph)
    view = to_networkx(graph)
    if graph.entry in ids:
        reachable = nx.descendants(view, graph.entry) | {graph.entry}
        for node in graph.nodes:
            if node.id not in reachable:
                problems.append(f"{node.kind} node {node.id} (line {node.line}) is unreachable")
    if problems:
        raise GraphInvalid(graph.workflow.name, problems)
    return view


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
