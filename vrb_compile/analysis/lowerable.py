"""What the lowering needs from awaited calls: VRB216-VRB218, VRB112 for sync helpers.

Whatever ``vrb-compile check`` accepts, ``build`` must lower. The lowering
turns each awaited call into one node (:mod:`vrb_compile.lower.lowerer`), so
the checker refuses, with a code and a hint, every awaited call it could not
lower: a ctx method used the wrong way (VRB216), an ``asyncio.gather`` map
whose items are not one step call each (VRB217), a helper that calls itself
(VRB218, it would be inlined forever) and an awaited plain ``def`` (VRB112).
Also ``break``/``continue`` outside a loop (VRB001: Python refuses to compile
it, the parser alone does not).

:class:`LoweringChecks` sits between :class:`.calls.CallChecker` and
:class:`.walk.StatementWalker`: the walker calls its hooks.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from ..discover import cst_dotted
from .base import Frame, short
from .calls import CallChecker

__all__ = ["AWAITABLE_CTX_METHODS", "LoweringChecks"]

#: ctx methods a body awaits, with the argument each needs (position, keyword).
AWAITABLE_CTX_METHODS: dict[str, tuple[int, str] | None] = {
    "sleep": (0, "duration"),
    "wait_for_signal": (0, "name"),
    "parallel": None,
}


def _has_argument(call: cst.Call, index: int, keyword: str) -> bool:
    if any(arg.keyword is not None and arg.keyword.value == keyword for arg in call.args):
        return True
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    return index < len(positional) or any(arg.star for arg in call.args)


class LoweringChecks(CallChecker):
    """Refuses awaited calls the lowering cannot turn into a node."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The functions being walked, body first: an awaited helper already on the
        # stack is a recursion (helpers are walked once each, so it shows here).
        self._inlining: list[cst.FunctionDef] = []
        # Per function being walked (by id), how many loop bodies enclose the walk,
        # and how many runs of dead code (dead code inside dead code is not reported).
        self._loop_depths: dict[int, int] = {}
        self._dead_depths: dict[int, int] = {}

    def enter_function(self, frame: Frame) -> None:
        """The walker starts the body of ``frame.fn``."""
        self._inlining.append(frame.fn)
        self._loop_depths[id(frame.fn)] = 0

    def leave_function(self, frame: Frame) -> None:
        """The walker is done with the body of ``frame.fn``."""
        if self._inlining and self._inlining[-1] is frame.fn:
            self._inlining.pop()

    def loop_body(self, frame: Frame, delta: int) -> None:
        """The walker enters (``+1``) or leaves (``-1``) the body of a loop."""
        key = id(frame.fn)
        self._loop_depths[key] = self._loop_depths.get(key, 0) + delta

    def dead_code(self, frame: Frame, delta: int) -> None:
        """The walker enters (``+1``) or leaves (``-1``) a run of unreachable statements."""
        key = id(frame.fn)
        self._dead_depths[key] = self._dead_depths.get(key, 0) + delta

    def unreachable(self, frame: Frame, node: cst.CSTNode, reason: str) -> None:
        """VRB306 at the first statement of a run of dead code (not inside another)."""
        if self._dead_depths.get(id(frame.fn), 0) == 0:
            self.report(frame, node, "VRB306", f"this code can never run: {reason}")

    def jump(self, frame: Frame, node: cst.Break | cst.Continue) -> None:
        """``break``/``continue``: VRB001 outside a loop."""
        if self._loop_depths.get(id(frame.fn), 0) <= 0:
            what = "break" if isinstance(node, cst.Break) else "continue"
            self.report(frame, node, "VRB001", f"'{what}' outside loop")

    def ctx_call(self, frame: Frame, call: cst.Call, *, awaited: bool) -> None:
        """VRB216 for a ctx method awaited or not as it must be, or missing its argument."""
        dotted = cst_dotted(call.func) or ""
        head, _, method = dotted.partition(".")
        if head not in frame.scope.ctx_names or "." in method:
            return
        shown = f"{head}.{method}()"
        if method not in AWAITABLE_CTX_METHODS:
            if awaited:
                self.report(
                    frame,
                    call,
                    "VRB216",
                    f"{shown} returns its value at once: it is called, not awaited",
                    f"drop the await: `x = {shown}`",
                )
            return
        if not awaited:
            self.report(
                frame,
                call,
                "VRB216",
                f"{shown} is not awaited, so it does nothing",
                f"await it: `await {shown}`",
            )
            return
        needed = AWAITABLE_CTX_METHODS[method]
        if needed is not None and not _has_argument(call, *needed):
            self.report(
                frame,
                call,
                "VRB216",
                f"{shown} is called without its {needed[1]!r} argument",
                f"pass it: `await {head}.{method}({needed[1]})`",
            )

    def gather_map(self, frame: Frame, call: cst.Call) -> None:
        """VRB217 unless each gathered item is one step call, with plain for clauses."""
        comp = call.args[0].value
        assert isinstance(comp, cst.GeneratorExp | cst.ListComp)
        clause: cst.CompFor | None = comp.for_in
        while clause is not None:
            if clause.asynchronous is not None:
                self.report(
                    frame,
                    clause,
                    "VRB217",
                    "`async for` in the asyncio.gather map pulls items from outside the event log",
                )
                return
            clause = clause.inner_for_in
        elt = comp.elt
        if not isinstance(elt, cst.Call) or self.call_kind(frame, elt) != "step":
            what = short(frame, elt.func) if isinstance(elt, cst.Call) else short(frame, elt)
            self.report(
                frame,
                elt,
                "VRB217",
                f"asyncio.gather maps {what}(...), which is not a step: only a step call "
                "per item becomes a map node",
            )

    def awaited_helper(self, frame: Frame, call: cst.Call) -> None:
        """VRB112 for an awaited plain ``def``, VRB218 for a recursive helper."""
        helper = self._helper_def(frame, call)
        if helper is None:
            return
        name = short(frame, call.func)
        if helper.asynchronous is None:
            self.report(
                frame,
                call,
                "VRB112",
                f"awaits {name}(...), a plain def: only async helpers are inlined",
                f"make it `async def {helper.name.value}(...)` or call it without await",
            )
        elif any(helper is walking for walking in self._inlining):
            chain = " -> ".join((*frame.chain, helper.name.value))
            self.report(
                frame,
                call,
                "VRB218",
                f"{name}(...) calls itself ({chain}): a helper is inlined into the "
                "graph, and a recursive one never ends",
            )

    def _helper_def(self, frame: Frame, call: cst.Call) -> cst.FunctionDef | None:
        dotted = cst_dotted(call.func)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head == "self" and frame.self_class and rest and "." not in rest:
            return frame.source.find_function(f"{frame.self_class}.{rest}")
        for target in self._targets(frame, dotted):
            split = self.project.split_qname(target.qname)
            source = self.by_module.get(split[0]) if split else None
            if split and target.kind in ("def", "asyncdef") and source:
                found = source.find_function(split[1])
                if found is not None:
                    return found
        return None
