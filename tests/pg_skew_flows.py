"""A gated two-step workflow for the skewed-clock worker test (``pgs-gated``).

Its first step holds until the file named by ``$VRB_PGS_GATE`` exists, so its
runs stay in flight, their worker heartbeating, for as long as a test needs;
the second takes a second. Each step execution appends ``run_id step pid`` to
``$VRB_PGS_GATE.effects`` (one ``O_APPEND`` write per line), so a test sees
which process ran what. Served in the test's process and by
``python -m tests.pg_skew_worker``.
"""

from __future__ import annotations

import asyncio
import os

from runtime import StepContext, WorkflowContext, step, workflow

from .effects import append_line


def _effect(ctx: StepContext, name: str) -> None:
    append_line(os.environ["VRB_PGS_GATE"] + ".effects", f"{ctx.run_id} {name} {os.getpid()}")


@step("pgs-hold")
async def hold(ctx: StepContext, x: int) -> int:
    _effect(ctx, "hold")
    while not os.path.exists(os.environ["VRB_PGS_GATE"]):
        await asyncio.sleep(0.05)
    return x + 1


@step("pgs-finish")
async def finish(ctx: StepContext, x: int) -> int:
    _effect(ctx, "finish")
    await asyncio.sleep(1.0)
    return x + 1


@workflow("pgs-gated")
async def gated(ctx: WorkflowContext, x: int) -> int:
    x = await hold(x)
    return await finish(x)
