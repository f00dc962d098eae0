"""Pulling awaited calls out of expressions.

``x = f(await s(a)) + 1`` becomes a step node binding ``_vrb_t1`` followed by
the rewritten statement ``x = f(_vrb_t1) + 1``: the graph needs each awaited
call as a node of its own, in evaluation order (inner awaits first, then left
to right). Awaits whose evaluation is conditional or deferred (inside ``a if c
else b``, ``and``/``or``, a lambda or a comprehension) cannot be hoisted
without changing what runs, so they are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

__all__ = ["ConditionalAwait", "has_await", "hoist_awaits"]


class ConditionalAwait(Exception):
    """An await sits where hoisting it would change when (or whether) it runs."""

    def __init__(self, construct: str) -> None:
        self.construct = construct
        super().__init__(construct)


class _AwaitFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Await(self, node: cst.Await) -> bool:
        self.found = True
        return False


def has_await(node: cst.CSTNode) -> bool:
    """Whether ``node`` contains an ``await`` anywhere."""
    finder = _AwaitFinder()
    node.visit(finder)
    return finder.found


_DEFERRING: dict[type[cst.CSTNode], str] = {
    cst.Lambda: "a lambda",
    cst.ListComp: "a comprehension",
    cst.SetComp: "a comprehension",
    cst.DictComp: "a comprehension",
    cst.GeneratorExp: "a generator expression",
    cst.IfExp: "a conditional expression",
    cst.BooleanOperation: "an and/or expression",
}


class _Hoister(cst.CSTTransformer):
    def __init__(self, new_temp: Callable[[], str]) -> None:
        self.new_temp = new_temp
        self.found: list[tuple[cst.BaseExpression, str]] = []
        self.deferring: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        construct = _DEFERRING.get(type(node))
        if construct is not None:
            self.deferring.append(construct)
        return super().on_visit(node)

    def on_leave(  # type: ignore[override]  # libcst's generic signature is not expressible here
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        if type(original_node) in _DEFERRING:
            self.deferring.pop()
        return super().on_leave(original_node, updated_node)

    def leave_Await(self, original_node: cst.Await, updated_node: cst.Await) -> cst.BaseExpression:
        if self.deferring:
            raise ConditionalAwait(self.deferring[-1])
        name = self.new_temp()
        self.found.append((updated_node.expression, name))
        return cst.Name(name, lpar=updated_node.lpar, rpar=updated_node.rpar)


def hoist_awaits(
    node: cst.CSTNode, new_temp: Callable[[], str]
) -> tuple[cst.CSTNode, list[tuple[cst.BaseExpression, str]]]:
    """Replace every ``await X`` in ``node`` by a fresh temporary name.

    Args:
        node: A statement or expression.
        new_temp: Returns a fresh, unused name on each call.

    Returns:
        The rewritten node and, in evaluation order, each awaited expression
        with the temporary that now stands for its value.

    Raises:
        ConditionalAwait: An await is inside a lambda, comprehension,
            conditional expression or ``and``/``or``.
    """
    hoister = _Hoister(new_temp)
    rewritten = node.visit(hoister)
    # An expression that is itself an await comes back as a Name.
    assert isinstance(rewritten, cst.CSTNode)
    return rewritten, hoister.found
