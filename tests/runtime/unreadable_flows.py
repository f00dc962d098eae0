"""Workflows whose values the store could write but never read back (issue 14, item 10).

Each hands the runtime one value beyond what the store's reader accepts, in one
of the places a value enters a run: a step's output, a workflow's result, a
rollback's output, a step's error.
"""

from __future__ import annotations

from typing import Any

from runtime import NonRetryableError, StepFailed, WorkflowContext, step, workflow

HUGE = 10**5000
"""An int of 5001 digits: more than the 4300 the store's JSON reader takes."""

CALLS: list[Any] = []
"""Every step execution and rollback, in order (reset by the tests)."""


@step("u-huge", retries=2)
async def huge_output() -> int:
    CALLS.append("huge")
    return HUGE


@step("u-surrogate")
async def surrogate_output() -> str:
    CALLS.append("surrogate")
    return "half a pair: \ud800"


@step("u-deep")
async def deep_output() -> Any:
    CALLS.append("deep")
    value: Any = 1
    for _ in range(1000):
        value = [value]
    return value


@workflow("u-huge-output")
async def huge_step_output(ctx: WorkflowContext) -> Any:
    return await huge_output()


@workflow("u-surrogate-output")
async def surrogate_step_output(ctx: WorkflowContext) -> Any:
    return await surrogate_output()


@workflow("u-deep-output")
async def deep_step_output(ctx: WorkflowContext) -> Any:
    return await deep_output()


@workflow("u-huge-result")
async def huge_result(ctx: WorkflowContext) -> Any:
    return {"total": HUGE}


async def _undo_huge(error: BaseException, output: str) -> int:
    CALLS.append("undo")
    return HUGE


@step("u-reserve", rollback_fn=_undo_huge)
async def reserve() -> str:
    CALLS.append("reserve")
    return "R-1"


class Overdrawn(NonRetryableError):
    """An error carrying a value the store cannot read back, in its args and attributes."""

    def __init__(self, balance: int) -> None:
        super().__init__(balance)
        self.balance = balance
        self.account = "acct-1"

    def __str__(self) -> str:
        return "overdrawn"


@step("u-overdraw")
async def overdraw() -> None:
    CALLS.append("overdraw")
    raise Overdrawn(-HUGE)


@workflow("u-huge-rollback")
async def huge_rollback(ctx: WorkflowContext) -> Any:
    await reserve()
    await overdraw()


@workflow("u-huge-error")
async def huge_error(ctx: WorkflowContext) -> Any:
    try:
        await overdraw()
    except StepFailed as error:
        cause = error.cause
        return {
            "type": type(cause).__name__,
            "account": getattr(cause, "account", None),
        }
    return None
