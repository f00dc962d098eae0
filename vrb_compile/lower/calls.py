"""Lowering awaited calls: steps, ctx methods, ``ctx.parallel``, the gather map, helpers.

:class:`CallLowerer` holds the graph being built (nodes, edges, steps) and turns
each awaited call into its node, or inlines an async helper; the statements
around the calls are :class:`.lowerer.BodyLowerer`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ..ir.models import (
    Argument,
    CallNode,
    MapNode,
    NodeBase,
    ParallelBranch,
    ParallelNode,
    Param,
    ReturnNode,
    SignalNode,
    SleepNode,
    StepNode,
)
from .context import Ctx, LoweringError, Resolver, Span, StepLike

__all__ = ["CallLowerer", "Pending", "params_of", "signal_name", "statements_of"]

Pending = tuple[str, str]


def statements_of(suite: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of a block (an indented block or a one-line suite)."""
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body)
    assert isinstance(suite, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=suite.body)]


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


class CallLowerer:
    """Builds the nodes and edges of one workflow graph; lowers its awaited calls.

    Args:
        resolver: Answers what callees are (steps, helpers, ``asyncio.gather``).
        workflow: The workflow name (for error messages).
        path: The source path (for error messages).
    """

    def __init__(self, resolver: Resolver, workflow: str, path: str) -> None:
        self.resolver = resolver
        self.workflow = workflow
        self.path = path
        self.nodes: list[NodeBase] = []
        self.edges: set[tuple[str, str, str]] = set()
        self.steps: dict[str, StepLike] = {}
        self.body_signals: set[tuple[str, bool]] = set()
        self.unreachable: list[Span] = []
        self._temps = 0

    def lower_block(
        self, statements: Sequence[cst.BaseStatement], pending: list[Pending], ctx: Ctx
    ) -> list[Pending]:
        """Lower statements in order (an inlined helper's body); see the subclass."""
        raise NotImplementedError

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

    @staticmethod
    def _ctx_method(func: cst.BaseExpression, ctx: Ctx) -> str | None:
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value in ctx.ctx_names
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
        method = self._ctx_method(func, ctx)
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
        clauses: list[cst.CompFor] = []
        clause: cst.CompFor | None = loop
        while clause is not None:
            if clause.asynchronous is not None:
                raise self._fail(lines, usage + " with `for`, not `async for`")
            clauses.append(clause)
            clause = clause.inner_for_in
        step, arguments = self._step_call(comp.elt, lines, "gathered call")
        code = self.resolver.code
        if len(clauses) == 1:
            return {
                "step": step.name,
                "args": arguments,
                "item": code(loop.target),
                "iter": code(loop.iter),
                "ifs": tuple(code(cond.test) for cond in loop.ifs),
            }
        # Several for clauses: one item per combination, the targets bound together;
        # the items are those of the comprehension, clauses and ifs as written.
        targets = [code(c.target).strip() for c in clauses]
        item = ", ".join(t if t.isidentifier() else f"({t})" for t in targets)
        return {
            "step": step.name,
            "args": arguments,
            "item": item,
            "iter": f"[({item}) {code(loop).strip()}]",
            "ifs": (),
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
        owner = self.resolver.helper_class(helper)
        name = helper.name.value if owner is None else f"{owner}.{helper.name.value}"
        if helper.asynchronous is None:
            raise self._fail(lines, f"{name}() is not an async def: only async helpers are inlined")
        if name in ctx.helpers:
            chain = " -> ".join((*ctx.helpers, name))
            raise self._fail(lines, f"recursive helper calls cannot be inlined ({chain})")
        arguments = self._arguments(args)
        if owner is not None:
            # ``self.m(x)`` calls ``m(self, x)``: bind the method's first parameter to
            # the instance (``cls`` to its class), as Python's method binding does.
            decorators = {self.resolver.code(d.decorator).strip() for d in helper.decorators}
            if "classmethod" in decorators:
                arguments = (Argument(expr="type(self)"), *arguments)
            elif "staticmethod" not in decorators:
                arguments = (Argument(expr="self"), *arguments)
        node = CallNode.model_validate(
            {
                **self._base(lines, ctx),
                "helper": name,
                "module": self.resolver.helper_module(helper),
                "params": params_of(self.resolver, helper.params),
                "args": arguments,
                "target": target,
            }
        )
        call_id = self.add(node, pending, ctx)
        returns: list[Pending] = []
        inner = Ctx(
            scope=call_id,
            loops=ctx.loops,
            loop=None,
            # An exception leaving the helper pops its frame first: the interpreter
            # then follows the call node's own error edge, in the caller's frame.
            raisers=None,
            finallys=(),
            returns=returns,
            helpers=(*ctx.helpers, name),
            ctx_names=self._ctx_params(node, ctx),
        )
        with self.resolver.inside(helper):
            out = self.lower_block(statements_of(helper.body), [(call_id, "next")], inner)
        if out:
            end = self.resolver.lines(helper)[1]
            implicit = ReturnNode.model_validate({**self._base((end, end), inner), "value": None})
            returns.append((self.add(implicit, out, inner, raises=False), "next"))
        return returns

    @staticmethod
    def _ctx_params(call: CallNode, ctx: Ctx) -> frozenset[str]:
        """The helper's parameters the caller passes its ctx to (they are the ctx)."""
        positional = [p.name for p in call.params if p.kind.startswith("positional")]
        found: set[str] = set()
        for index, arg in enumerate(call.args):
            if arg.expr not in ctx.ctx_names or arg.star:
                continue
            if arg.keyword is not None:
                found.add(arg.keyword)
            elif index < len(positional):
                found.add(positional[index])
        return frozenset(found)


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
