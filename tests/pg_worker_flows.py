"""A ten-step workflow for the PostgreSQL worker tests (served by ``python -m tests.pg_worker``).

Each step execution appends ``run_id index pid`` to ``$VRB_PGW_DIR/effects``
(one ``O_APPEND`` write per line, atomic across processes), so a test can
count how often every step ran and in which process; with
``$VRB_PGW_STEP_SECONDS`` set, each step then sleeps that long, so runs stay in
flight long enough to be caught there.
"""

from __future__ import annotations

import asyncio
import os

from runtime import StepContext, WorkflowContext, step, workflow

from .effects import append_line


def effect(line: str) -> None:
    """Record one step execution."""
    append_line(os.path.join(os.environ["VRB_PGW_DIR"], "effects"), line)


@step("pgw-advance")
async def advance(ctx: StepContext, x: int, index: int) -> int:
    effect(f"{ctx.run_id} {index} {os.getpid()}")
    await asyncio.sleep(float(os.environ.get("VRB_PGW_STEP_SECONDS") or 0))
    return x + 1


@workflow("pgw-ten")
async def ten_steps(ctx: WorkflowContext, x: int) -> int:
    for index in range(10):
        x = await advance(x, index)
    return x
