"""Which statements of a body can run: the checker's side of VRB306 (unreachable code).

A statement that cannot complete normally (``return``, ``raise``, ``break``,
``continue``; an ``if`` whose every branch ends that way; a ``try`` whose body
and handlers, or whose ``finally``, never complete; a loop whose ``else`` never
completes and that has no ``break``; a ``while True`` loop without ``break``)
leaves the statements after it in its block unreachable. The lowering applies
the same rules when it builds the step graph (a statement with no pending exit
is left out of the graph; see :mod:`vrb_compile.lower.lowerer`), so what the
checker reports here is what the graph leaves out. One exception: code after
``while True:`` with no ``break`` is reported but still lowered (the loop
node keeps its ``exit`` edge).

Pure functions of the CST; no scope or name resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

__all__ = ["DeadCode", "block_completes", "completes", "first_dead", "statements"]

_JUMPS = (cst.Return, cst.Raise, cst.Break, cst.Continue)
_JUMP_NAMES = {
    cst.Return: "return",
    cst.Raise: "raise",
    cst.Break: "break",
    cst.Continue: "continue",
}


@dataclass(frozen=True)
class DeadCode:
    """The first unreachable statement of a block, and why it cannot run.

    Attributes:
        node: The statement (a small statement when it follows a jump on the same line).
        reason: Why, completing "this code can never run: ...".
    """

    node: cst.CSTNode
    reason: str


def statements(suite: cst.BaseSuite | Sequence[cst.CSTNode]) -> Sequence[cst.CSTNode]:
    """The statements of a block (small statements for a one-line suite)."""
    if isinstance(suite, cst.IndentedBlock):
        return suite.body
    if isinstance(suite, cst.SimpleStatementSuite):
        return suite.body
    assert not isinstance(suite, cst.BaseSuite)
    return suite


def _constant_true(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "True"
    if isinstance(test, cst.Integer):
        return test.evaluated_value != 0
    return False


def _has_break(body: Sequence[cst.CSTNode]) -> bool:
    """Whether a loop body holds a ``break`` of that loop (not of a nested one)."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            if any(isinstance(small, cst.Break) for small in stmt.body):
                return True
        elif isinstance(stmt, cst.Break):
            return True
        elif isinstance(stmt, cst.For | cst.While):
            # a break in a nested loop's body is that loop's; its else is ours
            if stmt.orelse is not None and _has_break(statements(stmt.orelse.body)):
                return True
        elif isinstance(stmt, cst.If | cst.Try | cst.With | cst.Match | cst.TryStar) and any(
            _has_break(block) for block in _blocks(stmt)
        ):
            return True
    return False


def _blocks(stmt: cst.CSTNode) -> list[Sequence[cst.CSTNode]]:
    """The blocks of a compound statement (function and class bodies excluded)."""
    found: list[Sequence[cst.CSTNode]] = []
    if isinstance(stmt, cst.If):
        found.append(statements(stmt.body))
        if isinstance(stmt.orelse, cst.If):
            found.append([stmt.orelse])
        elif stmt.orelse is not None:
            found.append(statements(stmt.orelse.body))
    elif isinstance(stmt, cst.Try | cst.TryStar):
        found.append(statements(stmt.body))
        found.extend(statements(handler.body) for handler in stmt.handlers)
        if stmt.orelse is not None:
            found.append(statements(stmt.orelse.body))
        if stmt.finalbody is not None:
            found.append(statements(stmt.finalbody.body))
    elif isinstance(stmt, cst.With):
        found.append(statements(stmt.body))
    elif isinstance(stmt, cst.Match):
        found.extend(statements(case.body) for case in stmt.cases)
    return found


