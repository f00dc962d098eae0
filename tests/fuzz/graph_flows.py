"""Workflows whose graphs hold shapes the graph validation must accept (empty loop bodies)."""

from __future__ import annotations

from runtime import WorkflowContext, step, workflow


@step("fuzz-graph-count")
async def count(n: int) -> int:
    return n + 1


@workflow("fuzz-graph-empty-loops", max_events=100)
async def empty_loops(ctx: WorkflowContext, n: int) -> int:
    for _ in range(3):
        pass
    for _ in range(2):
        continue
    while n > 100:
        pass
    return await count(n)
