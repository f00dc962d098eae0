"""The control flow of a step graph, checked against what the interpreter's walk relies on.

``runtime.interpreter.walker`` follows edges without second-guessing them, so
:func:`flow_problems` proves, before a graph is trusted, each property the walk
assumes (a graph built by the compiler has them all by construction):

* **Edges per node kind**: ``start`` one ``next``; ``branch``/``except`` one
  ``true`` and one ``false``; ``loop`` one ``exit`` and either a ``next`` (its
  body) or a ``loop`` edge to itself (an empty body); ``call`` one ``next``
  (into its helper); every other node one control edge (``next``, ``loop`` or
  ``exit``); at most one ``error`` edge; ``end`` none. No control edge enters
  ``start`` or a ``rollback`` node; a ``loop`` edge leads to an enclosing loop;
  an ``except`` node is entered by ``error`` edges and its previous clause's
  ``false`` edge only.
* **Frames**: a node's ``scope`` is a call node; control keeps to one scope
  except through a call (into its helper) and a helper's ``return`` (back to the
  caller's scope). So the walk's stack of frames is always the node's chain of
  scopes: a ``return`` never pops the body's frame.
* **Loops**: ``loops`` lists loop nodes; along every edge (and every way an
  exception leaves a helper) it only loses trailing loops, except into a loop's
  body, where it gains that loop. A ``for`` loop is therefore always started
  before it is advanced.
* **Every cycle is a loop turn**: removing the back edges (into a loop, from its
  body, or of kind ``loop``) leaves no cycle, so every cycle passes the walk's
  turn counter (its pauses, its ``max_events`` budget): a graph cannot spin the
  event loop forever. As ``loops`` grows only into a loop's body, every node
  that comes round to a loop's back edge lists that loop: each turn gives its
  steps new keys.
* **Reachability**: every node is reachable from the entry by control edges,
  every rollback node through ``compensate`` edges.
* **Re-raising**: a ``raise`` names in ``handling`` a node that exceptions
  first reach by ``error`` edges, and that it comes after on every path in its
  frame; so the exception it re-raises (or chains to) has arrived.
* **Sagas**: each rollback-capable step, ``parallel`` branch and ``map`` has
  one rollback node, naming it in ``of``, with its step, branch, loops and scope.
* **Kinds**: a ``for`` loop has a target and an iterable, a ``while`` loop a
  test; a ``parallel`` node has branches; there is at most one ``end``, outside
  loops and helpers, and a body ``return`` leads to it.

Preconditions: node ids are unique, the entry is the start node, every edge
joins existing nodes and every step named is declared (see
:func:`.graph.validate`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import networkx as nx

from .models import (
    CONTROL_EDGE_KINDS,
    CallNode,
    Graph,
    LoopNode,
    MapNode,
    Node,
    ParallelNode,
    RaiseNode,
    ReturnNode,
    RollbackNode,
    StepNode,
)

__all__ = ["flow_problems"]

# (source, target, kind): the control edges, with the implicit ``error`` edges of
# exceptions leaving a helper (see _escapes).
Flow = list[tuple[str, str, str]]

_COMPENSATING = ("step", "parallel", "map")
_TERMINAL = ("end", "start", "rollback")


def flow_problems(graph: Graph) -> list[str]:
    """Every way control in ``graph`` breaks what the interpreter relies on.

    See the module docstring for the checks and their preconditions.
    """
    nodes = {node.id: node for node in graph.nodes}
    problems = _edge_problems(graph, nodes) + _loop_list_problems(graph, nodes)
    problems += _kind_problems(graph, nodes)
    scopes = _scope_problems(graph, nodes)
    problems += scopes
    if scopes:
        return problems  # the analyses below follow the scopes
    flow = graph_flow(graph, nodes)
    problems += _reach_problems(graph, nodes, flow)
    if problems:
        return problems  # the analyses below assume all of the above
    problems += _loop_problems(nodes, flow)
    if problems:
        return problems
    return _raise_problems(graph, nodes, flow)


def _control_kinds(node: Node) -> tuple[str, ...]:
    """The control edge kinds ``node`` may leave by: exactly one of them, once."""
    if node.kind in ("start", "call"):
        return ("next",)
    if node.kind == "loop":
        return ("next", "loop")
    return tuple(sorted(CONTROL_EDGE_KINDS))


def _edge_problems(graph: Graph, nodes: dict[str, Node]) -> list[str]:
    problems: list[str] = []
    out: dict[str, Counter[str]] = {node_id: Counter() for node_id in nodes}
    compensations: Counter[tuple[str, str]] = Counter()
    for edge in graph.edges:
        source, target = nodes[edge.source], nodes[edge.target]
        out[edge.source][edge.kind] += 1
        shown = f"{edge.kind} edge {edge.source}->{edge.target}"
        if edge.kind == "compensate":
            compensations[(edge.source, edge.target)] += 1
            if source.kind not in (*_COMPENSATING, "rollback"):
                problems.append(f"{shown} leaves a {source.kind} node")
            if not isinstance(target, RollbackNode):
                problems.append(f"{shown} leads to a {target.kind} node, not a rollback")
            elif source.kind != "rollback" and target.of != source.id:
                problems.append(f"{shown} leads to the rollback of node {target.of}")
            continue
        if target.kind in ("start", "rollback"):
            problems.append(f"{shown} leads into a {target.kind} node")
        if edge.kind == "loop" and not (
            isinstance(target, LoopNode) and target.id in (*source.loops, source.id)
        ):
            problems.append(f"{shown} does not lead back to a loop enclosing {edge.source}")
        if target.kind == "except" and not (
            edge.kind == "error" or (edge.kind == "false" and source.kind == "except")
        ):
            problems.append(f"{shown} enters an except clause other than by an exception")
    problems += [
        f"compensate edge {source}->{target} is given {count} times"
        for (source, target), count in compensations.items()
        if count > 1
    ]
    for node in graph.nodes:
        kinds = out[node.id]
        if node.kind == "end":
            allowed: set[str] = set()
        elif node.kind == "rollback":
            allowed = {"compensate"}
        elif node.kind in ("branch", "except"):
            allowed = {"true", "false", "error"}
        elif node.kind == "loop":
            allowed = {"next", "loop", "exit", "error"}
        elif node.kind == "raise":
            allowed = {"error"}
        elif node.kind == "start":
            allowed = {"next"}
        else:
            allowed = {*_control_kinds(node), "error"}
            if node.kind in _COMPENSATING:
                allowed.add("compensate")
        for kind in sorted(set(kinds) - allowed):
            problems.append(f"{node.kind} node {node.id} has a {kind!r} edge")
        for kind, count in sorted(kinds.items()):
            if count > 1 and kind != "compensate":
                problems.append(f"node {node.id} has {count} {kind!r} edges")
        if node.kind in ("branch", "except"):
            needed: list[tuple[str, ...]] = [("true",), ("false",)]
        elif node.kind == "loop":
            needed = [("exit",), ("next", "loop")]
        elif node.kind in ("end", "raise", "rollback"):
            needed = []
        else:
            needed = [_control_kinds(node)]
        for choice in needed:
            total = sum(kinds[kind] for kind in choice)
            if total == 0:
                wanted = " or ".join(repr(kind) for kind in choice)
                problems.append(f"{node.kind} node {node.id} has no {wanted} edge")
            elif total > 1 and all(kinds[kind] <= 1 for kind in choice):
                problems.append(
                    f"{node.kind} node {node.id} has {total} control edges "
                    f"({'/'.join(choice)}), expected 1"
                )
    return problems


def _scope_problems(graph: Graph, nodes: dict[str, Node]) -> list[str]:
    problems: list[str] = []
    for node in graph.nodes:
        if node.scope is None:
            continue
        call = nodes.get(node.scope)
        if not isinstance(call, CallNode) or call is node:
            problems.append(f"{node.kind} node {node.id} has scope {node.scope}, not a call node")
            continue
        seen = {node.id}
        while call is not None:
            if call.id in seen:
                problems.append(f"the scopes of node {node.id} form a cycle")
                break
            seen.add(call.id)
            found = nodes.get(call.scope) if call.scope is not None else None
            call = found if isinstance(found, CallNode) else None
    if problems:
        return problems
    for edge in graph.edges:
        if edge.kind == "compensate":
            continue
        source, target = nodes[edge.source], nodes[edge.target]
        if isinstance(source, CallNode) and edge.kind == "next":
            expected: str | None = source.id
        elif isinstance(source, ReturnNode) and source.scope is not None and edge.kind != "error":
            expected = nodes[source.scope].scope
        else:
            expected = source.scope
        if target.scope != expected:
            problems.append(
                f"{edge.kind} edge {edge.source}->{edge.target} goes from scope "
                f"{source.scope} to scope {target.scope}, not to {expected}"
            )
    return problems


def _loop_list_problems(graph: Graph, nodes: dict[str, Node]) -> list[str]:
    problems: list[str] = []
    for node in graph.nodes:
        if len(set(node.loops)) != len(node.loops) or node.id in node.loops:
            problems.append(f"{node.kind} node {node.id} lists loops {list(node.loops)}")
        for loop in node.loops:
            if not isinstance(nodes.get(loop), LoopNode):
                problems.append(f"{node.kind} node {node.id} lists {loop}, not a loop node")
    return problems


def _kind_problems(graph: Graph, nodes: dict[str, Node]) -> list[str]:
    problems: list[str] = []
    declared = {ref.name: ref for ref in graph.steps}
    ends = [node for node in graph.nodes if node.kind == "end"]
    if len(ends) > 1:
        problems.append(f"the graph has {len(ends)} end nodes")
    rollbacks: dict[str, list[RollbackNode]] = {}
    linked: dict[str, Counter[str]] = {}
    for node in graph.nodes:
        if isinstance(node, RollbackNode):
            rollbacks.setdefault(node.of, []).append(node)
    for edge in graph.edges:
        if edge.kind == "compensate":
            linked.setdefault(edge.source, Counter())[edge.target] += 1
    for node in graph.nodes:
        what = f"{node.kind} node {node.id}"
        if node.kind in ("start", "end") and (node.scope is not None or node.loops):
            problems.append(f"{what} is inside a loop or a helper")
        if isinstance(node, LoopNode):
            fields = (node.target is not None, node.iter is not None, node.test is not None)
            if fields != ((True, True, False) if node.loop == "for" else (False, False, True)):
                problems.append(
                    f"{what}: a for loop has a target and an iterable, a while loop a test"
                )
        elif isinstance(node, ParallelNode) and not node.branches:
            problems.append(f"{what} has no branches")
        elif isinstance(node, RaiseNode) and node.exc is None and node.cause is not None:
            problems.append(f"{what} has a cause but no exception")
        elif isinstance(node, RollbackNode):
            problems += _rollback_problems(node, nodes, declared)
        if isinstance(node, StepNode | MapNode | ParallelNode):
            problems += _compensation_problems(
                node, declared, rollbacks.get(node.id, []), linked.get(node.id, Counter())
            )
    for edge in graph.edges:
        source = nodes[edge.source]
        ends_body = isinstance(source, ReturnNode) and source.scope is None
        if ends_body and edge.kind != "error" and nodes[edge.target].kind != "end":
            problems.append(f"return node {source.id} does not lead to the end node")
    return problems


def _rollback_problems(
    node: RollbackNode, nodes: dict[str, Node], declared: dict[str, Any]
) -> list[str]:
    what = f"rollback node {node.id}"
    of = nodes.get(node.of)
    if isinstance(of, StepNode | MapNode):
        step = of.step if node.branch is None else None
    elif isinstance(of, ParallelNode):
        inside = node.branch is not None and 0 <= node.branch < len(of.branches)
        step = of.branches[node.branch].step if inside and node.branch is not None else None
    else:
        return [f"{what} compensates node {node.of}, not a step, parallel or map node"]
    problems: list[str] = []
    if step != node.step:
        problems.append(f"{what} compensates step {node.step!r}, not what node {of.id} calls")
    ref = declared.get(node.step)
    if ref is not None and ref.rollback_ref != node.rollback_ref:
        problems.append(f"{what} does not match step {node.step!r}")
    if node.scope != of.scope or node.loops != of.loops:
        problems.append(f"{what} is not in the loops and scope of node {of.id}")
    return problems


def _compensation_problems(
    node: StepNode | MapNode | ParallelNode,
    declared: dict[str, Any],
    rollbacks: list[RollbackNode],
    linked: Counter[str],
) -> list[str]:
    """The rollback nodes ``node`` needs: one per rollback-capable call, each linked once."""
    calls: list[tuple[int | None, str]]
    if isinstance(node, ParallelNode):
        calls = [(index, branch.step) for index, branch in enumerate(node.branches)]
    else:
        calls = [(None, node.step)]
    wanted = {
        branch
        for branch, step in calls
        if step in declared and declared[step].rollback_ref is not None
    }
    problems: list[str] = []
    found = Counter(rollback.branch for rollback in rollbacks)
    for branch in sorted(wanted | set(found), key=lambda b: -1 if b is None else b):
        where = "" if branch is None else f" branch {branch}"
        if found[branch] != (1 if branch in wanted else 0):
            problems.append(
                f"{node.kind} node {node.id}{where} has {found[branch]} rollback nodes, "
                f"expected {1 if branch in wanted else 0}"
            )
    for rollback in rollbacks:
        if linked[rollback.id] != 1:
            problems.append(f"{node.kind} node {node.id} has no compensate edge to {rollback.id}")
    return problems


def graph_flow(graph: Graph, nodes: dict[str, Node] | None = None) -> Flow:
    """The control edges, with an ``error`` edge for each way an exception leaves a helper.

    A node of a helper without an ``error`` edge of its own hands an exception to
    the call node's ``error`` edge (the walk pops the helper's frame), or to the
    one of the call enclosing that call, and so on.
    """
    nodes = nodes if nodes is not None else {node.id: node for node in graph.nodes}
    errors = {edge.source: edge.target for edge in graph.edges if edge.kind == "error"}
    flow: Flow = [
        (edge.source, edge.target, edge.kind) for edge in graph.edges if edge.kind != "compensate"
    ]
    for node in graph.nodes:
        if node.scope is None or node.id in errors or node.kind in _TERMINAL:
            continue
        call: Node | None = nodes[node.scope]
        while call is not None:
            if call.id in errors:
                flow.append((node.id, errors[call.id], "error"))
                break
            call = nodes[call.scope] if call.scope is not None else None
    return flow


def _is_back(nodes: dict[str, Node], source: str, target: str, kind: str) -> bool:
    """The walk advances the loop ``target`` when it arrives so (see ``Walker.run``)."""
    return isinstance(nodes[target], LoopNode) and (kind == "loop" or target in nodes[source].loops)


def _loop_problems(nodes: dict[str, Node], flow: Flow) -> list[str]:
    problems: list[str] = []
    forward = nx.DiGraph()
    forward.add_nodes_from(nodes)
    for source, target, kind in flow:
        before, after = nodes[source], nodes[target]
        grown = (source,) if isinstance(before, LoopNode) and kind == "next" else ()
        base = (*before.loops, *grown)
        if after.loops != base[: len(after.loops)] or (
            kind == "next" and before.kind in ("call", "loop") and after.loops != base
        ):
            problems.append(
                f"{kind} edge {source}->{target} goes from loops {list(before.loops)} "
                f"to loops {list(after.loops)}"
            )
        if not _is_back(nodes, source, target, kind):
            forward.add_edge(source, target)
    if problems:
        return problems
    if not nx.is_directed_acyclic_graph(forward):
        cycle = " -> ".join(source for source, _ in nx.find_cycle(forward))
        problems.append(
            f"nodes {cycle} form a cycle that passes no loop header: the walk would never pause"
        )
    return problems


def _reach_problems(graph: Graph, nodes: dict[str, Node], flow: Flow) -> list[str]:
    following: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for source, target, _ in flow:
        following[source].append(target)
    for edge in graph.edges:
        if edge.kind == "compensate":
            following[edge.source].append(edge.target)
    reached = _reach(following, [graph.entry], lambda node_id: nodes[node_id].kind != "rollback")
    reached |= _reach(following, list(reached), lambda node_id: True)
    return [
        f"{node.kind} node {node.id} (line {node.line}) is unreachable"
        for node in graph.nodes
        if node.id not in reached
    ]


def _reach(following: dict[str, list[str]], roots: Iterable[str], keep: Any) -> set[str]:
    seen = set(roots)
    queue = deque(seen)
    while queue:
        for target in following[queue.popleft()]:
            if target not in seen and keep(target):
                seen.add(target)
                queue.append(target)
    return seen


def _raise_problems(graph: Graph, nodes: dict[str, Node], flow: Flow) -> list[str]:
    """Each re-raise finds the exception it re-raises (see the module docstring)."""
    # A bare raise without ``handling`` re-raises nothing: Python's RuntimeError, as the
    # interpreter raises it (and, in graphs built before ``handling``, the exception
    # its frame caught last).
    raises = [n for n in graph.nodes if isinstance(n, RaiseNode) and n.handling is not None]
    scopes = {node.scope for node in raises}
    regions: dict[str | None, Any] = {scope: nx.DiGraph() for scope in scopes}
    for source, target, kind in flow:
        scope = nodes[target].scope
        if scope not in regions:
            continue
        lifted = _lift(nodes, source, scope)
        if lifted is not None:
            region = regions[scope]
            region.add_edge(lifted, target)
            region.edges[lifted, target].setdefault("kinds", set()).add(kind)
    dominance: dict[str | None, tuple[str, dict[str, str]]] = {}
    for scope, region in regions.items():
        root = graph.entry if scope is None else _body_entry(graph, scope)
        region.add_node(root)
        dominance[scope] = (root, nx.immediate_dominators(region, root))
    problems: list[str] = []
    for node in raises:
        region = regions[node.scope]
        root, dominators = dominance[node.scope]
        chain = _dominators(dominators, root, node.id)
        if node.handling not in chain or not _arrival(region, dominators, root, node.handling):
            problems.append(
                f"raise node {node.id} handles the exception that arrived at {node.handling}, "
                "but no exception always arrives there before it"
            )
    return problems


def _lift(nodes: dict[str, Node], source: str, scope: str | None) -> str | None:
    """``source``, or the call node in ``scope`` whose helper holds it; ``None`` if outside."""
    node = nodes[source]
    while node.scope != scope:
        if node.scope is None:
            return None
        node = nodes[node.scope]
    return node.id


def _body_entry(graph: Graph, call: str) -> str:
    return next(edge.target for edge in graph.edges if edge.source == call and edge.kind == "next")


def _dominators(dominators: dict[str, str], root: str, node_id: str) -> list[str]:
    """``node_id`` and the nodes that dominate it, up to ``root`` (empty: unreachable)."""
    if node_id != root and node_id not in dominators:
        return []
    chain = [node_id]
    # networkx before 3.5 maps the root to itself, later ones leave it out.
    while chain[-1] != root:
        chain.append(dominators[chain[-1]])
    return chain


def _arrival(region: Any, dominators: dict[str, str], root: str, node_id: str) -> bool:
    """Control first reaches ``node_id`` (in a frame) by an ``error`` edge: what it catches is set."""
    kinds = [
        (source, region.edges[source, node_id]["kinds"]) for source in region.predecessors(node_id)
    ]
    if not any("error" in found for _, found in kinds):
        return False
    return all(
        node_id in _dominators(dominators, root, source)
        for source, found in kinds
        if found - {"error"}
    )