def completes(stmt: cst.CSTNode) -> bool:
    """Whether control can fall off the end of ``stmt`` to the statement after it."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return not any(isinstance(small, _JUMPS) for small in stmt.body)
    if isinstance(stmt, _JUMPS):
        return False
    if isinstance(stmt, cst.If):
        if stmt.orelse is None:
            return True
        if isinstance(stmt.orelse, cst.If):
            return block_completes(statements(stmt.body)) or completes(stmt.orelse)
        return block_completes(statements(stmt.body)) or block_completes(
            statements(stmt.orelse.body)
        )
    if isinstance(stmt, cst.For | cst.While):
        body = statements(stmt.body)
        if isinstance(stmt, cst.While) and _constant_true(stmt.test):
            return _has_break(body)
        if stmt.orelse is None:
            return True
        return block_completes(statements(stmt.orelse.body)) or _has_break(body)
    if isinstance(stmt, cst.Try):
        body = statements(stmt.body)
        normal = block_completes(body) and (
            stmt.orelse is None or block_completes(statements(stmt.orelse.body))
        )
        # Handlers are reached only from a body that can raise (the lowering
        # draws no error edge from a body of ``pass`` and bare ``return``).
        handled = _can_raise(body) and any(
            block_completes(statements(handler.body)) for handler in stmt.handlers
        )
        if stmt.finalbody is not None and not block_completes(statements(stmt.finalbody.body)):
            return False
        return normal or handled
    return True


def block_completes(stmts: Sequence[cst.CSTNode]) -> bool:
    """Whether control can fall off the end of a block."""
    return all(completes(stmt) for stmt in stmts)


def _silent(small: cst.CSTNode) -> bool:
    """A small statement that gives no graph node that could raise."""
    if isinstance(small, cst.Pass | cst.Break | cst.Continue):
        return True
    if isinstance(small, cst.Return):
        return small.value is None
    return isinstance(small, cst.Expr) and isinstance(
        small.value, cst.SimpleString | cst.ConcatenatedString | cst.Ellipsis
    )


def _can_raise(stmts: Sequence[cst.CSTNode]) -> bool:
    """Whether a block (up to where it stops completing) holds anything that can raise."""
    for stmt in stmts:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if not _silent(small):
                    return True
                if isinstance(small, _JUMPS):
                    return False
        elif isinstance(stmt, cst.BaseSmallStatement):
            if not _silent(stmt):
                return True
            if isinstance(stmt, _JUMPS):
                return False
        elif isinstance(stmt, cst.Try):
            if any(
                _can_raise(block)
                for block in (
                    statements(stmt.body),
                    statements(stmt.orelse.body) if stmt.orelse else (),
                    statements(stmt.finalbody.body) if stmt.finalbody else (),
                )
            ):
                return True
        else:
            return True  # a branch or loop node evaluates an expression
        if not completes(stmt):
            return False
    return False


def _why(stmt: cst.CSTNode) -> str:
    if isinstance(stmt, cst.SimpleStatementLine):
        jump = next(small for small in stmt.body if isinstance(small, _JUMPS))
        return f"it follows a `{_JUMP_NAMES[type(jump)]}`"
    if isinstance(stmt, _JUMPS):
        return f"it follows a `{_JUMP_NAMES[type(stmt)]}`"
    if (
        isinstance(stmt, cst.While)
        and _constant_true(stmt.test)
        and not _has_break(statements(stmt.body))
    ):
        return "the `while True` loop before it has no `break`"
    kind = {cst.If: "`if`", cst.For: "`for` loop", cst.While: "`while` loop", cst.Try: "`try`"}
    what = kind.get(type(stmt), "statement")
    return f"every way through the {what} before it ends in a return, raise, break or continue"


def first_dead(stmts: Sequence[cst.CSTNode]) -> DeadCode | None:
    """The first statement of a block that can never run, if any."""
    for index, stmt in enumerate(stmts):
        if isinstance(stmt, cst.SimpleStatementLine):
            for position, small in enumerate(stmt.body[:-1]):
                if isinstance(small, _JUMPS):
                    return DeadCode(stmt.body[position + 1], _why(small))
        if not completes(stmt) and index + 1 < len(stmts):
            return DeadCode(stmts[index + 1], _why(stmt))
    return None
