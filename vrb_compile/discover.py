"""Discovery: every step and workflow of the analysed files, in all three styles.

Discovery reads only top-level statements (and the bodies of top-level
classes), from Python's ``ast`` tree, which is about ten times cheaper than a
LibCST parse. Each file gives a :class:`ModuleSummary` (plain data, cached by
the file's hash); :class:`ProjectIndex` joins the summaries of every analysed
file. :func:`discover` wraps that in an :class:`Index` whose
:class:`StepInfo`/:class:`WorkflowInfo` expose the LibCST nodes the lowering
needs (parsed on first access).

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
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, Literal

import libcst as cst

from .names import ModuleSymbols, SymbolTable, Target, build_symbols, dotted_name
from .source import SourceFile, SyntaxProblem

__all__ = [
    "FuncSig",
    "Index",
    "ModuleSummary",
    "ProjectIndex",
    "StepDef",
    "StepInfo",
    "WorkflowDef",
    "WorkflowInfo",
    "discover",
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


# -- the project index --------------------------------------------------------


class ProjectIndex:
    """Every analysed module's summary, joined (plain data; sent to worker processes).

    Attributes:
        summaries: By module name (the first file by display path wins a clash).
        symbols: The joined symbol table.
        steps_by_qname: Every step, by the qualified name of its ``Step`` object.
    """

    def __init__(self, summaries: Sequence[ModuleSummary]) -> None:
        ordered = sorted(summaries, key=lambda s: s.display_path)
        self.all_summaries = ordered
        self.summaries: dict[str, ModuleSummary] = {}
        for summary in ordered:
            self.summaries.setdefault(summary.module, summary)
        self.symbols = SymbolTable({m: s.symbols for m, s in self.summaries.items()})
        self.steps_by_qname: dict[str, StepDef] = {}
        for summary in ordered:
            for step in summary.steps:
                self.steps_by_qname.setdefault(f"{step.module}.{step.attr}", step)

    def fingerprint(self) -> str:
        """A hash of every file's shape (not its positions or bodies), for cache keys."""
        shapes = [s.shape() for s in self.all_summaries]
        blob = json.dumps(shapes, sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(blob.encode()).hexdigest()

    def step_for_targets(self, targets: Sequence[Target]) -> StepDef | None:
        """The step among resolved ``targets``, if any."""
        for target in targets:
            step = self.steps_by_qname.get(target.qname)
            if step is not None:
                return step
        return None

    def function_target(self, module: str, dotted: str) -> tuple[str, str] | None:
        """``(module, qualname)`` of the function ``dotted`` names in ``module``, if analysed."""
        for target in self.symbols.resolve(module, dotted):
            if target.kind in ("def", "asyncdef", "step", "workflow"):
                split = self.split_qname(target.qname)
                if split is not None:
                    return split
        return None

    def split_qname(self, qname: str) -> tuple[str, str] | None:
        """``("shop.steps", "reserve")`` for ``shop.steps.reserve`` when the module is analysed."""
        parts = qname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in self.summaries:
                return module, ".".join(parts[cut:])
        return None

    def ref(self, module: str, dotted: str) -> str | None:
        """``module:attr`` import reference of ``dotted`` as used in ``module``."""
        targets = self.symbols.resolve(module, dotted)
        if not targets:
            return None
        split = self.split_qname(targets[0].qname)
        if split is not None:
            return f"{split[0]}:{split[1]}"
        head, _, tail = targets[0].qname.rpartition(".")
        return f"{head}:{tail}" if head else None


# -- the LibCST-level view (for the lowering) ------------------------------


# LibCST modules cannot be weakly referenced; the tree is kept with its index so
# an id is never reused while its entry lives, and the memo is bounded.
_INDEXES: dict[int, tuple[cst.Module, dict[str, tuple[cst.FunctionDef, cst.CSTNode]]]] = {}


def function_index(tree: cst.Module) -> dict[str, tuple[cst.FunctionDef, cst.CSTNode]]:
    """Every top-level function and class method of ``tree`` by qualname, with the
    top-level statement holding it (built once per tree)."""
    entry = _INDEXES.get(id(tree))
    if entry is not None and entry[0] is tree:
        return entry[1]
    index: dict[str, tuple[cst.FunctionDef, cst.CSTNode]] = {}
    for stmt in tree.body:
        inner = _compound_bodies(stmt) if isinstance(stmt, cst.If | cst.Try) else [stmt]
        for node in inner:
            if isinstance(node, cst.FunctionDef):
                # the last definition wins, as at runtime, except inside if/try
                if node is stmt or node.name.value not in index:
                    index[node.name.value] = (node, stmt)
            elif isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
                for item in node.body.body:
                    if isinstance(item, cst.FunctionDef):
                        index[f"{node.name.value}.{item.name.value}"] = (item, stmt)
    if len(_INDEXES) > 512:
        _INDEXES.clear()
    _INDEXES[id(tree)] = (tree, index)
    return index


def find_function(tree: cst.Module, qualname: str) -> cst.FunctionDef | None:
    """The top-level function or method ``qualname`` (``f`` or ``Cls.m``) of ``tree``."""
    found = function_index(tree).get(qualname)
    return found[0] if found is not None else None


def _compound_bodies(stmt: cst.If | cst.Try) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    blocks: list[cst.BaseSuite] = [stmt.body]
    if isinstance(stmt, cst.If) and stmt.orelse is not None:
        blocks.append(stmt.orelse.body)
    if isinstance(stmt, cst.Try):
        blocks.extend(h.body for h in stmt.handlers)
    for block in blocks:
        if isinstance(block, cst.IndentedBlock):
            out.extend(block.body)
    return out


@dataclass(frozen=True)
class StepInfo:
    """A step, for the lowering and the graph.

    Attributes:
        name: Registered name (``reserve-inventory``).
        ref: Import reference (``shop.steps:reserve_inventory``, ``shop.flows:OrderFlow.reserve``).
        retries: Further attempts after a failure.
        timeout: Seconds per attempt, or ``None``.
        backoff: ``{"initial", "factor", "max"}`` when given literally.
        rollback_ref: ``module:attr`` of ``rollback_fn``, if any.
        source: The file defining the step.
        definition: The summary record.
    """

    name: str
    ref: str
    retries: int
    timeout: float | None
    backoff: dict[str, float] | None
    rollback_ref: str | None
    source: SourceFile
    definition: StepDef
    function_module: SourceFile | None = None
    function_qualname: str | None = None

    @property
    def function(self) -> cst.FunctionDef | None:
        """The step function's LibCST node, when its file is among the analysed sources."""
        if self.function_module is None or self.function_qualname is None:
            return None
        tree = self.function_module.tree
        return find_function(tree, self.function_qualname) if tree is not None else None


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow, for the checker and the lowering.

    Attributes:
        name: Registered name.
        qualname: ``module:qualname`` of the body (``shop.flows:order_flow``,
            ``shop.flows:OrderFlow.run``).
        style: ``functional``, ``decorator`` or ``class``.
        max_events: Circuit breaker, when literal.
        execution_timeout: Seconds, when literal.
        source: The file defining the workflow.
        body_source: The file holding the body function (usually ``source``).
        definition: The summary record.
    """

    name: str
    qualname: str
    style: Style
    max_events: int | None
    execution_timeout: float | None
    source: SourceFile
    body_source: SourceFile
    definition: WorkflowDef
    function_qualname: str

    @property
    def function(self) -> cst.FunctionDef | None:
        """The body's LibCST node (``run`` for a class), or ``None`` if not found."""
        tree = self.body_source.tree
        return find_function(tree, self.function_qualname) if tree is not None else None

    @property
    def class_node(self) -> cst.ClassDef | None:
        """The class of a class-style workflow."""
        tree = self.source.tree
        if tree is None or self.definition.class_name is None:
            return None
        for stmt in tree.body:
            if isinstance(stmt, cst.ClassDef) and stmt.name.value == self.definition.class_name:
                return stmt
        return None

    @property
    def ctx_param(self) -> str | None:
        """Name of the WorkflowContext parameter."""
        params = self._params()
        return params[0] if params else None

    @property
    def params(self) -> tuple[str, ...]:
        """The run parameters after the context (and ``self``)."""
        return tuple(self._params()[1:])

    def _params(self) -> list[str]:
        fn = self.function
        if fn is None:
            return []
        names = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        return names[1:] if self.style == "class" else names


class Index:
    """Every step and workflow of the analysed files, across modules.

    Attributes:
        project: The plain-data index.
        sources: The files, by module name.
        steps: Every step, by registered name (the first definition wins a duplicate).
        workflows: Every workflow, sorted by (path, line).
    """

    def __init__(
        self,
        project: ProjectIndex,
        sources: Sequence[SourceFile],
        context: Sequence[SourceFile] = (),
    ) -> None:
        self.project = project
        context_paths = {s.display_path for s in context}
        by_path = {s.display_path: s for s in (*sources, *context)}
        self.sources: dict[str, SourceFile] = {}
        for summary in project.all_summaries:
            source = by_path.get(summary.display_path)
            if source is not None:
                self.sources.setdefault(summary.module, source)
        self.steps: dict[str, StepInfo] = {}
        self.workflows: list[WorkflowInfo] = []
        for summary in project.all_summaries:
            source = by_path.get(summary.display_path)
            if source is None:
                continue
            for step in summary.steps:
                if step.name not in self.steps:
                    self.steps[step.name] = self._step_info(step, source)
            if summary.display_path in context_paths:
                continue
            for wf in summary.workflows:
                info = self._workflow_info(wf, source)
                if info is not None:
                    self.workflows.append(info)

    def _step_info(self, step: StepDef, source: SourceFile) -> StepInfo:
        fn_module: SourceFile | None = None
        fn_qual: str | None = None
        if step.function:
            target = self.project.function_target(step.module, step.function)
            if "." in step.attr and step.function == step.attr:
                target = (step.module, step.attr)
            if target is not None:
                fn_module, fn_qual = self.sources.get(target[0]), target[1]
        rollback_ref = None
        if step.rollback == "<lambda>":
            rollback_ref = f"{step.module}:<lambda>"
        elif step.rollback:
            rollback_ref = self.project.ref(step.module, step.rollback)
        return StepInfo(
            name=step.name,
            ref=step.ref,
            retries=step.retries,
            timeout=step.timeout,
            backoff=step.backoff,
            rollback_ref=rollback_ref,
            source=source,
            definition=step,
            function_module=fn_module,
            function_qualname=fn_qual,
        )

    def _workflow_info(self, wf: WorkflowDef, source: SourceFile) -> WorkflowInfo | None:
        if wf.style == "class" or wf.style == "decorator":
            body_source, qual = source, wf.function
        else:
            target = self.project.function_target(wf.module, wf.function) if wf.function else None
            if target is None:
                body_source, qual = source, wf.function
            else:
                body_source = self.sources.get(target[0], source)
                qual = target[1]
        return WorkflowInfo(
            name=wf.name,
            qualname=f"{body_source.module}:{qual}",
            style=wf.style,
            max_events=wf.max_events,
            execution_timeout=wf.execution_timeout,
            source=source,
            body_source=body_source,
            definition=wf,
            function_qualname=qual,
        )

    def step_for_call(
        self,
        source: SourceFile,
        func: cst.BaseExpression,
        local_names: frozenset[str] = frozenset(),
        self_class: str | None = None,
    ) -> StepInfo | None:
        """Which step, if any, the callee expression ``func`` in ``source`` refers to.

        Args:
            source: The file the call is in.
            func: The callee (``reserve``, ``steps.reserve``, ``self.reserve``).
            local_names: Names bound locally in the enclosing function (they shadow globals).
            self_class: For a method body, its class (``self.x`` means ``Cls.x``).
        """
        dotted = cst_dotted(func)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if self_class is not None and head == "self" and rest and "." not in rest:
            qname = f"{source.module}.{self_class}.{rest}"
            step = self.project.steps_by_qname.get(qname)
        elif head in local_names:
            return None
        else:
            step = self.project.step_for_targets(
                self.project.symbols.resolve(source.module, dotted)
            )
        return self.steps.get(step.name) if step is not None else None

    def helper_for_call(
        self, source: SourceFile, func: cst.BaseExpression
    ) -> tuple[SourceFile, cst.FunctionDef] | None:
        """The analysed function (module-local or imported) a callee refers to."""
        dotted = cst_dotted(func)
        if dotted is None:
            return None
        target = self.project.function_target(source.module, dotted)
        if target is None:
            return None
        helper_source = self.sources.get(target[0])
        if helper_source is None or helper_source.tree is None:
            return None
        fn = find_function(helper_source.tree, target[1])
        return (helper_source, fn) if fn is not None else None


def cst_dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a LibCST Name/Attribute chain, else ``None``."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def discover(files: Sequence[SourceFile], *, context: Sequence[SourceFile] = ()) -> Index:
    """Find every step and workflow in ``files`` (all three styles, across modules).

    Args:
        files: The files whose workflows are wanted.
        context: Further files whose steps and helpers ``files`` may use
            (:func:`vrb_compile.imports.load_context` finds the ones they
            import); their own workflows are not listed.
    """
    summaries = [summarise(f) for f in (*files, *context)]
    return Index(ProjectIndex(summaries), files, context)
