"""Lowering one workflow body (a LibCST function) to graph nodes and edges.

The lowering threads *pending exits* through the statements: a list of
``(node id, edge kind)`` pairs that must be connected to whatever node comes
next. A statement takes the pending exits before it and returns those after
it; a statement that cannot fall through (``return``, ``raise``, ``break``,
``continue``) returns none, and the statements after it, unreachable, are not
lowered. See :mod:`vrb_compile.ir.models` for what the nodes and edges mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import libcst as cst

from ..ir.models import (
    Argument,
    BranchNode,
    CallNode,
    CodeNode,
    ExceptNode,
    LoopNode,
    MapNode,
    NodeBase,
    ParallelBranch,
    ParallelNode,
    Param,
    RaiseNode,
    ReturnNode,
    SignalNode,
    SleepNode,
    StepNode,
)
from .awaits import ConditionalAwait, has_await, hoist_awaits
from .context import Ctx, FinallyFrame, LoopFrame, LoweringError, Resolver, StepLike

__all__ = ["BodyLowerer", "Pending", "params_of", "signal_name", "statements_of"]

Pending = tuple[str, str]
RETURN_TEMP = "_vrb_return"


def statements_of(suite: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of a block (an indented block or a one-line suite)."""
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body)
    assert isinstance(suite, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=suite.body)]


def _redirect(pending: Sequence[Pending], kind: str) -> list[Pending]:
    """Fall-through exits (``next``) become ``kind``; branch and error exits keep theirs."""
    return [(source, kind if edge == "next" else edge) for source, edge in pending]


def params_of(resolver: Resolver, params: cst.Parameters, skip: int = 0) -> list[Param]:
    """The parameters of a function, in order, without the first ``skip`` ones."""
    found: list[Param] = []

    def add(param: cst.Param, kind: str) -> None:
        default = None if param.default is None else resolver.code(param.default)
        found.append(
            Param.model_validate({"name": param.name.value, "kind": kind, "default": default})
        )

    for param in params.posonly_params:
        add(param, "positional_only")
    for param in params.params:
        add(param, "positional_or_keyword")
    if isinstance(params.star_arg, cst.Param):
        add(params.star_arg, "var_positional")
    for param in params.kwonly_params:
        add(param, "keyword_only")
    if params.star_kwarg is not None:
        add(params.star_kwarg, "var_keyword")
    return found[skip:]


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


