"""What lowering needs from discovery, and the state it threads through a body.

Lowering is written against :class:`Resolver`, a small protocol, so it stays a
pure function of the CST and of what discovery found: :mod:`.adapter` wraps the
discovery index in it, tests may use any object with these methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import libcst as cst

from ..errors import VrbCompileError

__all__ = ["LoweringError", "Resolver", "Span", "StepLike"]


class LoweringError(VrbCompileError, ValueError):
    """A workflow body holds something the graph cannot express.

    The checker reports these constructs first; this is the backstop when
    lowering is called on code the checker did not accept.

    Attributes:
        path: Source file.
        line: 1-based line of the construct.
        workflow: The workflow being lowered.
    """

    def __init__(self, path: str, line: int, workflow: str, message: str) -> None:
        self.path = path
        self.line = line
        self.workflow = workflow
        super().__init__(f"{path}:{line}: cannot lower workflow {workflow!r}: {message}")


@dataclass(frozen=True)
class Span:
    """A range of a source file: 1-based lines and columns, ``end_column`` exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int


class StepLike(Protocol):
    """A step as discovery describes it."""

    @property
    def name(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def retries(self) -> int: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def backoff(self) -> Mapping[str, float] | None: ...
    @property
    def rollback_ref(self) -> str | None: ...


class Resolver(Protocol):
    """Answers the questions lowering asks about one workflow's source."""

    def step_for_call(self, func: cst.BaseExpression) -> StepLike | None:
        """The step an awaited callee expression refers to, if any."""

    def helper_for_call(self, func: cst.BaseExpression) -> cst.FunctionDef | None:
        """The module-local ``async def`` helper a callee refers to, if any."""

    def helper_module(self, helper: cst.FunctionDef) -> str:
        """The dotted module defining a helper returned by :meth:`helper_for_call`."""

    def inside(self, helper: cst.FunctionDef) -> AbstractContextManager[None]:
        """Resolve names in ``helper``'s module while its body is lowered."""

    def helper_class(self, helper: cst.FunctionDef) -> str | None:
        """The class of a helper that is a method of the workflow class, else None."""

    def lines(self, node: cst.CSTNode) -> tuple[int, int]:
        """1-based ``(first line, last line)`` of a node of the source."""

    def span(self, node: cst.CSTNode) -> Span:
        """Where a node of the body (or of an inlined helper) is, for a diagnostic."""

    def code(self, node: cst.CSTNode) -> str:
        """Source text of a node (of the source, or one the lowering built)."""

    def is_gather(self, func: cst.BaseExpression) -> bool:
        """Whether a callee is ``asyncio.gather``."""


@dataclass
class LoopFrame:
    """The innermost loop around the statement being lowered."""

    loop_id: str
    finally_depth: int
    breaks: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class FinallyFrame:
    """A ``finally`` block that a jump out of its ``try`` must run first."""

    body: cst.BaseSuite
    outer: Ctx


@dataclass(frozen=True)
class Ctx:
    """Where the statement being lowered sits.

    Attributes:
        scope: Id of the call node of the inlined helper, or None in the body.
        loops: Ids of the enclosing loop nodes.
        loop: The innermost loop (for break/continue).
        raisers: Collects the ids of nodes that need an ``error`` edge to the
            innermost handler; None outside any ``try``.
        finallys: Enclosing ``finally`` blocks of this scope, outermost first.
        returns: Collects the pending exits of ``return`` nodes of this scope.
        helpers: Qualified names of the helpers being inlined (recursion guard).
        handling: Id of the node where the exception being handled here arrived
            (the first ``except`` clause of the enclosing handler, or the entry of
            a ``finally`` copy on the error path); None where none is handled.
        ctx_names: Names of this scope bound to the ``WorkflowContext`` (the
            body's ctx parameter; in a helper, the parameters it was passed to).
    """

    scope: str | None
    loops: tuple[str, ...]
    loop: LoopFrame | None
    raisers: list[str] | None
    finallys: tuple[FinallyFrame, ...]
    returns: list[tuple[str, str]]
    helpers: tuple[str, ...]
    handling: str | None = None
    ctx_names: frozenset[str] = frozenset()
