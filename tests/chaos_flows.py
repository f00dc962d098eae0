"""Workflows for the chaos test (tests/test_chaos.py), served by ``python -m tests.chaos_worker``.

Every step and rollback execution appends ``run_id key kind pid start|end`` to
``$VRB_CHAOS_DIR/effects`` (one ``O_APPEND`` write per line, atomic across
processes), so the test sees what really ran, where, and whether it finished.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from runtime import StepContext, StepFailed, WorkflowContext, step, workflow

from .effects import append_line


def effect(ctx: StepContext, kind: str, phase: str) -> None:
    """Record one phase of a step execution."""
    record(ctx.run_id, ctx.idempotency_key.partition(":")[2], kind, phase)


def record(run_id: str, key: str, kind: str, phase: str) -> None:
    """Append one effect line."""
    path = os.path.join(os.environ["VRB_CHAOS_DIR"], "effects")
    append_line(path, f"{run_id} {key} {kind} {os.getpid()} {phase}")


@step("chaos-work")
async def work(ctx: StepContext, x: int) -> int:
    effect(ctx, "step", "start")
    await asyncio.sleep(0.15)
    effect(ctx, "step", "end")
    return x + 1


async def _release(error: BaseException, output: dict[str, Any]) -> None:
    # A rollback has no context of its own: the step's output names what it undoes.
    record(output["run"], output["key"], "rollback", "start")
    await asyncio.sleep(0.02)
    record(output["run"], output["key"], "rollback", "end")


@step("chaos-reserve", rollback_fn=_release)
async def reserve(ctx: StepContext, x: int) -> dict[str, Any]:
    effect(ctx, "step", "start")
    await asyncio.sleep(0.15)
    effect(ctx, "step", "end")
    return {"x": x + 1, "run": ctx.run_id, "key": ctx.idempotency_key.partition(":")[2]}


@step("chaos-refuse")
async def refuse(ctx: StepContext, x: int) -> int:
    effect(ctx, "step", "start")
    effect(ctx, "step", "end")
    raise ValueError(f"refused {x}")


@workflow("chaos-chain")
async def chain(ctx: WorkflowContext, x: int) -> int:
    for _ in range(5):
        x = await work(x)
    return x


@workflow("chaos-saga")
async def saga(ctx: WorkflowContext, x: int) -> dict[str, Any]:
    try:
        for _ in range(3):
            reserved = await reserve(x)
            x = reserved["x"]
        await refuse(x)
    except StepFailed as error:
        return {"compensated": len(error.compensated)}
    return {"compensated": 0}
