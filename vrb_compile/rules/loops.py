"""VRB308: a ``while`` loop in a workflow body that awaits nothing.

The worker walks a workflow body between its durable operations as plain code.
A loop that awaits nothing reaches none: its turns record no event and give the
run no checkpoint, so if it does not end the run never finishes. The worker
keeps serving its other runs meanwhile and stops such a run only by its
breakers (``execution_timeout``; ``max_events`` caps a ``while`` loop's turns
without an event at ``max_events`` x 1000), cancellation or its own shutdown;
a run with neither breaker spins until it is cancelled.

Only ``while`` loops are flagged: a ``for`` loop over a finite iterable ends,
however much pure work its body does. Any ``await`` in the loop's test or body
counts (a step call, a ctx wait or sleep, an awaited helper), even in a branch
that may not run: the rule flags loops that can never record a turn, not loops
that might not.
"""

from __future__ import annotations

import libcst as cst

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module

__all__ = ["RULES", "awaits_nothing", "message"]


def awaits_nothing(loop: cst.While) -> bool:
    """Neither the loop's test nor its body awaits anything (its ``else`` runs once, after it).

    Awaits inside a function, class or lambda defined in the body do not count:
    defining them awaits nothing.
    """
    stack: list[cst.CSTNode] = [loop.test, loop.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Await):
            return False
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            continue
        # ``children`` runs a visitor per node (the analysis walks bodies with a
        # cheaper field walk); it is cheap enough here, for `while` loops only.
        stack.extend(node.children)
    return True


def message(workflow: str, loop: cst.While) -> str:
    """The diagnostic's message for ``loop`` in ``workflow``."""
    forever = isinstance(loop.test, cst.Name) and loop.test.value == "True"
    what = "`while True` loop" if forever else "`while` loop"
    return (
        f"{what} in workflow {workflow!r} awaits nothing: its turns record no event, "
        "so if it does not end the run never finishes"
    )


RULES = (
    RuleInfo(
        code="VRB308",
        name="loop-awaits-nothing",
        severity=Severity.WARNING,
        summary="`while` loop whose body awaits nothing",
        rationale="A worker runs a workflow body's plain code between its durable operations "
        "(steps, sleeps, signal waits). A `while` loop that awaits nothing reaches none: no "
        "turn of it is recorded and none is a checkpoint, so if it does not end the run never "
        "finishes. The worker stops it only by its circuit breakers (`execution_timeout`, or "
        "`max_events`, which allows a `while` loop `max_events` x 1000 turns in a row without "
        "an event), by cancellation or by shutting down; a run with no breaker spins until it "
        "is cancelled, and every worker that takes it over spins in turn. A `for` loop over a "
        "finite iterable ends, and is not flagged.",
        hint="await a step or ctx.sleep(...) in the loop so each turn is recorded, or bound it "
        "(`for _ in range(limit):`); a long pure computation belongs in a step, where its "
        "timeout bounds it",
        bad=workflow_module(
            "    attempts = 0\n    while order['pending']:\n        attempts += 1\n"
            "    return attempts\n",
            max_events=", max_events=1000",
        ),
        good=workflow_module(
            "    attempts = 0\n    while order['pending']:\n        attempts += 1\n"
            "        order = await charge(order)\n    return attempts\n",
            max_events=", max_events=1000",
        ),
        valid=(
            workflow_module(
                "    total = 0\n    for item in order['items']:\n        total += item\n"
                "    return await charge(total)\n"
            ),
            workflow_module(
                "    while order['pending']:\n        await ctx.sleep('1m')\n",
                max_events=", max_events=1000",
            ),
        ),
        invalid=(
            workflow_module(
                "    n = 0\n    while n >= 0:\n        n += 1\n", max_events=", max_events=1000"
            ),
            workflow_module(
                "    while True:\n        if order:\n            break\n",
                max_events=", max_events=1000",
            ),
        ),
    ),
)
