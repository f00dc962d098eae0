"""The checker's engine: walks workflow bodies and the helpers they call.

Only workflow bodies, the helpers reached from them (transitively, each once,
cycles cut) and signal-waiting step bodies are walked; everything else in a
file is left alone. Findings in a helper are reported at the offending line
inside the helper, with the call chain from the workflow body.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst

from ..diagnostics import Diagnostic
from ..discover import (
    ModuleSummary,
    ProjectIndex,
    StepDef,
    WorkflowDef,
    cst_dotted,
    find_function,
    function_index,
)
from ..names import Target
from ..rules.constructs import CTX_METHODS
from ..rules.filesystem import PATH_IO_METHODS
from ..rules.registry import CALL_TABLES, RULES
from ..rules.state import MUTATING_METHODS
from ..source import SourceFile, SyntaxProblem
from .scope import LocalScope, build_scope, kids, lambda_scope, nested_scope

__all__ = ["FileAnalysis", "analyse_file"]

#: Standard-library modules whose functions are deterministic.
PURE_MODULES = frozenset(
    {
        "json",
        "math",
        "cmath",
        "re",
        "itertools",
        "functools",
        "operator",
        "collections",
        "copy",
        "dataclasses",
        "decimal",
        "fractions",
        "statistics",
        "string",
        "textwrap",
        "enum",
        "typing",
        "typing_extensions",
        "base64",
        "binascii",
        "hashlib",
        "hmac",
        "heapq",
        "bisect",
        "struct",
        "zlib",
        "unicodedata",
        "datetime",
        "uuid",
        "os.path",
        "posixpath",
        "ntpath",
        "pathlib",
        "abc",
        "numbers",
        "array",
        "contextlib",
        "types",
        "logging",
        "warnings",
        "pprint",
        "reprlib",
        "difflib",
        "html",
        "urllib.parse",
        "ipaddress",
        "calendar",
        "zoneinfo",
        "shlex",
        "fnmatch",
        "keyword",
        "graphlib",
        "csv",
        "io",
        "runtime",
        "pydantic",
        "time",
        "random",
        "os",
        "sys",
        "asyncio",
    }
)
_IMPURE_BUILTINS = {
    "builtins.eval": "evaluates code",
    "builtins.exec": "executes code",
    "builtins.compile": "compiles code",
    "builtins.__import__": "imports a module",
    "builtins.breakpoint": "stops in the debugger",
    "builtins.globals": "reads module state",
}
_SET_CONSUMERS = frozenset({"list", "tuple", "enumerate", "zip", "iter", "map", "filter", "next"})
#: Codes about what the lowering cannot turn into graph nodes. A sync helper is
#: not lowered (it runs as code inside a code node), so only determinism matters there.
_LOWERING_ONLY = frozenset(
    {"VRB201", "VRB202", "VRB203", "VRB204", "VRB205", "VRB209", "VRB211", "VRB305", "VRB306"}
)
_CONCRETE_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
#: Path methods and properties that return another path.
_PATH_RETURNING = frozenset(
    {"joinpath", "with_name", "with_stem", "with_suffix", "relative_to", "with_segments"}
)


def _path_class_io(qname: str) -> tuple[str, str, str] | None:
    """VRB105 for ``Path.cwd()``, ``Path.home()`` and I/O methods called on the class."""
    owner, _, method = qname.rpartition(".")
    if owner in _CONCRETE_PATH_TYPES and method in PATH_IO_METHODS:
        rule = RULES["VRB105"]
        shown = f"{owner.removeprefix('pathlib.')}.{method}()"
        return (
            "VRB105",
            f"{shown} touches the filesystem; its result can change between the run and its replay",
            rule.hint,
        )
    return None


@dataclass
class FileAnalysis:
    """What analysing one file gave.

    Attributes:
        diagnostics: The findings (before suppression and selection).
        deps: ``display_path -> sha256`` of the other files whose code was followed.
    """

    diagnostics: list[Diagnostic] = field(default_factory=list)
    deps: dict[str, str] = field(default_factory=dict)


@dataclass
class _Frame:
    source: SourceFile
    fn: cst.FunctionDef
    top: cst.CSTNode
    scope: LocalScope
    chain: tuple[str, ...]
    self_class: str | None
    in_comprehension: int = 0
    in_parallel: int = 0
    sync: bool = False
    # dotted values each local is bound to at the statement being walked (flow-aware
    # aliases); a local not in here yet falls back to the scope's flow-insensitive view
    bound: dict[str, list[str]] = field(default_factory=dict)
    conditional: int = 0


def _syntax(source: SourceFile, problem: SyntaxProblem) -> Diagnostic:
    rule = RULES["VRB001"]
    return Diagnostic(
        "VRB001",
        rule.severity,
        f"syntax error: {problem.message}",
        source.display_path,
        problem.line,
        problem.column,
        problem.line,
        problem.column + 1,
        None,
        rule.hint,
    )


class _Analyser:
    def __init__(
        self,
        project: ProjectIndex,
        sources: Mapping[str, SourceFile],
        pure: Sequence[str],
        result: FileAnalysis,
        origin: SourceFile,
    ) -> None:
        self.project = project
        self.by_module = {
            s.module: sources[s.display_path]
            for s in project.summaries.values()
            if s.display_path in sources
        }
        self.pure = tuple(pure)
        self.result = result
        self.origin = origin
        self.seen_helpers: set[tuple[str, str]] = set()
        self.workflow: WorkflowDef | None = None
        self.reported: set[tuple[str, int, int, str]] = set()

    # -- reporting ----------------------------------------------------------

    def report(
        self, frame: _Frame, node: cst.CSTNode, code: str, message: str, hint: str = ""
    ) -> None:
        if frame.sync and code in _LOWERING_ONLY:
            return
        rule = RULES[code]
        line, col, end_line, end_col = frame.source.position(node, top=frame.top)
        key = (frame.source.display_path, line, col, code)
        if key in self.reported:
            return
        self.reported.add(key)
        if len(frame.chain) > 1:
            message = f"{message} (via {' -> '.join(frame.chain[1:])})"
        self.result.diagnostics.append(
            Diagnostic(
                code,
                rule.severity,
                message,
                frame.source.display_path,
                line,
                col,
                end_line,
                end_col,
                self.workflow.name if self.workflow else None,
                hint or rule.hint,
                frame.chain if len(frame.chain) > 1 else (),
            )
        )

    def resolve(self, frame: _Frame, dotted: str) -> tuple[Target, ...]:
        return self.project.symbols.resolve(frame.source.module, dotted)

    # -- workflows -----------------------------------------------------------

    def workflow_body(self, wf: WorkflowDef, summary: ModuleSummary, source: SourceFile) -> None:
        self.workflow = wf
        tree = source.tree
        if tree is None:
            return
        body_source, qual = source, wf.function
        if wf.style == "functional" and wf.function:
            target = self.project.function_target(wf.module, wf.function)
            if target is not None and target[0] in self.by_module:
                body_source, qual = self.by_module[target[0]], target[1]
        fn = find_function(body_source.tree, qual) if qual and body_source.tree else None
        if fn is None:
            rule = RULES["VRB212"]
            line, col, end_line, end_col = wf.span
            what = (
                "a lambda"
                if not wf.function
                else f"{wf.function!r}, which is not a function defined in the analysed sources"
            )
            self.result.diagnostics.append(
                Diagnostic(
                    "VRB212",
                    rule.severity,
                    f"the body of workflow {wf.name!r} is {what}",
                    source.display_path,
                    line,
                    col,
                    end_line,
                    end_col,
                    wf.name,
                    rule.hint,
                )
            )
            return
        if body_source is not self.origin:
            self.result.deps[body_source.display_path] = body_source.sha256
        top = self._top(body_source, fn)
        frame = _Frame(
            body_source,
            fn,
            top,
            build_scope(fn, skip_first=wf.style == "class"),
            (fn.name.value,),
            wf.class_name,
        )
        params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        if wf.style == "class":
            params = params[1:]
        if params:
            frame.scope.ctx_names.add(params[0])
        if fn.asynchronous is None:
            self.report(
                frame,
                fn.name,
                "VRB212",
                f"the body of workflow {wf.name!r} ({fn.name.value}) is a plain def, not an async def",
            )
        self.seen_helpers.add((body_source.display_path, qual))
        self.block(frame, fn.body)

    @staticmethod
    def _top(source: SourceFile, fn: cst.FunctionDef) -> cst.CSTNode:
        tree = source.tree
        assert tree is not None
        for found, top in function_index(tree).values():
            if found is fn:
                return top
        return fn

    # -- statements ----------------------------------------------------------

    def block(self, frame: _Frame, suite: cst.BaseSuite | Sequence[cst.BaseStatement]) -> None:
        if isinstance(suite, cst.IndentedBlock):
            stmts: Sequence[cst.CSTNode] = suite.body
        elif isinstance(suite, cst.SimpleStatementSuite):
            stmts = suite.body
        else:
            stmts = suite  # type: ignore[assignment]
        terminated = False
        for stmt in stmts:
            if terminated:
                self.report(
                    frame,
                    stmt,
                    "VRB306",
                    "this code can never run: it follows a return, raise, break or continue",
                )
                terminated = False
            self.statement(frame, stmt)
            last = (
                stmt.body[-1] if isinstance(stmt, cst.SimpleStatementLine) and stmt.body else stmt
            )
            if isinstance(last, cst.Return | cst.Raise | cst.Break | cst.Continue):
                terminated = True

    def statement(self, frame: _Frame, stmt: cst.CSTNode) -> None:
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

    def compound(self, frame: _Frame, stmt: cst.CSTNode) -> None:
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
            self.block(frame, stmt.body)
            if stmt.orelse is not None:
                self.block(frame, stmt.orelse.body)
        elif isinstance(stmt, cst.While):
            wf = self.workflow
            if wf is not None and wf.max_events is None:
                forever = isinstance(stmt.test, cst.Name) and stmt.test.value == "True"
                what = "`while True` loop" if forever else "`while` loop"
                self.report(
                    frame,
                    stmt,
                    "VRB305",
                    f"{what} in workflow {wf.name!r}, which has no max_events circuit breaker",
                )
            self.expr(frame, stmt.test)
            self.block(frame, stmt.body)
            if stmt.orelse is not None:
                self.block(frame, stmt.orelse.body)
        elif isinstance(stmt, cst.Try):
            self.block(frame, stmt.body)
            for handler in stmt.handlers:
                if handler.type is not None:
                    self.expr(frame, handler.type)
                self.block(frame, handler.body)
            if stmt.orelse is not None:
                self.block(frame, stmt.orelse.body)
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
            inner = nested_scope(frame.scope, build_scope(stmt))
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

    def small(self, frame: _Frame, node: cst.BaseSmallStatement) -> None:
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

    def write(self, frame: _Frame, target: cst.BaseExpression) -> None:
        """VRB110 for subscript/attribute writes on module-level objects."""
        if isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self.write(frame, element.value)
            return
        if isinstance(target, cst.Subscript | cst.Attribute):
            base: cst.BaseExpression = target
            while isinstance(base, cst.Subscript | cst.Attribute):
                base = base.value
            if isinstance(base, cst.Name) and base.value not in frame.scope.names:
                if base.value == "self" and frame.self_class:
                    return
                targets = self.resolve(frame, base.value)
                if any(t.kind in ("data", "class", "external", "module") for t in targets):
                    self.report(
                        frame,
                        target,
                        "VRB110",
                        f"writes module-level {base.value!r}, state another worker replaying the run would not see",
                    )
            self.expr(frame, target)

    def escape_value(self, frame: _Frame, value: cst.BaseExpression) -> None:
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

    # -- awaits -------------------------------------------------------------

    def value(self, frame: _Frame, node: cst.BaseExpression, *, alias_rhs: bool = False) -> None:
        """An expression at statement level: an await here is allowed."""
        if isinstance(node, cst.Await):
            self.awaited(frame, node)
        elif alias_rhs and cst_dotted(node) is not None and node.__class__ is not cst.Name:
            # `clock = time.time`: the call through the alias is what gets flagged
            return
        else:
            self.expr(frame, node)

    def awaited(self, frame: _Frame, node: cst.Await) -> None:
        inner = node.expression
        if not isinstance(inner, cst.Call):
            self.report(
                frame,
                node,
                "VRB112",
                f"awaits {_short(frame, inner)}, which is not a step call or a ctx method",
            )
            self.expr(frame, inner)
            return
        kind = self.call_kind(frame, inner)
        if kind == "parallel":
            self.parallel(frame, inner)
            return
        if kind == "gather-map":
            self.expr(frame, inner.args[0].value)
            return
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
            f"awaits {_short(frame, inner.func)}(...), which is not a step, a ctx method or an analysed helper",
        )
        self.call(frame, inner, awaited=True, quiet_unknown=True)

    def call_kind(self, frame: _Frame, call: cst.Call) -> str:
        dotted = cst_dotted(call.func)
        if dotted is None:
            return "other"
        head, _, rest = dotted.partition(".")
        if head in frame.scope.ctx_names:
            return "parallel" if rest == "parallel" else "ctx"
        if head == "self" and frame.self_class and rest and "." not in rest:
            qname = f"{frame.source.module}.{frame.self_class}.{rest}"
            if qname in self.project.steps_by_qname:
                return "step"
            return "helper"
        if head in frame.scope.names and self.alias_of(frame, head) is None:
            return "other"
        targets = self._targets(frame, dotted)
        if self.project.step_for_targets(targets) is not None:
            return "step"
        if any(t.kind in ("def", "asyncdef") for t in targets):
            return "helper"
        if any(t.qname == "asyncio.gather" for t in targets) and _is_gather_map(call):
            return "gather-map"
        if any(
            self.match(t.qname, True, len(call.args))
            or (t.origin and self.match(t.origin, True, len(call.args)))
            for t in targets
        ):
            return "flagged"
        return "other"

    @staticmethod
    def alias_of(frame: _Frame, name: str) -> list[str] | None:
        """The global references local ``name`` may hold here, or ``None`` if it holds none."""
        if name in frame.bound:
            return frame.bound[name] or None
        return frame.scope.aliases.get(name)

    def bind(self, frame: _Frame, name: str, value: cst.BaseExpression | None) -> None:
        """Record that local ``name`` now holds ``value`` (a rebinding replaces, unless conditional)."""
        chain = cst_dotted(value) if value is not None else None
        if chain is not None and chain.split(".")[0] in frame.scope.names:
            chain = None  # a value built from locals is not a global reference
        candidates = [chain] if chain is not None else []
        if frame.conditional and name in frame.bound:
            candidates = [*frame.bound[name], *candidates]
        elif frame.conditional:
            candidates = [*(frame.scope.aliases.get(name) or []), *candidates]
        frame.bound[name] = candidates

    def loop_bindings(self, frame: _Frame, body: cst.CSTNode) -> None:
        """A loop body runs again after its own rebindings: seed them before walking it."""
        frame.conditional += 1
        for node in _assignments(body):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.bind(frame, target.target.value, node.value)
        frame.conditional -= 1

    def _targets(self, frame: _Frame, dotted: str) -> tuple[Target, ...]:
        head, _, rest = dotted.partition(".")
        aliases = self.alias_of(frame, head)
        if aliases is not None:
            out: list[Target] = []
            for alias in aliases:
                out.extend(self.resolve(frame, alias + (f".{rest}" if rest else "")))
            return tuple(out)
        if head in frame.scope.names:
            return ()
        return self.resolve(frame, dotted)

    def parallel(self, frame: _Frame, call: cst.Call) -> None:
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

    # -- expressions ----------------------------------------------------------

    def expr(self, frame: _Frame, node: cst.CSTNode) -> None:
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
                f"unpacking {_short(frame, node.value)} depends on the set's iteration order",
            )
        for child in kids(node):
            self.expr(frame, child)

    def awaited_quiet(self, frame: _Frame, node: cst.Await) -> None:
        if isinstance(node.expression, cst.Call):
            self.call(frame, node.expression, awaited=True)
        else:
            self.expr(frame, node.expression)

    def iteration(self, frame: _Frame, iterable: cst.BaseExpression) -> None:
        if frame.scope.is_set(iterable):
            self.report(
                frame,
                iterable,
                "VRB109",
                f"iterating over {_short(frame, iterable)} depends on the set's iteration order",
            )

    def reference(self, frame: _Frame, node: cst.BaseExpression, dotted: str) -> None:
        head, _, rest = dotted.partition(".")
        if head in frame.scope.ctx_names:
            if rest and rest.split(".")[0] not in CTX_METHODS:
                self.report(
                    frame,
                    node,
                    "VRB215",
                    f"ctx.{rest.split('.')[0]} is not part of the WorkflowContext API",
                )
            return
        for target in self._targets(frame, dotted):
            found = self.match(target.qname, False, 0, reference_only=True)
            if found is not None:
                self.report(frame, node, found[0], found[1], found[2])
                return

    def match(
        self, qname: str, called: bool, nargs: int, *, reference_only: bool = False
    ) -> tuple[str, str, str] | None:
        for table in CALL_TABLES:
            # a plain reference is flagged only when it names something a table knows
            if (
                reference_only
                and not any(qname == a or qname.startswith(a + ".") for a in table.attributes)
                and not (
                    qname in table.exact or any(qname.startswith(p + ".") for p in table.prefixes)
                )
            ):
                continue
            found = table.match(qname, called=called, nargs=nargs)
            if found is not None:
                return found.code, found.message, found.hint
        return None

    def call(
        self, frame: _Frame, call: cst.Call, *, awaited: bool, quiet_unknown: bool = False
    ) -> None:
        """Check one call; ``quiet_unknown``: it was already reported as VRB112."""
        func = call.func
        dotted = cst_dotted(func)
        for arg in call.args:
            self.expr(frame, arg.value)
        if dotted is None:
            if isinstance(func, cst.Attribute):
                if (
                    func.attr.value == "join"
                    and call.args
                    and frame.scope.is_set(call.args[0].value)
                ):
                    self.report(
                        frame,
                        call.args[0].value,
                        "VRB109",
                        "joining a set depends on its iteration order",
                    )
                self.path_io(frame, call, func)
                self.expr(frame, func.value)
            else:
                self.expr(frame, func)
            return
        head, _, rest = dotted.partition(".")
        if head in frame.scope.ctx_names:
            method = rest.split(".")[0]
            if not rest or method not in CTX_METHODS:
                self.report(
                    frame,
                    func,
                    "VRB215",
                    f"ctx.{method or '__call__'} is not part of the WorkflowContext API",
                )
            return
        if head == "self" and frame.self_class and rest and "." not in rest:
            qname = f"{frame.source.module}.{frame.self_class}.{rest}"
            if qname in self.project.steps_by_qname:
                self.step_args(frame, call)
            else:
                self.follow(frame, call, f"{frame.self_class}.{rest}", frame.source)
            return
        if head in frame.scope.names and self.alias_of(frame, head) is None:
            method = rest.split(".")[-1] if rest else ""
            if isinstance(func, cst.Attribute):
                self.path_io(frame, call, func)
            if head in frame.scope.sets and method == "pop":
                self.report(
                    frame, call, "VRB109", f"{head}.pop() removes an arbitrary element of a set"
                )
            self.escape_args(frame, call, allowed=False) if not rest else None
            return
        targets = self._targets(frame, dotted)
        found = None
        for target in targets:
            if (
                target.qname == "builtins.hash"
                and call.args
                and self.is_int(frame, call.args[0].value)
            ):
                continue  # hash() of an int (or a tuple of ints) is the int's value, not salted
            found = self.match(target.qname, True, len(call.args))
            if found is None:
                found = _path_class_io(target.qname)
            if found is None and target.origin:
                # a method of a module-level object: session.get with session = aiohttp.ClientSession()
                found = self.match(target.origin, True, len(call.args))
            if found is not None:
                break
        if found is not None:
            self.report(frame, call, found[0], found[1], found[2])
            return
        if self.project.step_for_targets(targets) is not None:
            self.step_args(frame, call)
            return
        for target in targets:
            if target.qname in (
                "runtime.step",
                "runtime.workflow",
                "runtime.Step",
                "runtime.Workflow",
            ):
                self.report(
                    frame,
                    call,
                    "VRB206",
                    f"{dotted}(...) defines a step or workflow inside a workflow body",
                )
                return
        # a name bound in several branches (try: import a as x / except: import b as x)
        # is checked under every candidate meaning
        others: list[Target] = []
        followed = False
        for target in targets:
            split = self.project.split_qname(target.qname)
            helper_source = self.by_module.get(split[0]) if split else None
            if target.kind in ("def", "asyncdef") and split and helper_source is not None:
                self.follow(frame, call, split[1], helper_source)
                followed = True
            else:
                others.append(target)
        if followed and not others:
            return
        builtin = next((t for t in others if t.kind == "builtin"), None)
        if builtin is not None:
            name = builtin.qname.removeprefix("builtins.")
            if builtin.qname in _IMPURE_BUILTINS:
                self.report(
                    frame,
                    call,
                    "VRB111",
                    f"{name}() {_IMPURE_BUILTINS[builtin.qname]}; the compiler cannot prove it deterministic",
                )
            elif name in _SET_CONSUMERS and any(frame.scope.is_set(a.value) for a in call.args):
                self.report(
                    frame, call, "VRB109", f"{name}() of a set depends on the set's iteration order"
                )
            self.escape_args(frame, call, allowed=False)
            return
        mutating = rest.split(".")[-1] if rest else ""
        for target in others:
            if (
                target.kind == "data"
                and mutating in MUTATING_METHODS
                and target.qname.count(".") >= 1
            ):
                self.report(
                    frame,
                    call,
                    "VRB110",
                    f"{dotted}() mutates module-level {head!r}, state another worker replaying the run would not see",
                )
                return
        unknown = [t for t in others if not self.is_known([t])]
        if not unknown or quiet_unknown:
            self.escape_args(frame, call, allowed=False)
            return
        if all(t.kind == "unresolved" for t in unknown):
            self.report(
                frame,
                call,
                "VRB111",
                f"{dotted}() calls {head!r}, a name this module does not define or import",
            )
        else:
            where = next(t.qname for t in unknown if t.kind != "unresolved")
            self.report(
                frame,
                call,
                "VRB111",
                f"{dotted}() calls {where}, from a module the compiler cannot see; it may not be deterministic",
            )

    def path_io(self, frame: _Frame, call: cst.Call, func: cst.Attribute) -> None:
        """VRB105 for ``p.read_text()`` where ``p`` is a ``pathlib.Path`` value."""
        method = func.attr.value
        if method in PATH_IO_METHODS and self.is_path(frame, func.value, 0):
            self.report(
                frame,
                call,
                "VRB105",
                f"Path(...).{method}() touches the filesystem; its result can change between the run and its replay",
                RULES["VRB105"].hint,
            )

    def is_path(self, frame: _Frame, node: cst.BaseExpression, depth: int) -> bool:
        """Whether ``node`` evaluates to a concrete ``pathlib`` path (by construction)."""
        if depth > 8:
            return False
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _PATH_RETURNING:
                return self.is_path(frame, func.value, depth + 1)
            dotted = cst_dotted(func)
            return dotted is not None and any(
                t.qname in _CONCRETE_PATH_TYPES for t in self._targets(frame, dotted)
            )
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            return self.is_path(frame, node.left, depth + 1)
        if isinstance(node, cst.Attribute) and node.attr.value in ("parent",):
            return self.is_path(frame, node.value, depth + 1)
        if isinstance(node, cst.Name) and node.value in frame.scope.names:
            annotation = frame.scope.annotations.get(node.value)
            if annotation is not None:
                dotted = cst_dotted(annotation)
                return dotted is not None and any(
                    t.qname in _CONCRETE_PATH_TYPES for t in self.resolve(frame, dotted)
                )
            values = frame.scope.values.get(node.value, [])
            return bool(values) and all(
                v is not None and self.is_path(frame, v, depth + 1) for v in values
            )
        return False

    def is_int(self, frame: _Frame, node: cst.BaseExpression) -> bool:
        """Whether ``node`` is obviously an int, or a tuple of them."""
        if isinstance(node, cst.Integer):
            return True
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return self.is_int(frame, node.expression)
        if isinstance(node, cst.Tuple):
            return all(
                isinstance(e, cst.Element) and self.is_int(frame, e.value) for e in node.elements
            )
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            name = node.func.value
            return (
                name in ("len", "int", "ord")
                and name not in frame.scope.names
                and all(t.kind == "builtin" for t in self.resolve(frame, name))
            )
        return False

    def is_known(self, targets: Sequence[Target]) -> bool:
        if not targets:
            return True
        for target in targets:
            if target.kind in ("class", "data", "module", "missing", "step", "workflow", "builtin"):
                return True
            if target.kind == "external":
                q = target.qname
                parts = q.split(".")
                if any(".".join(parts[:i]) in PURE_MODULES for i in range(1, len(parts) + 1)):
                    return True
                if any(fnmatch.fnmatchcase(q, glob) for glob in self.pure):
                    return True
        return False

    def step_args(self, frame: _Frame, call: cst.Call) -> None:
        for arg in call.args:
            if frame.scope.is_set(arg.value):
                self.report(
                    frame,
                    arg.value,
                    "VRB109",
                    f"passing {_short(frame, arg.value)} to a step records an order that can differ on replay",
                )
        self.escape_args(frame, call, allowed=False)

    def escape_args(self, frame: _Frame, call: cst.Call, *, allowed: bool) -> None:
        if allowed:
            return
        for arg in call.args:
            if isinstance(arg.value, cst.Name) and arg.value.value in frame.scope.ctx_names:
                self.report(
                    frame,
                    arg.value,
                    "VRB214",
                    f"the workflow context is passed to {_short(frame, call.func)}, which the compiler does not inline",
                )

    def follow(self, frame: _Frame, call: cst.Call, qualname: str, source: SourceFile) -> None:
        key = (source.display_path, qualname)
        tree = source.tree
        fn = find_function(tree, qualname) if tree is not None else None
        if fn is None:
            return
        if key in self.seen_helpers:
            return
        self.seen_helpers.add(key)
        if source is not self.origin:
            self.result.deps[source.display_path] = source.sha256
        is_method = "." in qualname
        scope = build_scope(fn, skip_first=is_method)
        params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        if is_method:
            params = params[1:]
        for i, arg in enumerate(call.args):
            if isinstance(arg.value, cst.Name) and arg.value.value in frame.scope.ctx_names:
                if arg.keyword is not None:
                    scope.ctx_names.add(arg.keyword.value)
                elif i < len(params):
                    scope.ctx_names.add(params[i])
        helper = _Frame(
            source,
            fn,
            self._top(source, fn),
            scope,
            (*frame.chain, fn.name.value),
            qualname.split(".")[0] if is_method else None,
            sync=fn.asynchronous is None,
        )
        self.block(helper, fn.body)

    # -- steps (VRB304) -------------------------------------------------------

    def signal_step(self, step: StepDef, source: SourceFile) -> None:
        tree = source.tree
        fn = find_function(tree, step.function) if tree is not None and step.function else None
        if fn is None:
            return
        params = [*fn.params.posonly_params, *fn.params.params]
        if "." in step.function:
            params = params[1:]
        if not params or params[0].annotation is None:
            return
        ann = cst_dotted(params[0].annotation.annotation) or ""
        if isinstance(params[0].annotation.annotation, cst.SimpleString):
            ann = params[0].annotation.annotation.value.strip("'\"")
        if ann.split(".")[-1] != "StepContext":
            return
        ctx_name = params[0].name.value
        scope = build_scope(fn)
        frame = _Frame(source, fn, self._top(source, fn), scope, (fn.name.value,), None)
        effect: cst.Call | None = None
        for node in _calls_in_order(fn.body):
            dotted = cst_dotted(node.func)
            if dotted == f"{ctx_name}.wait_for_signal":
                if effect is not None:
                    self.report(
                        frame,
                        node,
                        "VRB304",
                        f"step {step.name!r} waits for a signal after calling {_short(frame, effect.func)}(), "
                        "which runs again on every retry",
                    )
                return
            if effect is None and not self._obviously_pure(frame, node, dotted, ctx_name):
                effect = node

    def _obviously_pure(
        self, frame: _Frame, call: cst.Call, dotted: str | None, ctx_name: str
    ) -> bool:
        if dotted is None:
            return True
        head = dotted.split(".")[0]
        if head == ctx_name or (head in frame.scope.names and self.alias_of(frame, head) is None):
            return True
        targets = self._targets(frame, dotted)
        if any(self.match(t.qname, True, len(call.args)) for t in targets):
            return False
        return all(t.kind in ("builtin", "class") for t in targets) or (
            bool(targets) and all(t.kind == "external" for t in targets) and self.is_known(targets)
        )


def _assignments(node: cst.CSTNode) -> list[cst.Assign]:
    out: list[cst.Assign] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Assign):
            out.append(current)
        if isinstance(current, cst.FunctionDef | cst.ClassDef | cst.Lambda) and current is not node:
            continue
        stack.extend(kids(current))
    return out


def _calls_in_order(node: cst.CSTNode) -> list[cst.Call]:
    out: list[cst.Call] = []

    def visit(current: cst.CSTNode) -> None:
        if isinstance(current, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return
        for child in kids(current):
            visit(child)
        if isinstance(current, cst.Call):
            out.append(current)

    for child in kids(node):
        visit(child)
    return out


def _is_gather_map(call: cst.Call) -> bool:
    if len(call.args) != 1 or call.args[0].star != "*":
        return False
    value = call.args[0].value
    return isinstance(value, cst.GeneratorExp | cst.ListComp) and isinstance(value.elt, cst.Call)


def _short(frame: _Frame, node: cst.CSTNode) -> str:
    dotted = cst_dotted(node) if isinstance(node, cst.BaseExpression) else None
    if dotted is not None:
        return dotted
    text = frame.source.segment(node).strip()
    return text if len(text) <= 40 else text[:37] + "..."


def analyse_file(
    source: SourceFile,
    project: ProjectIndex,
    sources: Mapping[str, SourceFile],
    pure: Sequence[str] = (),
) -> FileAnalysis:
    """Check one file's workflow bodies (and the helpers they reach) and signal-waiting steps.

    Args:
        source: The file.
        project: The index of every analysed file.
        sources: Every analysed file by display path (helpers are followed into them).
        pure: Qualified-name globs treated as deterministic.
    """
    result = FileAnalysis()
    if source.syntax_error is not None:
        result.diagnostics.append(_syntax(source, source.syntax_error))
        return result
    summary = next(
        (s for s in project.all_summaries if s.display_path == source.display_path), None
    )
    if summary is None:
        return result
    if source.tree is None:
        problem = source.cst_syntax_error
        if problem is not None:
            result.diagnostics.append(_syntax(source, problem))
        return result
    analyser = _Analyser(project, sources, pure, result, source)
    for wf in summary.workflows:
        analyser.workflow_body(wf, summary, source)
    analyser.workflow = None
    if summary.waits_for_signals:
        for step in summary.steps:
            analyser.signal_step(step, source)
    return result


sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
