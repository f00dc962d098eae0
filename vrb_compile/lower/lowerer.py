"""Lowering one workflow body (a LibCST function) to graph nodes and edges.

The lowering threads *pending exits* through the statements: a list of
``(node id, edge kind)`` pairs that must be connected to whatever node comes
next. A statement takes the pending exits before it and returns those after
it; a statement that cannot fall through (``return``, ``raise``, ``break``,
``continue``) returns none, and the statements after it, unreachable, are not
lowered: where they start is collected in ``unreachable`` (``build`` reports
them as VRB306). Awaited calls are lowered by :class:`.calls.CallLowerer`. See
:mod:`vrb_compile.ir.models` for what the nodes and edges mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

import libcst as cst

from ..ir.models import (
    BranchNode,
    CodeNode,
    ExceptNode,
    LoopNode,
    RaiseNode,
    ReturnNode,
)
from .awaits import ConditionalAwait, has_await, hoist_awaits
from .calls import CallLowerer, Pending, params_of, signal_name, statements_of
from .context import Ctx, FinallyFrame, LoopFrame

__all__ = ["BodyLowerer", "Pending", "params_of", "signal_name", "statements_of"]

_S = TypeVar("_S", bound=cst.CSTNode)
RETURN_TEMP = "_vrb_return"


class _NoWayOn(Exception):
    """An await hoisted out of a statement never returns (an inlined helper that
    always raises): the rest of the statement, and what follows it, is unreachable."""


def _redirect(pending: Sequence[Pending], kind: str) -> list[Pending]:
    """Fall-through exits (``next``) become ``kind``; branch and error exits keep theirs."""
    return [(source, kind if edge == "next" else edge) for source, edge in pending]


def _bound_names(node: cst.CSTNode) -> set[str]:
    """Names a statement binds: assignment targets, walrus, imports, ``del``."""
    names: set[str] = set()

    def targets(target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            names.add(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                targets(element.value)
        elif isinstance(target, cst.StarredElement):
            targets(target.value)

    class Finder(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            targets(node.target)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            targets(node.target)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            targets(node.target)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            targets(node.target)

        def visit_ImportAlias(self, node: cst.ImportAlias) -> bool:
            if node.asname is not None and isinstance(node.asname.name, cst.Name):
                names.add(node.asname.name.value)
            else:
                names.add(cst.Module([]).code_for_node(node.name).split(".")[0])
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    node.visit(Finder())
    return names


class BodyLowerer(CallLowerer):
    """Lowers the statements of one workflow (and of the helpers it inlines)."""

    def _hoist(
        self, node: cst.CSTNode, lines: tuple[int, int], pending: list[Pending], ctx: Ctx
    ) -> tuple[cst.CSTNode, list[Pending]]:
        try:
            rewritten, found = hoist_awaits(node, self._temp)
        except ConditionalAwait as error:
            raise self._fail(
                lines,
                f"an await inside {error.construct} cannot become a graph node; "
                "await the step in a statement of its own first",
            ) from None
        for awaited, temp in found:
            pending = self.lower_await(awaited, temp, lines, pending, ctx)
            if not pending:
                raise _NoWayOn
        return rewritten, pending

    # -- blocks --------------------------------------------------------------

    def lower_block(
        self, statements: Sequence[cst.BaseStatement], pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        """Lower statements in order; returns the pending exits after them."""
        buffer: list[cst.BaseSmallStatement] = []
        # A block entered with no pending exit (a finally block's normal-path copy
        # after a body that always returns) is reached another way: not dead code.
        entered = bool(pending)
        for statement in statements:
            if not pending:
                # Unreachable: left out of the graph, reported as VRB306.
                if entered:
                    self.unreachable.append(self.resolver.span(statement))
                break
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if not pending:
                        self.unreachable.append(self.resolver.span(small))
                        break
                    if self._is_noop(small):
                        continue
                    if self._is_plain(small):
                        buffer.append(small)
                        continue
                    pending = self._flush(buffer, pending, ctx)
                    pending = self._guarded(self.lower_small, small, pending, ctx)
            else:
                pending = self._flush(buffer, pending, ctx)
                pending = self._guarded(self.lower_compound, statement, pending, ctx)
        return self._flush(buffer, pending, ctx)

    @staticmethod
    def _guarded(
        lower: Callable[[_S, list[Pending], Ctx], list[Pending]],
        statement: _S,
        pending: list[Pending],
        ctx: Ctx,
    ) -> list[Pending]:
        try:
            return lower(statement, pending, ctx)
        except _NoWayOn:
            return []

    @staticmethod
    def _is_noop(small: cst.BaseSmallStatement) -> bool:
        if isinstance(small, cst.Pass):
            return True
        return isinstance(small, cst.Expr) and isinstance(
            small.value, cst.SimpleString | cst.ConcatenatedString | cst.Ellipsis
        )

    @staticmethod
    def _is_plain(small: cst.BaseSmallStatement) -> bool:
        control = cst.Return | cst.Raise | cst.Break | cst.Continue | cst.Global | cst.Nonlocal
        return not isinstance(small, control) and not has_await(small)

    def _flush(
        self, buffer: list[cst.BaseSmallStatement], pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        if not buffer:
            return pending
        code = "\n".join(
            self.resolver.code(small.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)).strip()
            for small in buffer
        )
        names: set[str] = set()
        for small in buffer:
            names |= _bound_names(small)
        lines = (self.resolver.lines(buffer[0])[0], self.resolver.lines(buffer[-1])[1])
        node = CodeNode.model_validate(
            {**self._base(lines, ctx), "code": code, "assigns": tuple(sorted(names))}
        )
        buffer.clear()
        return [(self.add(node, pending, ctx), "next")]

    def _code_node(
        self, code: str, lines: tuple[int, int], pending: list[Pending], ctx: Ctx, names: set[str]
    ) -> list[Pending]:
        node = CodeNode.model_validate(
            {
                **self._base(lines, ctx),
                "code": code,
                "assigns": tuple(sorted(names)),
                "rewritten": True,
            }
        )
        return [(self.add(node, pending, ctx), "next")]

    # -- simple statements ---------------------------------------------------

    def lower_small(
        self,
        small: cst.BaseSmallStatement,
        pending: list[Pending],
        ctx: Ctx,
        lines: tuple[int, int] | None = None,
    ) -> list[Pending]:
        """Lower a control statement or a statement holding an await.

        ``lines`` are those of the source statement ``small`` was rewritten from
        (a branch of a conditional expression); by default, those of ``small``.
        """
        lines = self.resolver.lines(small) if lines is None else lines
        code = self.resolver.code
        branched = self._lower_conditional(small, lines, pending, ctx)
        if branched is not None:
            return branched
        if isinstance(small, cst.Global | cst.Nonlocal):
            raise self._fail(small, "global/nonlocal is not allowed in a workflow body")
        if isinstance(small, cst.Break | cst.Continue):
            loop = ctx.loop
            if loop is None:
                raise self._fail(small, "break/continue outside a loop")
            pending, _ = self._unwind(pending, ctx, loop.finally_depth)
            if isinstance(small, cst.Break):
                loop.breaks.extend(_redirect(pending, "exit"))
            else:
                self.connect(_redirect(pending, "loop"), loop.loop_id)
            return []
        if isinstance(small, cst.Return):
            return self._lower_return(small, lines, pending, ctx)
        if isinstance(small, cst.Raise):
            exc, cause = small.exc, small.cause.item if small.cause is not None else None
            if exc is not None and has_await(exc):
                rewritten, pending = self._hoist(exc, lines, pending, ctx)
                assert isinstance(rewritten, cst.BaseExpression)
                exc = rewritten
            if cause is not None and has_await(cause):
                rewritten, pending = self._hoist(cause, lines, pending, ctx)
                assert isinstance(rewritten, cst.BaseExpression)
                cause = rewritten
            node = RaiseNode.model_validate(
                {
                    **self._base(lines, ctx),
                    "exc": None if exc is None else code(exc),
                    "cause": None if cause is None else code(cause),
                    "handling": ctx.handling,
                }
            )
            self.add(node, pending, ctx)
            return []
        # A statement whose whole value is one awaited call binds it directly.
        target: str | None = None
        value: cst.BaseExpression | None = None
        if isinstance(small, cst.Expr):
            value = small.value
        elif isinstance(small, cst.Assign):
            target = " = ".join(code(t.target) for t in small.targets)
            value = small.value
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target = code(small.target)
            value = small.value
        if (
            isinstance(value, cst.Await)
            and not value.lpar
            and not has_await(value.expression)
            and all(not has_await(t.target) for t in getattr(small, "targets", ()))
        ):
            return self.lower_await(value.expression, target, lines, pending, ctx)
        rewritten, pending = self._hoist(small, lines, pending, ctx)
        assert isinstance(rewritten, cst.BaseSmallStatement)
        text = code(rewritten.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)).strip()
        return self._code_node(text, lines, pending, ctx, _bound_names(rewritten))

    def _branch(
        self, test: cst.BaseExpression, lines: tuple[int, int], pending: list[Pending], ctx: Ctx
    ) -> str:
        """A branch node on ``test``, after the steps its awaits hoist out of it."""
        if has_await(test):
            rewritten, pending = self._hoist(test, lines, pending, ctx)
            assert isinstance(rewritten, cst.BaseExpression)
            test = rewritten
        node = BranchNode.model_validate(
            {**self._base(lines, ctx), "test": self.resolver.code(test)}
        )
        return self.add(node, pending, ctx)

    def _lower_conditional(
        self,
        small: cst.BaseSmallStatement,
        lines: tuple[int, int],
        pending: list[Pending],
        ctx: Ctx,
    ) -> list[Pending] | None:
        """``x = A if c else B`` (``x += ...``, ``return ...``, an expression statement)
        with an await in ``A`` or ``B``: a branch node on ``c``, then ``x = A`` or ``x = B``."""
        if not isinstance(
            small, cst.Expr | cst.Assign | cst.AnnAssign | cst.AugAssign | cst.Return
        ):
            return None
        value = small.value
        if not isinstance(value, cst.IfExp) or not (
            has_await(value.body) or has_await(value.orelse)
        ):
            return None
        if isinstance(small, cst.Assign) and any(has_await(t.target) for t in small.targets):
            return None
        branch = self._branch(value.test, lines, pending, ctx)
        out: list[Pending] = []
        for kind, part in (("true", value.body), ("false", value.orelse)):
            statement = small.with_changes(value=part)
            try:
                out += self.lower_small(statement, [(branch, kind)], ctx, lines)
            except _NoWayOn:
                continue
        return out

    def _lower_return(
        self, small: cst.Return, lines: tuple[int, int], pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        value = small.value
        text: str | None = None
        if value is not None:
            if isinstance(value, cst.Await) and not has_await(value.expression):
                temp = self._temp()
                pending = self.lower_await(value.expression, temp, lines, pending, ctx)
                if not pending:
                    return []
                text = temp
            else:
                rewritten, pending = self._hoist(value, lines, pending, ctx)
                assert isinstance(rewritten, cst.BaseExpression)
                text = self.resolver.code(rewritten)
        if ctx.finallys:
            if text is not None:
                pending = self._code_node(
                    f"{RETURN_TEMP} = {text}", lines, pending, ctx, {RETURN_TEMP}
                )
                text = RETURN_TEMP
            pending, ctx = self._unwind(pending, ctx, 0)
            if not pending:
                return []
        node = ReturnNode.model_validate({**self._base(lines, ctx), "value": text})
        node_id = self.add(node, pending, ctx, raises=text is not None)
        ctx.returns.append((node_id, "next"))
        return []

    def _unwind(self, pending: list[Pending], ctx: Ctx, depth: int) -> tuple[list[Pending], Ctx]:
        """Run copies of the ``finally`` blocks a jump leaves, innermost first."""
        while len(ctx.finallys) > depth and pending:
            frame = ctx.finallys[-1]
            pending = self.lower_block(statements_of(frame.body), pending, frame.outer)
            ctx = frame.outer
        return pending, ctx

    # -- compound statements -------------------------------------------------

    def lower_compound(
        self, statement: cst.BaseStatement, pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        """Lower ``if``, ``for``, ``while`` and ``try``; refuse the rest."""
        if isinstance(statement, cst.If):
            return self._lower_if(statement, pending, ctx)
        if isinstance(statement, cst.For):
            return self._lower_for(statement, pending, ctx)
        if isinstance(statement, cst.While):
            return self._lower_while(statement, pending, ctx)
        if isinstance(statement, cst.Try):
            return self._lower_try(statement, pending, ctx)
        kind = type(statement).__name__
        hints = {
            "With": "a with statement cannot be replayed; move it into a step",
            "FunctionDef": "define functions at module level (or as steps), not in the body",
            "ClassDef": "define classes at module level, not in the body",
            "Match": "use if/elif instead of match",
            "TryStar": "use try/except instead of except*",
        }
        raise self._fail(statement, hints.get(kind, f"{kind} is not supported in a workflow body"))

    def _header(self, statement: cst.CSTNode) -> tuple[int, int]:
        line = self.resolver.lines(statement)[0]
        return (line, line)

    def _lower_if(self, statement: cst.If, pending: list[Pending], ctx: Ctx) -> list[Pending]:
        lines = self._header(statement)
        branch = self._branch(statement.test, lines, pending, ctx)
        out = self.lower_block(statements_of(statement.body), [(branch, "true")], ctx)
        orelse = statement.orelse
        if isinstance(orelse, cst.If):
            out += self._lower_if(orelse, [(branch, "false")], ctx)
        elif isinstance(orelse, cst.Else):
            out += self.lower_block(statements_of(orelse.body), [(branch, "false")], ctx)
        else:
            out.append((branch, "false"))
        return out

    def _loop_body(self, statement: cst.For | cst.While, loop_id: str, ctx: Ctx) -> list[Pending]:
        frame = LoopFrame(loop_id, len(ctx.finallys))
        inner = replace(ctx, loops=(*ctx.loops, loop_id), loop=frame)
        out = self.lower_block(statements_of(statement.body), [(loop_id, "next")], inner)
        self.connect(_redirect(out, "loop"), loop_id)
        after: list[Pending] = [(loop_id, "exit")]
        if statement.orelse is not None:
            after = self.lower_block(statements_of(statement.orelse.body), after, ctx)
        return after + frame.breaks

    def _lower_for(self, statement: cst.For, pending: list[Pending], ctx: Ctx) -> list[Pending]:
        lines = self._header(statement)
        if statement.asynchronous is not None:
            raise self._fail(statement, "async for is not supported in a workflow body")
        iterable = statement.iter
        if has_await(iterable):
            rewritten, pending = self._hoist(iterable, lines, pending, ctx)
            assert isinstance(rewritten, cst.BaseExpression)
            iterable = rewritten
        code = self.resolver.code
        node = LoopNode.model_validate(
            {
                **self._base(lines, ctx),
                "loop": "for",
                "target": code(statement.target),
                "iter": code(iterable),
                "test": None,
            }
        )
        return self._loop_body(statement, self.add(node, pending, ctx), ctx)

    def _lower_while(self, statement: cst.While, pending: list[Pending], ctx: Ctx) -> list[Pending]:
        lines = self._header(statement)
        if has_await(statement.test):
            raise self._fail(
                statement,
                "an await in a while test cannot become a graph node; write "
                "`while True:` and await the step at the top of the body, then `break`",
            )
        node = LoopNode.model_validate(
            {
                **self._base(lines, ctx),
                "loop": "while",
                "target": None,
                "iter": None,
                "test": self.resolver.code(statement.test),
            }
        )
        return self._loop_body(statement, self.add(node, pending, ctx), ctx)

    def _lower_try(self, statement: cst.Try, pending: list[Pending], ctx: Ctx) -> list[Pending]:
        finally_frame = (
            FinallyFrame(statement.finalbody.body, ctx) if statement.finalbody is not None else None
        )
        finallys = ctx.finallys if finally_frame is None else (*ctx.finallys, finally_frame)
        # Exceptions escaping the handlers (or the else block) go to the finally copy.
        escaping: list[str] | None = [] if finally_frame is not None else ctx.raisers
        outer = replace(ctx, raisers=escaping, finallys=finallys)
        body_raisers: list[str] = (
            [] if statement.handlers else (escaping if escaping is not None else [])
        )
        body_ctx = replace(outer, raisers=body_raisers)
        out = self.lower_block(statements_of(statement.body), pending, body_ctx)
        if statement.orelse is not None:
            if not out and pending:
                # The body never completes normally: its else block cannot run.
                self.unreachable.append(self.resolver.span(statement.orelse))
            out = self.lower_block(statements_of(statement.orelse.body), out, outer)
        if statement.handlers and body_raisers:
            incoming: list[Pending] = [(source, "error") for source in body_raisers]
            handling = replace(outer, handling=self.next_id())
            for handler in statement.handlers:
                lines = self._header(handler)
                node = ExceptNode.model_validate(
                    {
                        **self._base(lines, outer),
                        "type": None if handler.type is None else self.resolver.code(handler.type),
                        "name": None
                        if handler.name is None
                        else self.resolver.code(handler.name.name),
                    }
                )
                clause = self.add(node, incoming, outer)
                out += self.lower_block(statements_of(handler.body), [(clause, "true")], handling)
                incoming = [(clause, "false")]
            reraise = RaiseNode.model_validate(
                {
                    **self._base(self._header(statement.handlers[-1]), outer),
                    "exc": None,
                    "handling": handling.handling,
                }
            )
            self.add(reraise, incoming, outer)
        if finally_frame is None:
            return out
        # The normal way out, then the exceptional one (ending in a bare raise).
        out = self.lower_block(statements_of(finally_frame.body), out, ctx)
        if escaping:
            incoming = [(source, "error") for source in escaping]
            # The copy's first node is where the escaping exception arrives: the
            # copy handles it (a bare raise inside re-raises it, and so does its
            # end) even when a try nested in the finally catches another one.
            entry_id = self.next_id()
            handling = replace(ctx, handling=entry_id)
            after = self.lower_block(statements_of(finally_frame.body), incoming, handling)
            if after:
                lines = self._header(statement.finalbody) if statement.finalbody else (1, 1)
                reraise = RaiseNode.model_validate(
                    {**self._base(lines, ctx), "exc": None, "handling": handling.handling}
                )
                self.add(reraise, after, ctx)
            if len(self.nodes) > int(entry_id[1:]):
                entry = {t for source, t, kind in self.edges if (source, kind) == incoming[0]}
                assert entry == {entry_id}, (entry, entry_id)
            # else the copy starts with a break or continue: as in Python, the jump
            # discards the exception, and the error edges lead straight to its target.
        return out
