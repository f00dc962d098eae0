"""What discovery learns from one file, read from its top level only.

Each file gives a :class:`ModuleSummary` (plain data, cached by the file's
hash): its symbol table, the steps and workflows it defines (all three styles,
options read from literals) and the signatures of its top-level functions and
methods. Only top-level statements (and the bodies of top-level classes) are
read, from Python's ``ast`` tree, which is about ten times cheaper than a
LibCST parse. :mod:`vrb_compile.discover` joins the summaries of a project.

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
from datetime import timedelta
from typing import Any, Literal

from .names import ModuleSymbols, SymbolTable, build_symbols, dotted_name
from .source import SourceFile, SyntaxProblem

__all__ = [
    "FuncSig",
    "ModuleSummary",
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
class StepDef:
    """A step found in a module.

    Attributes:
        name: The registered name (``reserve-inventory``).
        module: The module holding the ``Step`` object.
        attr: Its qualname there (``reserve_inventory``, ``OrderFlow.reserve``).
        function: Dotted reference to the step function as written (``_reserve``),
            ``""`` when it is not a plain reference (a lambda).
        retries: ``retries=`` when literal, else 0.
        timeout: ``timeout=`` in seconds when literal.
        backoff: ``backoff=`` as ``{"initial", "factor", "max"}`` when literal.
        rollback: Dotted reference to ``rollback_fn`` as written, ``"<lambda>"``, or ``""``.
        rollback_sig: The signature of a lambda ``rollback_fn``.
        span: Position of the step's name argument.
        rollback_span: Position of the ``rollback_fn`` value.
    """

    name: str
    module: str
    attr: str
    function: str
    retries: int = 0
    timeout: float | None = None
    backoff: dict[str, float] | None = None
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
        max_events: ``max_events=`` when literal.
        execution_timeout: ``execution_timeout=`` in seconds when literal.
        span: Position of the workflow's name argument.
    """

    name: str
    module: str
    style: Style
    function: str
    class_name: str | None = None
    max_events: int | None = None
    execution_timeout: float | None = None
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

        def step(d: Mapping[str, Any]) -> StepDef:
            return StepDef(
                **{
                    **d,
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
            steps=[step(s) for s in data["steps"]],
            workflows=[WorkflowDef(**{**w, "span": tuple(w["span"])}) for w in data["workflows"]],
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


def _duration(node: ast.expr | None) -> float | None:
    from runtime.durations import parse_duration

    value = _literal(node)
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_duration(value)
    except Exception:  # a malformed literal is the runtime's error to report
        return None


def _backoff(node: ast.expr | None) -> dict[str, float] | None:
    from runtime.durations import Backoff

    if node is None:
        return None
    if isinstance(node, ast.Call):
        kwargs = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
        args = [_literal(a) for a in node.args]
        for key, value in zip(("initial", "factor", "max"), args, strict=False):
            kwargs[key] = value
        raw: Any = kwargs
    else:
        raw = _literal(node)
    if not isinstance(raw, dict) or any(v is None for v in raw.values()):
        return None
    try:
        return Backoff.coerce(raw).to_dict()
    except Exception:  # the runtime reports a malformed backoff when it registers it
        return None


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
            waits_for_signals="wait_for_signal" in source.text,
        )
        self.pending: dict[str, ast.Call] = {}

    def is_sdk(self, node: ast.expr, names: tuple[str, ...]) -> bool:
        dotted = dotted_name(node)
        if dotted is None:
            return False
        return any(t.qname in names for t in self.table.resolve(self.source.module, dotted))

    def sdk_call(self, node: ast.expr, names: tuple[str, ...]) -> ast.Call | None:
        if isinstance(node, ast.Call) and self.is_sdk(node.func, names):
            return node
        return None

    def duration(self, node: ast.expr | None) -> float | None:
        """A literal duration, including ``timedelta(minutes=2)`` with literal arguments."""
        if isinstance(node, ast.Call) and self.is_sdk(node.func, ("datetime.timedelta",)):
            args = [_literal(a) for a in node.args]
            kwargs = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
            values = [*args, *kwargs.values()]
            if any(not isinstance(v, int | float) or isinstance(v, bool) for v in values):
                return None
            try:
                return timedelta(*args, **kwargs).total_seconds()
            except (TypeError, OverflowError, ValueError):
                return None
        return _duration(node)

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
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                qual = f"{cls.name}.{item.name}"
                self.summary.functions[qual] = _signature(item, self.spans, method=True)
                self.decorated_function(item, cls.name)
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

    def add_step(self, call: ast.Call, *, attr: str, function: str) -> None:
        name, span = self._name_span(call)
        if name is None:
            return
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        retries = _literal(kw.get("retries"))
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
                retries=retries
                if isinstance(retries, int) and not isinstance(retries, bool)
                else 0,
                timeout=self.duration(kw.get("timeout")),
                backoff=_backoff(kw.get("backoff")),
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
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        max_events = _literal(kw.get("max_events"))
        self.summary.workflows.append(
            WorkflowDef(
                name=name,
                module=self.source.module,
                style=style,
                function=function,
                class_name=class_name,
                max_events=max_events
                if isinstance(max_events, int) and not isinstance(max_events, bool)
                else None,
                execution_timeout=self.duration(kw.get("execution_timeout")),
                span=span,
            )
        )


def summarise(source: SourceFile) -> ModuleSummary:
    """Summarise one file from its top level (no LibCST parse).

    A file with a syntax error gives a summary carrying only the error.
    """
    tree = source.ast_tree
    if tree is None:
        return ModuleSummary(
            module=source.module,
            display_path=source.display_path,
            sha256=source.sha256,
            syntax_error=source.syntax_error,
            symbols=ModuleSymbols(source.module, source.is_package),
        )
    summariser = _Summariser(source, tree)
    summariser.run(tree.body)
    return summariser.summary
