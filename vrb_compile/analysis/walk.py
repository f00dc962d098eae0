"""Walking the statements and expressions of a workflow body or helper.

Lowering-only constructs (VRB2xx, VRB305, VRB306, VRB308) are reported here
(what an awaited call must look like to be lowered: :mod:`.lowerable`; which
statements can run: :mod:`.flow`; a loop that awaits nothing:
:mod:`vrb_compile.rules.loops`); every call, reference and await is handed to
:class:`.calls.CallChecker`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import libcst as cst

from ..discover import cst_dotted
from ..rules import loops
from .base import Frame, short
from .flow import block_completes, first_dead, statements
from .lowerable import LoweringChecks
from .scope import build_scope, kids, lambda_scope, nested_scope

__all__ = ["StatementWalker"]


class StatementWalker(LoweringChecks):
    """Walks statements in order, keeping the flow-aware local bindings up to date."""

    def block(self, frame: Frame, suite: cst.BaseSuite | Sequence[cst.BaseStatement]) -> None:
        stmts = statements(suite)
        function = suite is frame.fn.body
        if function:
            self.enter_function(frame)
        dead = first_dead(stmts)
        if dead is not None:
            self.unreachable(frame, dead.node, dead.reason)
        in_dead = False
        for stmt in stmts:
            if dead is not None and not in_dead:
                line = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ()
                if stmt is dead.node or any(small is dead.node for small in line):
                    in_dead = True
                    self.dead_code(frame, +1)
            self.statement(frame, stmt)
        if in_dead:
            self.dead_code(frame, -1)
        if function:
            self.leave_function(frame)

    def statement(self, frame: Frame, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(frame, small)
        elif isinstance(stmt, cst.BaseSmallStatement):
            self.small(frame, stmt)
        else:
            # bindings inside a compound statement may or may not happen: they add
            # candidate meanings instead of replacing them
            frame.conditional += 1
            if isinstance(stmt, cst.For | cst.While):
                self.loop_bindings(frame, stmt.body)
            self.compound(frame, stmt)
            frame.conditional -= 1

    def compound(self, frame: Frame, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.If):
            self.expr(frame, stmt.test)
            self.block(frame, stmt.body)
            if stmt.orelse is not None:
                if isinstance(stmt.orelse, cst.If):
                    self.statement(frame, stmt.orelse)
                else:
                    self.block(frame, stmt.orelse.body)
        elif isinstance(stmt, cst.For):
            if stmt.asynchronous is not None:
                self.report(
                    frame, stmt, "VRB207", "`async for` pulls values from outside the event log"
                )
            self.iteration(frame, stmt.iter)
            self.expr(frame, stmt.iter)
            self.loop_body(frame, +1)
            self.block(frame, stmt.body)
            self.loop_body(frame, -1)
            if stmt.orelse is not None:
                self.block(frame, stmt.orelse.body)
        elif isinstance(stmt, cst.While):
            wf = self.workflow
            if wf is not None and not self.project.workflow_options(wf).has_breaker:
                forever = isinstance(stmt.test, cst.Name) and stmt.test.value == "True"
                what = "`while True` loop" if forever else "`while` loop"
                self.report(
                    frame,
                    stmt,
                    "VRB305",
                    f"{what} in workflow {wf.name!r}, which has no max_events circuit breaker",
                )
            if wf is not None and not frame.sync and loops.awaits_nothing(stmt):
                self.report(frame, stmt, "VRB308", loops.message(wf.name, stmt))
            self.expr(frame, stmt.test)
            self.loop_body(frame, +1)
            self.block(frame, stmt.body)
            self.loop_body(frame, -1)
            if stmt.orelse is not None:
                self.block(frame, stmt.orelse.body)
        elif isinstance(stmt, cst.Try):
            self.block(frame, stmt.body)
            for handler in stmt.handlers:
                if handler.type is not None:
                    self.expr(frame, handler.type)
                self.block(frame, handler.body)
            if stmt.orelse is not None:
                dead_else = not block_completes(statements(stmt.body))
                if dead_else:
                    reason = "the `try` body before it never completes, so its `else` never runs"
                    self.unreachable(frame, stmt.orelse, reason)
                    self.dead_code(frame, +1)
                self.block(frame, stmt.orelse.body)
                if dead_else:
                    self.dead_code(frame, -1)
            if stmt.finalbody is not None:
                self.block(frame, stmt.finalbody.body)
        elif isinstance(stmt, cst.TryStar):
            self.report(
                frame,
                stmt,
                "VRB211",
                "`except*` (exception groups) cannot be lowered to error edges",
            )
            self.block(frame, stmt.body)
            for star_handler in stmt.handlers:
                self.block(frame, star_handler.body)
        elif isinstance(stmt, cst.With):
            kind = "async with" if stmt.asynchronous is not None else "with"
            self.report(
                frame,
                stmt,
                "VRB201",
                f"`{kind}` runs a context manager's enter and exit, side effects the graph cannot record",
            )
            for item in stmt.items:
                self.expr(frame, item.item)
            self.block(frame, stmt.body)
        elif isinstance(stmt, cst.FunctionDef):
            self.report(
                frame,
                stmt,
                "VRB202",
                f"function {stmt.name.value!r} is defined inside a workflow body",
            )
            # what it does when called still has to be deterministic
            inner = nested_scope(
                frame.scope, build_scope(stmt, global_sets=frame.scope.global_sets)
            )
            self.block(dataclasses.replace(frame, scope=inner), stmt.body)
        elif isinstance(stmt, cst.ClassDef):
            self.report(
                frame,
                stmt,
                "VRB203",
                f"class {stmt.name.value!r} is defined inside a workflow body",
            )
        elif isinstance(stmt, cst.Match):
            self.report(
                frame, stmt, "VRB209", "`match` statements are not supported in a workflow body"
            )
            self.expr(frame, stmt.subject)
            for case in stmt.cases:
                if case.guard is not None:
                    self.expr(frame, case.guard)
                self.block(frame, case.body)

    def small(self, frame: Frame, node: cst.BaseSmallStatement) -> None:
        if isinstance(node, cst.Expr):
            self.value(frame, node.value)
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                self.write(frame, target.target)
            self.escape_value(frame, node.value)
            self.value(
                frame,
                node.value,
                alias_rhs=len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name),
            )
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.bind(frame, target.target.value, node.value)
        elif isinstance(node, cst.AnnAssign):
            self.write(frame, node.target)
            if node.value is not None:
                self.escape_value(frame, node.value)
                self.value(frame, node.value, alias_rhs=isinstance(node.target, cst.Name))
                if isinstance(node.target, cst.Name):
                    self.bind(frame, node.target.value, node.value)
        elif isinstance(node, cst.AugAssign):
            self.write(frame, node.target)
            self.value(frame, node.value)
        elif isinstance(node, cst.Return):
            if node.value is not None:
                self.value(frame, node.value)
        elif isinstance(node, cst.Raise):
            if node.exc is not None:
                self.expr(frame, node.exc)
        elif isinstance(node, cst.Global | cst.Nonlocal):
            kind = "global" if isinstance(node, cst.Global) else "nonlocal"
            names = ", ".join(n.name.value for n in node.names)
            self.report(
                frame,
                node,
                "VRB110",
                f"`{kind} {names}` makes the body write state shared across runs",
            )
        elif isinstance(node, cst.Import | cst.ImportFrom):
            self.report(
                frame,
                node,
                "VRB210",
                "import inside a workflow body runs module code during the run",
            )
        elif isinstance(node, cst.Del):
            self.write(frame, node.target)
        elif isinstance(node, cst.Assert):
            self.expr(frame, node.test)
        elif isinstance(node, cst.Break | cst.Continue):
            self.jump(frame, node)

    def write(self, frame: Frame, target: cst.BaseExpression) -> None:
        """VRB110 for subscript/attribute writes on module-level objects."""
        if isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self.write(frame, element.value)
            return
        if isinstance(target, cst.Subscript | cst.Attribute):
            base: cst.BaseExpression = target
            while isinstance(base, cst.Subscript | cst.Attribute):
                base = base.value
            if isinstance(base, cst.Name) and base.value == "self" and frame.self_class:
                return
            if isinstance(base, cst.Name) and base.value not in frame.scope.names:
                targets = self.resolve(frame, base.value)
                if any(t.kind in ("data", "class", "external", "module") for t in targets):
                    self.report(
                        frame,
                        target,
                        "VRB110",
                        f"writes module-level {base.value!r}, state another worker replaying the run would not see",
                    )
            elif isinstance(base, cst.Name):
                # `c = CACHE; c["x"] = 1` writes CACHE itself
                written = [
                    t
                    for t in self._targets(frame, base.value)
                    if t.kind in ("data", "class", "external", "module")
                ]
                if written:
                    self.report(
                        frame,
                        target,
                        "VRB110",
                        f"writes module-level {written[0].qname.rpartition('.')[2]!r} through "
                        f"{base.value!r}, state another worker replaying the run would not see",
                    )
            self.expr(frame, target)

    def escape_value(self, frame: Frame, value: cst.BaseExpression) -> None:
        """VRB214 when the ctx is stored (``x = ctx``, ``[ctx]``, ``{"c": ctx}``)."""
        if isinstance(value, cst.Name) and value.value in frame.scope.ctx_names:
            self.report(
                frame,
                value,
                "VRB214",
                f"the workflow context {value.value!r} is stored in a variable",
            )
        elif isinstance(value, cst.List | cst.Tuple | cst.Set):
            for element in value.elements:
                if (
                    isinstance(element.value, cst.Name)
                    and element.value.value in frame.scope.ctx_names
                ):
                    self.report(
                        frame,
                        element.value,
                        "VRB214",
                        "the workflow context is stored in a container",
                    )
        elif isinstance(value, cst.Dict):
            for item in value.elements:
                if (
                    isinstance(item, cst.DictElement)
                    and isinstance(item.value, cst.Name)
                    and item.value.value in frame.scope.ctx_names
                ):
                    self.report(
                        frame,
                        item.value,
                        "VRB214",
                        "the workflow context is stored in a container",
                    )

    def value(self, frame: Frame, node: cst.BaseExpression, *, alias_rhs: bool = False) -> None:
        """An expression at statement level: an await here is allowed.

        So is one as a whole branch of a conditional expression (``x = await a()
        if c else await b()``): the lowering makes it a branch node.
        """
        if isinstance(node, cst.Await):
            self.awaited(frame, node)
        elif isinstance(node, cst.IfExp) and (
            isinstance(node.body, cst.Await | cst.IfExp)
            or isinstance(node.orelse, cst.Await | cst.IfExp)
        ):
            self.expr(frame, node.test)
            self.value(frame, node.body)
            self.value(frame, node.orelse)
        elif (
            alias_rhs
            and cst_dotted(node) is not None
            and not (isinstance(node, cst.Name) and node.value in frame.scope.names)
        ):
            # `clock = time.time`, `fn = uuid4`: the use of the alias is what gets
            # flagged (flagging the assignment too reported one finding twice);
            # `args = sys.argv` is itself the nondeterministic read
            self.attribute_read(frame, node)
        else:
            self.expr(frame, node)

    def awaited(self, frame: Frame, node: cst.Await) -> None:
        inner = node.expression
        if not isinstance(inner, cst.Call):
            self.report(
                frame,
                node,
                "VRB112",
                f"awaits {short(frame, inner)}, which is not a step call or a ctx method",
            )
            self.expr(frame, inner)
            return
        kind = self.call_kind(frame, inner)
        if kind == "parallel":
            self.parallel(frame, inner)
            return
        if kind == "gather-map":
            self.gather_map(frame, inner)
            self.expr(frame, inner.args[0].value)
            return
        if kind == "ctx":
            self.ctx_call(frame, inner, awaited=True)
        elif kind == "helper":
            self.awaited_helper(frame, inner)
        if kind in ("step", "ctx", "helper"):
            self.call(frame, inner, awaited=True)
            return
        if kind == "flagged":
            self.call(frame, inner, awaited=True)
            return
        self.report(
            frame,
            node,
            "VRB112",
            f"awaits {short(frame, inner.func)}(...), which is not a step, a ctx method or an analysed helper",
        )
        self.call(frame, inner, awaited=True, quiet_unknown=True)

    def parallel(self, frame: Frame, call: cst.Call) -> None:
        arg = call.args[0].value if len(call.args) == 1 and not call.args[0].keyword else None
        ok = isinstance(arg, cst.List | cst.Tuple)
        if isinstance(arg, cst.List | cst.Tuple):
            for element in arg.elements:
                lam = element.value
                if not (
                    isinstance(lam, cst.Lambda)
                    and not lam.params.params
                    and isinstance(lam.body, cst.Call)
                    and self.call_kind(frame, lam.body) == "step"
                ):
                    ok = False
                    self.report(
                        frame,
                        element.value,
                        "VRB213",
                        "each ctx.parallel branch must be a zero-argument lambda calling one step",
                    )
                    continue
                frame.in_parallel += 1
                self.call(frame, lam.body, awaited=True)
                frame.in_parallel -= 1
        if not ok and not isinstance(arg, cst.List | cst.Tuple):
            self.report(
                frame,
                call,
                "VRB213",
                "ctx.parallel needs a literal list of branches: ctx.parallel([lambda: step_a(x), ...])",
            )

    def expr(self, frame: Frame, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Await):
            if frame.in_comprehension:
                self.report(
                    frame, node, "VRB205", "`await` inside a comprehension has no graph node"
                )
            else:
                self.report(frame, node, "VRB208", "this `await` is nested inside an expression")
            self.awaited_quiet(frame, node)
            return
        if isinstance(node, cst.Yield):
            self.report(frame, node, "VRB205", "`yield` makes the workflow body a generator")
            if isinstance(node.value, cst.From):
                self.expr(frame, node.value.item)
            elif node.value is not None:
                self.expr(frame, node.value)
            return
        if isinstance(node, cst.Lambda):
            if not frame.in_parallel:
                self.report(frame, node, "VRB204", "`lambda` outside ctx.parallel([...])")
                inner = nested_scope(frame.scope, lambda_scope(node))
                self.expr(dataclasses.replace(frame, scope=inner), node.body)
            return
        if isinstance(node, cst.Call):
            self.ctx_call(frame, node, awaited=False)
            self.call(frame, node, awaited=False)
            return
        if isinstance(node, cst.Attribute | cst.Name):
            dotted = cst_dotted(node)
            if dotted is not None:
                self.reference(frame, node, dotted)
                return
        if isinstance(node, cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp):
            frame.in_comprehension += 1
            comp: cst.CompFor | None = node.for_in
            while comp is not None:
                self.iteration(frame, comp.iter)
                comp = comp.inner_for_in
            for child in kids(node):
                self.expr(frame, child)
            frame.in_comprehension -= 1
            return
        if isinstance(node, cst.StarredElement) and frame.scope.is_set(node.value):
            self.report(
                frame,
                node,
                "VRB109",
                f"unpacking {short(frame, node.value)} depends on the set's iteration order",
            )
        for child in kids(node):
            self.expr(frame, child)

    def awaited_quiet(self, frame: Frame, node: cst.Await) -> None:
        if isinstance(node.expression, cst.Call):
            self.call(frame, node.expression, awaited=True)
        else:
            self.expr(frame, node.expression)

    def iteration(self, frame: Frame, iterable: cst.BaseExpression) -> None:
        if frame.scope.is_set(iterable):
            self.report(
                frame,
                iterable,
                "VRB109",
                f"iterating over {short(frame, iterable)} depends on the set's iteration order",
            )