class BodyLowerer:
    """Lowers the statements of one workflow (and the helpers it inlines).

    Args:
        resolver: Answers what callees are (steps, helpers, ``asyncio.gather``).
        workflow: The workflow name (for error messages).
        path: The source path (for error messages).
        ctx_param: Name of the ``WorkflowContext`` parameter, if any.
    """

    def __init__(self, resolver: Resolver, workflow: str, path: str, ctx_param: str | None) -> None:
        self.resolver = resolver
        self.workflow = workflow
        self.path = path
        self.ctx_param = ctx_param
        self.nodes: list[NodeBase] = []
        self.edges: set[tuple[str, str, str]] = set()
        self.steps: dict[str, StepLike] = {}
        self.body_signals: set[tuple[str, bool]] = set()
        self._temps = 0

    # -- building ------------------------------------------------------------

    def next_id(self) -> str:
        """The id the next node will get."""
        return f"n{len(self.nodes)}"

    def _fail(self, node: cst.CSTNode | tuple[int, int], message: str) -> LoweringError:
        line = node[0] if isinstance(node, tuple) else self.resolver.lines(node)[0]
        return LoweringError(self.path, line, self.workflow, message)

    def connect(self, pending: Sequence[Pending], target: str) -> None:
        """Add an edge from each pending exit to ``target``."""
        for source, kind in pending:
            self.edges.add((source, target, kind))

    def add(
        self,
        node: NodeBase,
        pending: Sequence[Pending],
        ctx: Ctx | None,
        *,
        raises: bool = True,
    ) -> str:
        """Append ``node``, connect ``pending`` to it, register it with the handler."""
        assert node.id == self.next_id()
        self.nodes.append(node)
        self.connect(pending, node.id)
        if raises and ctx is not None and ctx.raisers is not None:
            ctx.raisers.append(node.id)
        return node.id

    def _base(self, lines: tuple[int, int], ctx: Ctx) -> dict[str, object]:
        return {
            "id": self.next_id(),
            "line": lines[0],
            "end_line": lines[1],
            "loops": ctx.loops,
            "scope": ctx.scope,
        }

    def _temp(self) -> str:
        self._temps += 1
        return f"_vrb_t{self._temps}"

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
        return rewritten, pending

    # -- blocks --------------------------------------------------------------

    def lower_block(
        self, statements: Sequence[cst.BaseStatement], pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        """Lower statements in order; returns the pending exits after them."""
        buffer: list[cst.BaseSmallStatement] = []
        for statement in statements:
            if not pending:
                break  # unreachable: the checker reports it; the graph leaves it out
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if not pending:
                        break
                    if self._is_noop(small):
                        continue
                    if self._is_plain(small):
                        buffer.append(small)
                        continue
                    pending = self._flush(buffer, pending, ctx)
                    pending = self.lower_small(small, pending, ctx)
            else:
                pending = self._flush(buffer, pending, ctx)
                pending = self.lower_compound(statement, pending, ctx)
        return self._flush(buffer, pending, ctx)

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
        self, small: cst.BaseSmallStatement, pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        """Lower a control statement or a statement holding an await."""
        lines = self.resolver.lines(small)
        code = self.resolver.code
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

    def _lower_return(
        self, small: cst.Return, lines: tuple[int, int], pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        value = small.value
        text: str | None = None
        if value is not None:
            if isinstance(value, cst.Await) and not has_await(value.expression):
                temp = self._temp()
                pending = self.lower_await(value.expression, temp, lines, pending, ctx)
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

    # -- awaited calls -------------------------------------------------------

    def _arguments(self, args: Sequence[cst.Arg]) -> tuple[Argument, ...]:
        return tuple(
            Argument(
                expr=self.resolver.code(arg.value),
                keyword=None if arg.keyword is None else arg.keyword.value,
                star=arg.star,
            )
            for arg in args
        )

    def _ctx_method(self, func: cst.BaseExpression) -> str | None:
        if (
            self.ctx_param is not None
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == self.ctx_param
        ):
            return func.attr.value
        return None

    def lower_await(
        self,
        awaited: cst.BaseExpression,
        target: str | None,
        lines: tuple[int, int],
        pending: list[Pending],
        ctx: Ctx,
    ) -> list[Pending]:
        """Lower ``target = await awaited`` to one node (or an inlined helper)."""
        if not isinstance(awaited, cst.Call):
            raise self._fail(lines, "only calls of steps, helpers and ctx methods can be awaited")
        func, args = awaited.func, awaited.args
        base = self._base(lines, ctx)
        method = self._ctx_method(func)
        if method == "sleep":
            duration = self._argument(args, 0, "duration", lines, "ctx.sleep")
            node: NodeBase = SleepNode.model_validate({**base, "duration": duration})
        elif method == "wait_for_signal":
            name = str(self._argument(args, 0, "name", lines, "ctx.wait_for_signal"))
            timeout = self._argument(args, 1, "timeout", lines, None)
            self.body_signals.add(signal_name(name))
            node = SignalNode.model_validate(
                {**base, "signal": name, "timeout": timeout, "target": target}
            )
        elif method == "parallel":
            node = ParallelNode.model_validate(
                {**base, "branches": self._branches(args, lines), "target": target}
            )
        elif method is not None:
            raise self._fail(lines, f"ctx.{method}() cannot be awaited in a workflow body")
        elif self.resolver.is_gather(func):
            node = MapNode.model_validate({**base, **self._map(args, lines), "target": target})
        else:
            step = self.resolver.step_for_call(func)
            if step is None:
                helper = self.resolver.helper_for_call(func)
                if helper is None:
                    raise self._fail(
                        lines,
                        f"{self.resolver.code(func)}(...) is not a step, a ctx method or a "
                        "module-local async helper",
                    )
                return self._inline(helper, args, target, lines, pending, ctx)
            self.steps[step.name] = step
            node = StepNode.model_validate(
                {**base, "step": step.name, "args": self._arguments(args), "target": target}
            )
        return [(self.add(node, pending, ctx), "next")]

    def _argument(
        self,
        args: Sequence[cst.Arg],
        index: int,
        keyword: str,
        lines: tuple[int, int],
        required: str | None,
    ) -> str | None:
        for arg in args:
            if arg.keyword is not None and arg.keyword.value == keyword:
                return self.resolver.code(arg.value)
        positional = [arg for arg in args if arg.keyword is None and not arg.star]
        if index < len(positional):
            return self.resolver.code(positional[index].value)
        if required is not None:
            raise self._fail(lines, f"{required}() needs its {keyword!r} argument")
        return None

    def _step_call(
        self, call: cst.BaseExpression, lines: tuple[int, int], what: str
    ) -> tuple[StepLike, tuple[Argument, ...]]:
        if isinstance(call, cst.Await):
            call = call.expression
        step = self.resolver.step_for_call(call.func) if isinstance(call, cst.Call) else None
        if step is None or not isinstance(call, cst.Call):
            raise self._fail(lines, f"each {what} must be a single step call")
        self.steps[step.name] = step
        return step, self._arguments(call.args)

    def _branches(self, args: Sequence[cst.Arg], lines: tuple[int, int]) -> list[ParallelBranch]:
        if len(args) != 1 or not isinstance(args[0].value, cst.List | cst.Tuple):
            raise self._fail(
                lines, "ctx.parallel() takes one list of lambdas: [lambda: step(x), ...]"
            )
        branches: list[ParallelBranch] = []
        for element in args[0].value.elements:
            value = element.value
            if (
                not isinstance(value, cst.Lambda)
                or value.params.params
                or isinstance(element, cst.StarredElement)
            ):
                raise self._fail(
                    lines, "each ctx.parallel() branch must be `lambda: some_step(...)`"
                )
            step, arguments = self._step_call(value.body, lines, "ctx.parallel() branch")
            branches.append(ParallelBranch(step=step.name, args=arguments))
        return branches

    def _map(self, args: Sequence[cst.Arg], lines: tuple[int, int]) -> dict[str, object]:
        usage = "asyncio.gather() lowers only as the map pattern: gather(*(step(x) for x in xs))"
        if len(args) != 1 or args[0].star != "*":
            raise self._fail(lines, usage)
        comp = args[0].value
        if not isinstance(comp, cst.GeneratorExp | cst.ListComp):
            raise self._fail(lines, usage)
        loop = comp.for_in
        if loop.inner_for_in is not None or loop.asynchronous is not None:
            raise self._fail(lines, usage + " with a single for clause")
        step, arguments = self._step_call(comp.elt, lines, "gathered call")
        code = self.resolver.code
        return {
            "step": step.name,
            "args": arguments,
            "item": code(loop.target),
            "iter": code(loop.iter),
            "ifs": tuple(code(cond.test) for cond in loop.ifs),
        }

    def _inline(
        self,
        helper: cst.FunctionDef,
        args: Sequence[cst.Arg],
        target: str | None,
        lines: tuple[int, int],
        pending: list[Pending],
        ctx: Ctx,
    ) -> list[Pending]:
        name = helper.name.value
        if helper.asynchronous is None:
            raise self._fail(lines, f"{name}() is not an async def: only async helpers are inlined")
        if name in ctx.helpers:
            chain = " -> ".join((*ctx.helpers, name))
            raise self._fail(lines, f"recursive helper calls cannot be inlined ({chain})")
        node = CallNode.model_validate(
            {
                **self._base(lines, ctx),
                "helper": name,
                "module": self.resolver.helper_module(helper),
                "params": params_of(self.resolver, helper.params),
                "args": self._arguments(args),
                "target": target,
            }
        )
        call_id = self.add(node, pending, ctx)
        returns: list[Pending] = []
        inner = Ctx(
            scope=call_id,
            loops=ctx.loops,
            loop=None,
            raisers=ctx.raisers,
            finallys=(),
            returns=returns,
            helpers=(*ctx.helpers, name),
        )
        out = self.lower_block(statements_of(helper.body), [(call_id, "next")], inner)
        if out:
            end = self.resolver.lines(helper)[1]
            implicit = ReturnNode.model_validate({**self._base((end, end), inner), "value": None})
            returns.append((self.add(implicit, out, inner, raises=False), "next"))
        return returns

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
        test = statement.test
        if has_await(test):
            rewritten, pending = self._hoist(test, lines, pending, ctx)
            assert isinstance(rewritten, cst.BaseExpression)
            test = rewritten
        node = BranchNode.model_validate(
            {**self._base(lines, ctx), "test": self.resolver.code(test)}
        )
        branch = self.add(node, pending, ctx)
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


def signal_name(expr: str) -> tuple[str, bool]:
    """The literal name of a signal expression, or its source when it is not a literal."""
    try:
        node = cst.parse_expression(expr)
    except cst.ParserSyntaxError:
        return expr, False
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        if isinstance(value, str):
            return value, True
    return expr, False
