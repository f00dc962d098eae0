"""Workflows the runtime benchmarks drive (importable: workers refuse ``__main__``)."""

from __future__ import annotations

from runtime import WorkflowContext, step, workflow


@step("bench-noop")
async def noop(i: int) -> int:
    return i


@workflow("bench-sequential")
async def sequential(ctx: WorkflowContext, n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop(i)
    return total


@workflow("bench-replay")
async def replay(ctx: WorkflowContext, n: int) -> int:
    for i in range(n):
        await noop(i)
    await ctx.wait_for_signal("go")
    return n
