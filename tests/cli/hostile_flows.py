"""A workflow whose names, signal, outputs and errors hold characters a terminal acts on.

Served by ``vrb worker tests.cli.hostile_flows`` in
tests/cli/test_terminal_safety.py. Every hostile value holds ESC with a
colour sequence, the C1 CSI, a carriage return, a bell and the bidi override
U+202E and isolate U+2066; names hold the bidi characters only, since the
identifier rule (:mod:`runtime._identifiers`) refuses control characters in
names and ids. This source spells them as escapes, so the file itself is plain
ASCII.
"""

from __future__ import annotations

from typing import Any

from runtime import NonRetryableError, WorkflowContext, step, workflow

HOSTILE = "\x1b[31mRED\x9b2J\rCR\x07\u202eRTL\u2066"
"""The hostile text of values: inputs, outputs, payloads, error messages."""

HOSTILE_NAME = "\u202eRTL\u2066"
"""The text each name below ends with: what a name may hold that a terminal acts on."""

WORKFLOW = "t-hostile-\u202eRTL\u2066"
STEP = "t-hostile-step-\u202eRTL\u2066"
SIGNAL = "t-hostile-signal-\u202eRTL\u2066"


@step("t-hostile-step-\u202eRTL\u2066")
async def hostile_echo(value: Any) -> Any:
    return {"echo": value}


@step("t-hostile-fail", retries=0)
async def hostile_fail(message: str) -> None:
    raise NonRetryableError(message)


@workflow("t-hostile-\u202eRTL\u2066")
async def hostile(ctx: WorkflowContext, text: str, fail: bool) -> Any:
    echoed = await hostile_echo(text)
    payload = await ctx.wait_for_signal("t-hostile-signal-\u202eRTL\u2066")
    if fail:
        await hostile_fail(text)
    return {"echoed": echoed, "signal": payload, "text": text}
