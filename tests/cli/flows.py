"""A workflow whose first step holds until the test releases it (for the drain test).

``hold`` writes ``started`` in the directory it is given, then waits for a
``release`` file there; the test sends SIGTERM in between, so the step is in
flight when the worker is asked to stop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from runtime import WorkflowContext, step, workflow


@step("hold")
async def hold(directory: str) -> dict[str, Any]:
    folder = Path(directory)
    with (folder / "calls.txt").open("a") as calls:
        calls.write("hold\n")
    (folder / "started").write_text("started")
    while not (folder / "release").exists():
        await asyncio.sleep(0.02)
    return {"held": True}


@step("after-hold")
async def after_hold(held: dict[str, Any]) -> dict[str, Any]:
    return {"after": held["held"]}


@workflow("cli-hold")
async def cli_hold(ctx: WorkflowContext, directory: str) -> dict[str, Any]:
    held = await hold(directory)
    return await after_hold(held)
