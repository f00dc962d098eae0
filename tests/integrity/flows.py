"""A workflow using every node kind and every Python-source field a graph holds.

The integrity tests build it, tamper with each field of the built graph (the
content hash recomputed, as an attacker with write access to the build
directory would), and check that a worker refuses the file.
"""

from __future__ import annotations

import asyncio

from runtime import WorkflowContext, step, workflow

from .helpers import scaled, tripled


async def _undo(error: BaseException, output: int) -> None:
    return None


@step("integrity-add", retries=1, rollback_fn=_undo)
async def add(x: int, y: int = 1) -> int:
    total = x + y
    return total


@step("integrity-double")
async def double(x: int) -> int:
    return x * 2


@workflow("integrity-flow", max_events=500)
async def integrity_flow(ctx: WorkflowContext, n: int, extra: int = 3) -> dict[str, object]:
    total = await add(n, y=extra)
    first, second = total, total + 1
    total = scaled(first + second)
    if total > 1000:
        total = 1000
    while total > 100:
        total = await double(total // 4)
    for i, item in enumerate([1, 2]):
        total = total + i * item
    doubled = await asyncio.gather(*[double(v) for v in [total, n] if v >= 0])
    await ctx.sleep(0.01)
    pair = await ctx.parallel([lambda: double(1), lambda: add(total)])
    total = await tripled(total)
    try:
        got = await ctx.wait_for_signal("integrity-go", timeout=30)
    except KeyError:
        got = None
    if got == "boom":
        raise ValueError("boom")
    last = await double(len(doubled)) if got else 0
    try:
        pass
    finally:
        n = n + 1
    return {"total": total + last + pair[0], "got": got}
