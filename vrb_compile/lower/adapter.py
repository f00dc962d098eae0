"""The discovery index seen through the :class:`~.context.Resolver` protocol."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libcst as cst

from ..discover import Index, StepInfo, WorkflowInfo, cst_dotted
from ..source import SourceFile
from .context import Span, StepLike

__all__ = ["IndexResolver", "signals_in_step"]


class _Bound(cst.CSTVisitor):
    """Names bound anywhere in a function (they shadow module-level steps)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Param(self, node: cst.Param) -> None:
        self.names.add(node.name.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)


class IndexResolver:
    """Answers lowering's questions for one workflow from the discovery index.

    Args:
        index: The discovery index of the analysed sources.
        workflow: The workflow being lowered.
    """

    def __init__(self, index: Index, workflow: WorkflowInfo) -> None:
        self.index = index
        self.source = workflow.body_source
        self.self_class = workflow.definition.class_name if workflow.style == "class" else None
        function = workflow.function
        bound = _Bound()
        if function is not None:
            function.visit(bound)
        self.local_names = frozenset(bound.names)
        self._helper_sources: dict[int, SourceFile] = {}
        self._methods: dict[int, str] = {}

    def step_for_call(self, func: cst.BaseExpression) -> StepLike | None:
        """The step a callee refers to (through imports, aliases, ``self.``)."""
        return self.index.step_for_call(self.source, func, self.local_names, self.self_class)

    def helper_for_call(self, func: cst.BaseExpression) -> cst.FunctionDef | None:
        """The analysed helper function a callee refers to (``self.m`` in a class body)."""
        dotted = cst_dotted(func)
        head, _, rest = (dotted or "").partition(".")
        if self.self_class is not None and head == "self" and rest and "." not in rest:
            method = self.source.find_function(f"{self.self_class}.{rest}")
            if method is not None:
                self._helper_sources[id(method)] = self.source
                self._methods[id(method)] = self.self_class
            return method
        if dotted in self.local_names:
            return None
        found = self.index.helper_for_call(self.source, func)
        if found is None:
            return None
        source, function = found
        self._helper_sources[id(function)] = source
        return function

    @contextmanager
    def inside(self, helper: cst.FunctionDef) -> Iterator[None]:
        """Resolve names as ``helper``'s own module does while its body is lowered.

        An async helper imported from another module calls the steps and helpers
        *its* module imports; resolved in the workflow's module they would be
        unknown, or other objects of the same name.
        """
        source = self._helper_sources.get(id(helper), self.source)
        bound = _Bound()
        helper.visit(bound)
        saved = self.source, self.local_names
        self.source, self.local_names = source, frozenset(bound.names)
        try:
            yield
        finally:
            self.source, self.local_names = saved

    def helper_module(self, helper: cst.FunctionDef) -> str:
        """The module defining ``helper``."""
        return self._helper_sources.get(id(helper), self.source).module

    def helper_class(self, helper: cst.FunctionDef) -> str | None:
        """The workflow class, for a helper that is one of its methods."""
        return self._methods.get(id(helper))

    def is_gather(self, func: cst.BaseExpression) -> bool:
        """Whether the callee is ``asyncio.gather`` (however imported)."""
        dotted = cst_dotted(func)
        if dotted is None:
            return False
        targets = self.index.project.symbols.resolve(self.source.module, dotted)
        return any(target.qname == "asyncio.gather" for target in targets) or dotted == (
            "asyncio.gather"
        )

    def lines(self, node: cst.CSTNode) -> tuple[int, int]:
        """1-based first and last line of a node of the body or of an inlined helper."""
        sources = [self.source, *self._helper_sources.values()]
        for source in sources:
            try:
                line, _, end_line, _ = source.position(node)
            except KeyError:
                continue
            return line, end_line
        raise KeyError(f"node not found in {self.source.display_path}")

    def span(self, node: cst.CSTNode) -> Span:
        """Path, lines and columns of a node of the body or of an inlined helper."""
        for source in [self.source, *self._helper_sources.values()]:
            try:
                line, column, end_line, end_column = source.position(node)
            except KeyError:
                continue
            return Span(source.display_path, line, column, end_line, end_column)
        raise KeyError(f"node not found in {self.source.display_path}")

    def code(self, node: cst.CSTNode) -> str:
        """Source text of ``node``."""
        tree = self.source.tree
        module = tree if tree is not None else cst.Module([])
        return module.code_for_node(node)


class _SignalWaits(cst.CSTVisitor):
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.found: list[str] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "wait_for_signal" and node.args:
            name = next(
                (a for a in node.args if a.keyword is None or a.keyword.value == "name"), None
            )
            if name is not None:
                self.found.append(self.source.segment(name.value))


def signals_in_step(step: StepInfo) -> list[str]:
    """Source of the name expression of every ``wait_for_signal`` call in a step's body."""
    function, source = step.function, step.function_module
    if function is None or source is None:
        return []
    visitor = _SignalWaits(source)
    function.visit(visitor)
    return visitor.found
