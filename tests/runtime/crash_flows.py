"""Workflows for the crash tests, and a worker process entry point.

Steps count their effects by appending lines to ``$VRB_CRASH_DIR/effects``; a
blocking step or rollback waits for the file ``$VRB_CRASH_DIR/latch``.

Run a worker: ``python -m tests.runtime.crash_worker DB_PATH LEASE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from runtime import NonRetryableError, WorkflowContext, step, workflow


def _dir() -> Path:
    return Path(os.environ["VRB_CRASH_DIR"])


def effect(name: str) -> None:
    """Record one execution of something with an effect."""
    with (_dir() / "effects").open("a", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())


async def wait_for_latch() -> None:
    """Block until the test opens the latch."""
    latch = _dir() / "latch"
    for _ in range(3000):
        if latch.exists():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the latch was never opened")


@step("c-first")
async def first(x: int) -> int:
    effect("first")
    return x + 1


@step("c-block")
async def block(x: int) -> int:
    effect("block-start")
    await wait_for_latch()
    effect("block-end")
    return x * 2


@step("c-last")
async def last(x: int) -> int:
    effect("last")
    return x + 100


@workflow("crash-flow")
async def crash_flow(ctx: WorkflowContext, x: int) -> int:
    a = await first(x)
    b = await block(a)
    return await last(b)


async def _undo_one(error: BaseException, output: Any) -> None:
    effect("undo-one-start")
    await wait_for_latch()
    effect("undo-one-end")


async def _undo_two(error: BaseException, output: Any) -> None:
    effect("undo-two")


@step("c-one", rollback_fn=_undo_one)
async def one() -> str:
    effect("one")
    return "one"


@step("c-two", rollback_fn=_undo_two)
async def two() -> str:
    effect("two")
    return "two"


@step("c-fail")
async def fail() -> None:
    effect("fail")
    raise NonRetryableError("out of stock")


@workflow("crash-saga")
async def crash_saga(ctx: WorkflowContext) -> None:
    await one()
    await two()
    await fail()


def _undo_kept(error: BaseException, output: Any) -> None:
    effect("undo-kill")
    os._exit(9)  # the rollback kills its worker, every time


@step("c-kept", rollback_fn=_undo_kept)
async def kept() -> str:
    effect("kept")
    return "kept"


@step("c-doomed")
async def doomed() -> None:
    effect("doomed")
    raise NonRetryableError("payment refused")


@workflow("crash-deadly-rollback")
async def crash_deadly_rollback(ctx: WorkflowContext) -> None:
    await kept()
    await doomed()
