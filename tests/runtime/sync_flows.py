"""Sync (``def``) steps with a timeout, for the tests of attempts that outlive it.

A thread cannot be interrupted: a sync attempt that times out keeps running.
``t-sync-overrun`` starts, on its first attempt, a thread that sleeps well past
the step's timeout; its retry must start only after that thread returned.
``t-sync-overrun-always`` overruns on every attempt, so the step fails.
``EVENTS`` records each attempt's start and end, in the order they happened.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from runtime import Backoff, StepContext, WorkflowContext, step, workflow

EVENTS: list[tuple[str, int]] = []
"""``("start" | "end", attempt)`` of every attempt, in order (reset by the tests)."""

_LOCK = threading.Lock()  # the attempts run in threads


def _note(what: str, attempt: int) -> None:
    with _LOCK:
        EVENTS.append((what, attempt))


@step("t-sync-overrun", timeout="200ms", retries=1, backoff=Backoff(initial=0.01))
def overrun(ctx: StepContext, label: str) -> dict[str, Any]:
    _note("start", ctx.attempt)
    if ctx.attempt == 1:
        time.sleep(1.0)  # far past the timeout: the attempt fails, its thread goes on
    _note("end", ctx.attempt)
    return {"label": label, "attempt": ctx.attempt}


@workflow("t-sync-overrun-flow")
async def overrun_flow(ctx: WorkflowContext, label: str) -> dict[str, Any]:
    return await overrun(label)


@step("t-sync-overrun-always", timeout="200ms", retries=1, backoff=Backoff(initial=0.01))
def overrun_always(ctx: StepContext) -> None:
    _note("start", ctx.attempt)
    time.sleep(0.6)  # every attempt outlasts the timeout: the step fails for good
    _note("end", ctx.attempt)


@workflow("t-sync-overrun-always-flow")
async def overrun_always_flow(ctx: WorkflowContext) -> None:
    await overrun_always()
