"""What discovery learns from one file, read from its top level only.

Each file gives a :class:`ModuleSummary` (plain data, cached by the file's
hash): its symbol table, its module-level constants, the steps and workflows
it defines (all three styles, each option as written: the project index
evaluates them, :mod:`vrb_compile.options`) and the signatures of its
top-level functions and methods. Only top-level statements (and the bodies of
top-level classes) are read, from Python's ``ast`` tree, which is about ten
times cheaper than a LibCST parse. :mod:`vrb_compile.discover` joins the summaries of a project.

Recognised forms (``runtime`` may also be spelled ``runtime.sdk``)::

    reserve = step("reserve-inventory", _reserve, retries=3, rollback_fn=_release)
    @step("validate-order")            # decorator form
    workflow("order-processing", max_events=1000).run(order_processing)
    flow = workflow("order-processing"); flow.run(order_processing)
    @workflow("order-processing")      # on an async def
    @Workflow("order-flow")            # on a class with async def run(self, ctx, ...)
    class OrderFlow:
        @Step("reserve")               # steps as methods, called as self.reserve(...)
        async def reserve(self, order): ...
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .constants import Constant, collect_constants
from .limits import LIMIT_HINT, too_deep
from .names import ModuleSymbols, SymbolTable, build_symbols, dotted_name
from .source import SourceFile, SyntaxProblem

__all__ = [
    "FuncSig",
    "ModuleSummary",
    "OptionExpr",
    "Span",
    "StepDef",
    "Style",
    "WorkflowDef",
    "summarise",
]

Span = tuple[int, int, int, int]
Style = Literal["functional", "decorator", "class"]

_STEP = ("runtime.step", "runtime.Step")
_WORKFLOW = ("runtime.workflow", "runtime.Workflow")
_STEP_OPTIONS = ("retries", "timeout", "backoff", "rollback_fn")
_WORKFLOW_OPTIONS = ("max_events", "execution_timeout")


@dataclass(frozen=True)
class FuncSig:
    """The signature facts the source-only checks need.

    Attributes:
        is_async: ``async def``.
        params: Names of the positional parameters, in order (``self`` included).
        required: How many positional parameters have no default.
        varargs: Has ``*args``.
        required_kwonly: Keyword-only parameters without a default.
        first_annotation: Dotted annotation of the first parameter after
            ``self`` (for methods), or ``""``.
        span: Position of the ``def`` line.
    """

    is_async: bool
    params: tuple[str, ...]
    required: int
    varargs: bool
    required_kwonly: int
    first_annotation: str
    span: Span


@dataclass(frozen=True)
class OptionExpr:
    """One option of a step or workflow call, as written.

    Attributes:
        keyword: The option (``retries``); ``**`` for options passed as ``**mapping``.
        source: The value's expression (``ast.unparse`` text).
        span: Where the value is.
        problem: Why the value cannot be evaluated, when the summary alone can
            tell (a class attribute, a ``**`` mapping); ``""`` otherwise.
    """

    keyword: str
    source: str
    span: Span
    problem: str = ""


@dataclass(frozen=True)
class StepDef:
    """A step found in a module.

    Attributes:
        name: The registered name (``reserve-inventory``).
        module: The module holding the ``Step`` object.
        attr: Its qualname there (``reserve_inventory``, ``OrderFlow.reserve``).
        function: Dotted reference to the step function as written (``_reserve``),
            ``""`` when it is not a plain reference (a lambda).
        options: ``retries``, ``timeout``, ``backoff`` and ``rollback_fn`` as
            written (:meth:`ProjectIndex.step_options` has their values).
        rollback: Dotted reference to ``rollback_fn`` as written, ``"<lambda>"``,
            ``"<expression>"`` for anything else, or ``""`` (none, or ``None``).
        rollback_sig: The signature of a lambda ``rollback_fn``.
        span: Position of the step's name argument.
        rollback_span: Position of the ``rollback_fn`` value.
    """

    name: str
    module: str
    attr: str
    function: str
    options: tuple[OptionExpr, ...] = ()
    rollback: str = ""
    rollback_sig: FuncSig | None = None
    span: Span = (1, 1, 1, 1)
    rollback_span: Span | None = None

    @property
    def ref(self) -> str:
        """Import reference ``module:attr``."""
        return f"{self.module}:{self.attr}"


@dataclass(frozen=True)
class WorkflowDef:
    """A workflow found in a module.

    Attributes:
        name: The registered name.
        module: The module defining it.
        style: ``functional`` (``workflow(..).run(fn)``), ``decorator`` or ``class``.
        function: Dotted reference to the body as written (``order_flow``,
            ``OrderFlow.run``); ``""`` when the body is not a reference (a lambda).
        class_name: The class of a class-style workflow.
        options: ``max_events`` and ``execution_timeout`` as written
            (:meth:`ProjectIndex.workflow_options` has their values).
        span: Position of the workflow's name argument.
    """

    name: str
    module: str
    style: Style
    function: str
    class_name: str | None = None
    options: tuple[OptionExpr, ...] = ()
    span: Span = (1, 1, 1, 1)


@dataclass
class ModuleSummary:
    """What discovery learned from one file's top level (plain data, cacheable).

    Attributes:
        module: Dotted module name.
        display_path: The file, as diagnostics show it.
        sha256: The file's hash.
        syntax_error: Set when Python cannot parse the file.
        symbols: The module's top-level symbol table.
        constants: Module-level names whose value options may use, by name
            (:func:`vrb_compile.constants.collect_constants`).
        steps: Steps defined here.
        workflows: Workflows defined here.
        functions: Signatures of top-level functions and methods, by qualname.
        waits_for_signals: The text mentions ``wait_for_signal`` (VRB304 candidate).
    """

    module: str
    display_path: str
    sha256: str
    syntax_error: SyntaxProblem | None = None
    symbols: ModuleSymbols = field(default_factory=lambda: ModuleSymbols(""))
    constants: dict[str, Constant] = field(default_factory=dict)
    steps: list[StepDef] = field(default_factory=list)
    workflows: list[WorkflowDef] = field(default_factory=list)
    functions: dict[str, FuncSig] = field(default_factory=dict)
    waits_for_signals: bool = False

    @property
    def needs_analysis(self) -> bool:
        """Whether the file needs a LibCST parse (it has a workflow or a signal-waiting step)."""
        return bool(self.workflows) or (self.waits_for_signals and bool(self.steps))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (for the cache)."""
        data: dict[str, Any] = {
            "module": self.module,
            "display_path": self.display_path,
            "sha256": self.sha256,
            "syntax_error": asdict(self.syntax_error) if self.syntax_error else None,
            "symbols": self.symbols.to_json(),
            "constants": {k: asdict(v) for k, v in sorted(self.constants.items())},
            "steps": [asdict(s) for s in self.steps],
            "workflows": [asdict(w) for w in self.workflows],
            "functions": {k: asdict(v) for k, v in sorted(self.functions.items())},
            "waits_for_signals": self.waits_for_signals,
        }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModuleSummary:
        """Inverse of :meth:`to_json`."""

        def sig(d: Mapping[str, Any]) -> FuncSig:
            return FuncSig(**{**d, "params": tuple(d["params"]), "span": tuple(d["span"])})

        def options(items: Sequence[Mapping[str, Any]]) -> tuple[OptionExpr, ...]:
            return tuple(OptionExpr(**{**o, "span": tuple(o["span"])}) for o in items)

        def step(d: Mapping[str, Any]) -> StepDef:
            return StepDef(
                **{
                    **d,
                    "options": options(d["options"]),
                    "span": tuple(d["span"]),
                    "rollback_span": tuple(d["rollback_span"]) if d["rollback_span"] else None,
                    "rollback_sig": sig(d["rollback_sig"]) if d["rollback_sig"] else None,
                }
            )

        return cls(
            module=data["module"],
            display_path=data["display_path"],
            sha256=data["sha256"],
            syntax_error=SyntaxProblem(**data["syntax_error"]) if data["syntax_error"] else None,
            symbols=ModuleSymbols.from_json(data["symbols"]),
            constants={k: Constant(**v) for k, v in data["constants"].items()},
            steps=[step(s) for s in data["steps"]],
            workflows=[
                WorkflowDef(**{**w, "options": options(w["options"]), "span": tuple(w["span"])})
                for w in data["workflows"]
            ],
            functions={k: sig(v) for k, v in data["functions"].items()},
            waits_for_signals=data["waits_for_signals"],
        )

    def shape(self) -> dict[str, Any]:
        """The parts other files' analysis depends on (positions left out)."""
        return {
            "module": self.module,
            "symbols": self.symbols.to_json(),
            "steps": sorted((s.name, s.attr, s.function) for s in self.steps),
            "workflows": sorted((w.name, w.function) for w in self.workflows),
            "functions": sorted(
                (k, v.is_async, v.params, v.required, v.varargs) for k, v in self.functions.items()
            ),
        }


