"""State, frames and reporting shared by the checker's analyser classes.

The analyser is one class split by responsibility over four modules, each
building on the previous one: :mod:`.base` (per-file state, frames, reporting,
flow-aware local bindings), :mod:`.calls` (what a call, reference or await
means), :mod:`.walk` (statements and expressions of a body) and
:mod:`.engine` (workflow bodies, helper following, signal-waiting steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst

from ..diagnostics import Diagnostic
from ..discover import ProjectIndex, WorkflowDef, cst_dotted
from ..names import Target
from ..rules.registry import RULES
from ..source import SourceFile, SyntaxProblem
from .scope import GlobalSets, LocalScope, kids

__all__ = ["AnalyserBase", "FileAnalysis", "Frame", "syntax_diagnostic"]

#: Codes about what the lowering cannot turn into graph nodes. A sync helper is
#: not lowered (it runs as code inside a code node), so only determinism matters there.
_LOWERING_ONLY = frozenset(
    {"VRB201", "VRB202", "VRB203", "VRB204", "VRB205", "VRB209", "VRB211", "VRB305", "VRB306"}
)


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
class Frame:
    """Where the walker is: one function (workflow body, helper or step) being checked.

    Attributes:
        source: The file holding the function.
        fn: The function.
        top: The top-level statement enclosing it (positions are computed per statement).
        scope: Its locals.
        chain: Function names from the workflow body down to this one.
        self_class: The class, for a method (``self.x`` means ``Cls.x``).
        in_comprehension: Depth of comprehensions around the current node.
        in_parallel: Depth of ``ctx.parallel`` branches around the current node.
        sync: A plain ``def`` helper: run as code, not lowered (see ``_LOWERING_ONLY``).
        bound: Flow-aware aliases (below).
        conditional: Depth of compound statements around the current statement.
    """

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


def syntax_diagnostic(source: SourceFile, problem: SyntaxProblem) -> Diagnostic:
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
        problem.hint or rule.hint,
    )


class AnalyserBase:
    """Per-file state and reporting; the walking methods are defined by subclasses."""

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
        self.seen_helpers: set[tuple[str, str, frozenset[str], bool, bool]] = set()
        self.workflow: WorkflowDef | None = None
        self.reported: set[tuple[str, int, int, str]] = set()

    def report(
        self, frame: Frame, node: cst.CSTNode, code: str, message: str, hint: str = ""
    ) -> None:
        if frame.sync and code in _LOWERING_ONLY:
            return
        rule = RULES[code]
        line, col, end_line, end_col = frame.source.position(node, top=frame.top)
        key = (frame.source.display_path, line, col, code)
        if key in self.reported:
            return
        self.reported.add(key)
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

    def resolve(self, frame: Frame, dotted: str) -> tuple[Target, ...]:
        return self.project.symbols.resolve(frame.source.module, dotted)

    def global_sets(self, source: SourceFile) -> GlobalSets:
        """Whether a module-level name of ``source`` holds a set (or, called, returns one)."""
        symbols = self.project.symbols

        def is_set(dotted: str, called: bool) -> bool:
            kinds = ("def",) if called else ("data",)
            targets = symbols.resolve(source.module, dotted)
            return bool(targets) and all(t.is_set and t.kind in kinds for t in targets)

        return is_set

    @staticmethod
    def alias_of(frame: Frame, name: str) -> list[str] | None:
        """The global references local ``name`` may hold here, or ``None`` if it holds none."""
        if name in frame.bound:
            return frame.bound[name] or None
        return frame.scope.aliases.get(name)

    def bind(self, frame: Frame, name: str, value: cst.BaseExpression | None) -> None:
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

    def loop_bindings(self, frame: Frame, body: cst.CSTNode) -> None:
        """A loop body runs again after its own rebindings: seed them before walking it."""
        frame.conditional += 1
        for node in _assignments(body):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.bind(frame, target.target.value, node.value)
        frame.conditional -= 1

    def _targets(self, frame: Frame, dotted: str) -> tuple[Target, ...]:
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

    # -- defined by the subclasses ---------------------------------------------

    def expr(self, frame: Frame, node: cst.CSTNode) -> None:
        """Check one expression (see :class:`.walk.StatementWalker`)."""
        raise NotImplementedError

    def block(self, frame: Frame, suite: cst.BaseSuite | Sequence[cst.BaseStatement]) -> None:
        """Check a block of statements (see :class:`.walk.StatementWalker`)."""
        raise NotImplementedError

    def follow(
        self, frame: Frame, call: cst.Call | None, qualname: str, source: SourceFile
    ) -> None:
        """Check a helper a call (or, ``call`` None, a reference) reaches (see :class:`.engine.Analyser`)."""
        raise NotImplementedError


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


def short(frame: Frame, node: cst.CSTNode) -> str:
    dotted = cst_dotted(node) if isinstance(node, cst.BaseExpression) else None
    if dotted is not None:
        return dotted
    text = frame.source.segment(node).strip()
    return text if len(text) <= 40 else text[:37] + "..."
