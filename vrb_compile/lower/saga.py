"""Compensation edges: the saga order made explicit in the graph.

Each rollback-capable node (a step whose step has a ``rollback_fn``, each such
branch of a ``parallel``, a ``map`` over such a step) gets its own ``rollback``
node and a ``compensate`` edge to it. A forward data-flow pass over the control
edges finds, for each of them, the rollback-capable nodes that may have
completed last before it; the rollback node links (``compensate``) to their
rollback nodes, so following those edges walks the saga in reverse
completion order. Along an ``error`` edge the failing node has not completed,
so what flows is what held before it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from ..ir.models import MapNode, NodeBase, ParallelNode, RollbackNode, StepNode
from .context import StepLike

__all__ = ["add_compensation"]


def add_compensation(
    nodes: list[NodeBase],
    edges: set[tuple[str, str, str]],
    steps: Mapping[str, StepLike],
) -> None:
    """Append rollback nodes to ``nodes`` and compensate edges to ``edges``, in place."""
    chains: dict[str, list[str]] = {}  # capable node -> its rollback nodes, saga order
    capable = [node for node in nodes if _rollbacks(node, steps)]
    for node in capable:
        chain: list[str] = []
        # Parallel siblings: the later branch is compensated first.
        for branch, step_name in reversed(_rollbacks(node, steps)):
            rollback = RollbackNode(
                id=f"n{len(nodes)}",
                line=node.line,
                end_line=node.end_line,
                loops=node.loops,
                scope=node.scope,
                step=step_name,
                rollback_ref=str(steps[step_name].rollback_ref),
                of=node.id,
                branch=branch,
            )
            nodes.append(rollback)
            edges.add((node.id, rollback.id, "compensate"))
            chain.append(rollback.id)
        for earlier, later in itertools.pairwise(chain):
            edges.add((earlier, later, "compensate"))
        chains[node.id] = chain
    if not chains:
        return
    before = _completed_before(nodes, edges, set(chains))
    for node_id, chain in chains.items():
        for previous in sorted(before[node_id], key=_numeric):
            edges.add((chain[-1], chains[previous][0], "compensate"))


def _rollbacks(node: NodeBase, steps: Mapping[str, StepLike]) -> list[tuple[int | None, str]]:
    """``(branch index, step name)`` of each compensable call a node makes."""
    if isinstance(node, StepNode | MapNode):
        return [(None, node.step)] if steps[node.step].rollback_ref else []
    if isinstance(node, ParallelNode):
        return [
            (index, branch.step)
            for index, branch in enumerate(node.branches)
            if steps[branch.step].rollback_ref
        ]
    return []


def _numeric(node_id: str) -> int:
    return int(node_id[1:])


def _completed_before(
    nodes: Sequence[NodeBase], edges: set[tuple[str, str, str]], capable: set[str]
) -> dict[str, set[str]]:
    """For each node, the capable nodes that may be the last ones completed before it."""
    preds: dict[str, list[tuple[str, str]]] = {node.id: [] for node in nodes}
    for source, target, kind in edges:
        if kind != "compensate":
            preds[target].append((source, kind))
    into: dict[str, frozenset[str]] = {node.id: frozenset() for node in nodes}
    out: dict[str, frozenset[str]] = {node.id: frozenset() for node in nodes}
    changed = True
    while changed:
        changed = False
        for node in nodes:
            facts: set[str] = set()
            for source, kind in preds[node.id]:
                facts |= into[source] if kind == "error" else out[source]
            new_in = frozenset(facts)
            new_out = frozenset({node.id}) if node.id in capable else new_in
            if new_in != into[node.id] or new_out != out[node.id]:
                into[node.id], out[node.id] = new_in, new_out
                changed = True
    return {node_id: set(facts) for node_id, facts in into.items()}