# -- summarising one file ---------------------------------------------------


class _Spans:
    """ast offsets are UTF-8 byte offsets; diagnostics want 1-based characters."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _col(self, line: int, byte_col: int) -> int:
        if 0 < line <= len(self.lines):
            return len(self.lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "replace"))
        return byte_col

    def of(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None) or col
        return (line, self._col(line, col) + 1, end_line, self._col(end_line, end_col) + 1)


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _class_bindings(stmt: ast.stmt) -> set[str]:
    """Names a statement of a class body binds in the class's namespace."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {a.asname or a.name.split(".")[0] for a in stmt.names if a.name != "*"}
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    return {
        n.id
        for target in targets
        for n in ast.walk(target)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _signature(
    fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, spans: _Spans, *, method: bool
) -> FuncSig:
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    first = positional[1 if method else 0] if len(positional) > (1 if method else 0) else None
    annotation = ""
    if first is not None and first.annotation is not None:
        ann = first.annotation
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            annotation = ann.value
        else:
            annotation = dotted_name(ann) or ""
    return FuncSig(
        is_async=isinstance(fn, ast.AsyncFunctionDef),
        params=tuple(a.arg for a in positional),
        required=len(positional) - len(args.defaults),
        varargs=args.vararg is not None,
        required_kwonly=sum(1 for d in args.kw_defaults if d is None),
        first_annotation=annotation,
        span=spans.of(fn),
    )


class _Summariser:
    def __init__(self, source: SourceFile, tree: ast.Module) -> None:
        self.source = source
        self.spans = _Spans(source.text)
        self.symbols = build_symbols(tree, source.module, is_package=source.is_package)
        self.table = SymbolTable({source.module: self.symbols})
        self.summary = ModuleSummary(
            module=source.module,
            display_path=source.display_path,
            sha256=source.sha256,
            symbols=self.symbols,
            constants=collect_constants(tree, source.text),
            waits_for_signals="wait_for_signal" in source.text,
        )
        self.pending: dict[str, ast.Call] = {}
        # Names a class body has bound so far: a step decorator in it sees them first.
        self.class_scope: tuple[str, frozenset[str]] | None = None

    def is_sdk(self, node: ast.expr, names: tuple[str, ...]) -> bool:
        dotted = dotted_name(node)
        if dotted is None:
            return False
        return any(t.qname in names for t in self.table.resolve(self.source.module, dotted))

    def sdk_call(self, node: ast.expr, names: tuple[str, ...]) -> ast.Call | None:
        if isinstance(node, ast.Call) and self.is_sdk(node.func, names):
            return node
        return None

    def run(self, body: Sequence[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            self.summary.functions[stmt.name] = _signature(stmt, self.spans, method=False)
            self.decorated_function(stmt, None)
        elif isinstance(stmt, ast.ClassDef):
            self.class_def(stmt)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            name = targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None
            self.value(stmt.value, name)
        elif isinstance(stmt, ast.Expr):
            self.value(stmt.value, None)
        elif isinstance(stmt, ast.If):
            self.run(stmt.body)
            self.run(stmt.orelse)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            self.run(stmt.body)
            for handler in stmt.handlers:
                self.run(handler.body)
            self.run(stmt.orelse)
            self.run(stmt.finalbody)

    def value(self, value: ast.expr, name: str | None) -> None:
        if not isinstance(value, ast.Call):
            return
        call = self.sdk_call(value, _STEP)
        if call is not None and name is not None:
            fn = call.args[1] if len(call.args) > 1 else None
            for kw in call.keywords:
                if kw.arg == "fn":
                    fn = kw.value
            self.add_step(call, attr=name, function=dotted_name(fn) or "" if fn else "")
            return
        call = self.sdk_call(value, _WORKFLOW)
        if call is not None and name is not None:
            self.pending[name] = call
            return
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr == "run" and value.args:
            target = func.value
            workflow_call = self.sdk_call(target, _WORKFLOW)
            if workflow_call is None and isinstance(target, ast.Name):
                workflow_call = self.pending.get(target.id)
            if workflow_call is not None:
                self.add_workflow(workflow_call, "functional", dotted_name(value.args[0]) or "")

    def decorated_function(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, class_name: str | None
    ) -> None:
        qual = f"{class_name}.{fn.name}" if class_name else fn.name
        for decorator in fn.decorator_list:
            call = self.sdk_call(decorator, _STEP)
            if call is not None:
                self.add_step(call, attr=qual, function=qual)
                continue
            if class_name is None:
                call = self.sdk_call(decorator, _WORKFLOW)
                if call is None and isinstance(decorator, ast.Name):
                    call = self.pending.get(decorator.id)
                if (
                    call is None
                    and isinstance(decorator, ast.Attribute)
                    and decorator.attr == "run"
                ):
                    inner = decorator.value
                    call = self.sdk_call(inner, _WORKFLOW) or (
                        self.pending.get(inner.id) if isinstance(inner, ast.Name) else None
                    )
                if call is not None:
                    self.add_workflow(call, "decorator", qual)

    def class_def(self, cls: ast.ClassDef) -> None:
        bound: set[str] = set()
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                qual = f"{cls.name}.{item.name}"
                self.summary.functions[qual] = _signature(item, self.spans, method=True)
                self.class_scope = (cls.name, frozenset(bound))
                self.decorated_function(item, cls.name)
                self.class_scope = None
            bound.update(_class_bindings(item))
        for decorator in cls.decorator_list:
            call = self.sdk_call(decorator, _WORKFLOW)
            if call is not None:
                self.add_workflow(call, "class", f"{cls.name}.run", class_name=cls.name)

    def _name_span(self, call: ast.Call) -> tuple[str | None, Span]:
        node: ast.expr | None = call.args[0] if call.args else None
        for kw in call.keywords:
            if kw.arg == "name":
                node = kw.value
        name = _literal(node)
        return (name if isinstance(name, str) else None), self.spans.of(node or call)

    def options(self, call: ast.Call, keywords: tuple[str, ...]) -> tuple[OptionExpr, ...]:
        """The options among ``keywords`` given to ``call``, as written."""
        out: list[OptionExpr] = []
        for kw in call.keywords:
            if kw.arg is not None and kw.arg not in keywords:
                continue
            source, span = ast.unparse(kw.value), self.spans.of(kw.value)
            if kw.arg is None:
                problem = "the compiler reads only options given by keyword (retries=...)"
                out.append(OptionExpr("**", source, span, problem))
                continue
            problem = ""
            if self.class_scope is not None:
                cls, names = self.class_scope
                used = sorted(
                    n.id for n in ast.walk(kw.value) if isinstance(n, ast.Name) and n.id in names
                )
                if used:
                    # The decorator sees the class body's names first; the compiler does not.
                    problem = (
                        f"{used[0]} is an attribute of class {cls}: only module-level "
                        "constants are evaluated"
                    )
            out.append(OptionExpr(kw.arg, source, span, problem))
        return tuple(out)

    def add_step(self, call: ast.Call, *, attr: str, function: str) -> None:
        name, span = self._name_span(call)
        if name is None:
            return
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        rollback_node = kw.get("rollback_fn")
        rollback = ""
        rollback_sig = None
        if isinstance(rollback_node, ast.Lambda):
            rollback = "<lambda>"
            rollback_sig = _signature(rollback_node, self.spans, method=False)
        elif rollback_node is not None and not (
            isinstance(rollback_node, ast.Constant) and rollback_node.value is None
        ):
            rollback = dotted_name(rollback_node) or "<expression>"
        self.summary.steps.append(
            StepDef(
                name=name,
                module=self.source.module,
                attr=attr,
                function=function,
                options=self.options(call, _STEP_OPTIONS),
                rollback=rollback,
                rollback_sig=rollback_sig,
                span=span,
                rollback_span=self.spans.of(rollback_node) if rollback_node and rollback else None,
            )
        )

    def add_workflow(
        self, call: ast.Call, style: Style, function: str, *, class_name: str | None = None
    ) -> None:
        name, span = self._name_span(call)
        if name is None:
            return
        self.summary.workflows.append(
            WorkflowDef(
                name=name,
                module=self.source.module,
                style=style,
                function=function,
                class_name=class_name,
                options=self.options(call, _WORKFLOW_OPTIONS),
                span=span,
            )
        )


def summarise(source: SourceFile) -> ModuleSummary:
    """Summarise one file from its top level (no LibCST parse).

    A file with a syntax error gives a summary carrying only the error. The
    summary is built once per file and kept with it, and the file's ``ast``
    tree, bigger than its LibCST tree and of no further use, is dropped.
    """
    if isinstance(source._summary, ModuleSummary):
        return source._summary
    tree = source.ast_tree
    problem = source.syntax_error
    summary: ModuleSummary | None = None
    if tree is not None:
        try:
            summariser = _Summariser(source, tree)
            summariser.run(tree.body)
            summary = summariser.summary
        except RecursionError:  # within vrb_compile.limits, yet too deep from this stack
            problem = SyntaxProblem(too_deep(stack=True), 1, 1, LIMIT_HINT)
    if summary is None:
        summary = ModuleSummary(
            module=source.module,
            display_path=source.display_path,
            sha256=source.sha256,
            syntax_error=problem,
            symbols=ModuleSymbols(source.module, source.is_package),
        )
    source._summary = summary
    source.drop_ast()
    return summary
