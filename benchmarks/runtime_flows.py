"""Workflows the runtime benchmarks drive (importable: workers refuse ``__main__``)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

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


@workflow("bench-fanout")
async def fanout(ctx: WorkflowContext, n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop(i)
    return total


def mark(name: str) -> None:
    """Append ``name <wall time>`` to ``$VRB_BENCH_DIR/marks`` (seen across processes)."""
    with (Path(os.environ["VRB_BENCH_DIR"]) / "marks").open("a", encoding="utf-8") as handle:
        handle.write(f"{name} {os.getpid()} {time.time():.6f}\n")


@step("bench-block")
async def block(i: int) -> int:
    # The first attempt blocks until its worker is killed; the attempt re-run by
    # the worker that takes the run over finds the "killed" flag and goes on.
    mark("block")
    while not (Path(os.environ["VRB_BENCH_DIR"]) / "killed").exists():
        await asyncio.sleep(0.01)
    return i


@workflow("bench-recovery")
async def recovery(ctx: WorkflowContext) -> int:
    a = await noop(1)
    b = await block(a)
    return await noop(b)
