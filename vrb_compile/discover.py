"""Discovery: every step and workflow of the analysed files, across modules.

Each file is summarised on its own (:mod:`vrb_compile.summary`, plain data,
cached); :class:`ProjectIndex` joins the summaries of every analysed file
(the symbol table across modules, steps by qualified name). :func:`discover`
wraps that in an :class:`Index` whose :class:`StepInfo`/:class:`WorkflowInfo`
expose the LibCST nodes the lowering needs (parsed on first access).

The summary types are re-exported here, so ``from vrb_compile.discover import
ModuleSummary, StepDef, summarise`` keeps working.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import libcst as cst

from .names import SymbolTable, Target
from .options import FlowOptions, OptionProblem, StepOptions, evaluate_options
from .source import SourceFile, index_functions
from .summary import FuncSig, ModuleSummary, Span, StepDef, Style, WorkflowDef, summarise

__all__ = [
    "FlowOptions",
    "FuncSig",
    "Index",
    "ModuleSummary",
    "OptionProblem",
    "ProjectIndex",
    "Span",
    "StepDef",
    "StepInfo",
    "StepOptions",
    "Style",
    "WorkflowDef",
    "WorkflowInfo",
    "cst_dotted",
    "discover",
    "find_function",
    "function_index",
    "summarise",
]


# -- the project index --------------------------------------------------------


class ProjectIndex:
    """Every analysed module's summary, joined (plain data; sent to worker processes).

    Attributes:
        summaries: By module name (the first file by display path wins a clash).
        symbols: The joined symbol table.
        steps_by_qname: Every step, by the qualified name of its ``Step`` object.
        option_problems: Every option that could not be evaluated, or holds a
            value the runtime would refuse (VRB307), in file order.
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
        # Options are evaluated once, for the checker and the lowering alike, so what
        # `check` accepts `build` lowers with the same values.
        self._step_options, self._workflow_options, self.option_problems = evaluate_options(self)

    def step_options(self, step: StepDef) -> StepOptions:
        """The evaluated options of ``step`` (defaults for those VRB307 reports)."""
        return self._step_options.get(step, StepOptions())

    def workflow_options(self, workflow: WorkflowDef) -> FlowOptions:
        """The evaluated options of ``workflow`` (defaults for those VRB307 reports)."""
        return self._workflow_options.get(workflow, FlowOptions())

    def fingerprint(self) -> str:
        """A hash of every file's shape (not its positions or bodies), for cache keys.

        The evaluated options are part of it: a constant edited in one module
        changes what another module's workflow is checked with (VRB305 reads
        ``max_events``).
        """
        shapes = [s.shape() for s in self.all_summaries]
        options = [
            [
                *(_plain(self.step_options(st)) for st in s.steps),
                *(_plain(self.workflow_options(wf)) for wf in s.workflows),
            ]
            for s in self.all_summaries
        ]
        blob = json.dumps([shapes, options], sort_keys=True, separators=(",", ":"), default=list)
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


def _plain(options: StepOptions | FlowOptions) -> Mapping[str, object]:
    return asdict(options)


# -- the LibCST-level view (for the lowering) ------------------------------


def function_index(tree: cst.Module) -> dict[str, tuple[cst.FunctionDef, cst.CSTNode]]:
    """Every top-level function and class method of ``tree`` by qualname, with the
    top-level statement holding it (built anew: :attr:`SourceFile.functions` keeps
    the one of a file's own tree)."""
    return index_functions(tree)


def find_function(tree: cst.Module, qualname: str) -> cst.FunctionDef | None:
    """The top-level function or method ``qualname`` (``f`` or ``Cls.m``) of ``tree``."""
    found = index_functions(tree).get(qualname)
    return found[0] if found is not None else None


@dataclass(frozen=True)
class StepInfo:
    """A step, for the lowering and the graph.

    Attributes:
        name: Registered name (``reserve-inventory``).
        ref: Import reference (``shop.steps:reserve_inventory``, ``shop.flows:OrderFlow.reserve``).
        retries: Further attempts after a failure.
        timeout: Seconds per attempt, or ``None``.
        backoff: ``{"initial", "factor", "max"}``, or ``None`` when not given.
        rollback_ref: ``module:attr`` of ``rollback_fn``, if any.
        source: The file defining the step.
        definition: The summary record.
    """

    name: str
    ref: str
    retries: int
    timeout: float | None
    backoff: Mapping[str, float] | None
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
        return self.function_module.find_function(self.function_qualname)


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow, for the checker and the lowering.

    Attributes:
        name: Registered name.
        qualname: ``module:qualname`` of the body (``shop.flows:order_flow``,
            ``shop.flows:OrderFlow.run``).
        style: ``functional``, ``decorator`` or ``class``.
        max_events: Circuit breaker on the event log, or ``None``.
        execution_timeout: Circuit breaker on wall time in seconds, or ``None``.
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
        return self.body_source.find_function(self.function_qualname)

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
        options = self.project.step_options(step)
        return StepInfo(
            name=step.name,
            ref=step.ref,
            retries=options.retries,
            timeout=options.timeout,
            backoff=options.backoff,
            rollback_ref=options.rollback_ref,
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
        options = self.project.workflow_options(wf)
        return WorkflowInfo(
            name=wf.name,
            qualname=f"{body_source.module}:{qual}",
            style=wf.style,
            max_events=options.max_events,
            execution_timeout=options.execution_timeout,
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
        if helper_source is None:
            return None
        fn = helper_source.find_function(target[1])
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
