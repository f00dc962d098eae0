"""Workflows that run into the store's and the worker's bounds (issue 16).

Served by their own graph library (:func:`tests.runtime.test_bounds.bound_library`),
so the other runtime tests' worker never compiles them.
"""

from __future__ import annotations

from runtime import WorkflowContext, step, workflow

CALLS: list[object] = []
"""Every step execution and rollback, in order (reset by the tests)."""


async def _unbook(error: BaseException, output: str) -> None:
    CALLS.append(("unbook", type(error).__name__, output))


@step("bd-book", rollback_fn=_unbook)
async def book(label: str) -> str:
    CALLS.append(("book", label))
    return f"booked-{label}"


@step("bd-blob")
async def blob(size: int) -> str:
    CALLS.append(("blob", size))
    return "x" * size


@workflow("bd-forever")
async def forever(ctx: WorkflowContext) -> None:
    await book("forever")
    while True:  # vrb: ignore[VRB305] - the loop the worker's default cap stops
        await ctx.sleep("1ms")


@workflow("bd-blob")
async def big_output(ctx: WorkflowContext, size: int) -> int:
    value = await blob(size)
    return len(value)


@workflow("bd-big-result")
async def big_result(ctx: WorkflowContext, size: int) -> str:
    return "y" * size
