"""Workflows whose bodies loop without awaiting anything (issue 14 item 9).

Served by their own graph library (:func:`tests.runtime.test_pure_loops.loop_library`),
so the other runtime tests' worker never compiles them.
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

CALLS: list[Any] = []
"""Every step execution and rollback, in order (reset by the tests)."""


async def _unbook(error: BaseException, output: str) -> None:
    CALLS.append(("unbook", type(error).__name__, output))


@step("lp-book", rollback_fn=_unbook)
async def book(label: str) -> str:
    CALLS.append(("book", label))
    return f"booked-{label}"


@step("lp-add")
async def add(x: int) -> int:
    CALLS.append(("add", x))
    return x + 1


@workflow("lp-spin-timeout", execution_timeout="1s")
async def spin_timeout(ctx: WorkflowContext) -> None:
    await book("timeout")
    i = 0
    while i >= 0:  # vrb: ignore[VRB305, VRB308] - the bug under test
        i += 1


@workflow("lp-spin-events", max_events=50)
async def spin_events(ctx: WorkflowContext) -> None:
    await book("events")
    i = 0
    while i >= 0:  # vrb: ignore[VRB308] - the bug under test
        i += 1


@workflow("lp-spin-both", max_events=50, execution_timeout="5s")
async def spin_both(ctx: WorkflowContext) -> None:
    i = 0
    while i >= 0:  # vrb: ignore[VRB308] - the bug under test
        i += 1


@workflow("lp-spin-forever")
async def spin_forever(ctx: WorkflowContext) -> None:
    await book("forever")
    i = 0
    while i >= 0:  # vrb: ignore[VRB305, VRB308] - the bug under test
        i += 1


@workflow("lp-count", max_events=3)
async def count(ctx: WorkflowContext, turns: int) -> int:
    # A pure `while` that ends: below the loop budget it runs to its end, above it trips.
    await add(0)
    i = 0
    while i < turns:  # vrb: ignore[VRB308] - bounded by its input
        i += 1
    return await add(i)


@workflow("lp-quick")
async def quick(ctx: WorkflowContext, x: int) -> int:
    return await add(x)
