"""VRB108: asyncio used directly instead of the ctx API."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["BLOCKING_TABLE", "RULES", "TABLE"]

TABLE = CallTable(
    code="VRB108",
    reason=lambda q: (
        "uses the event loop directly; timers and tasks outside the ctx API are not durable"
    ),
    hint="use await ctx.sleep(...) for timers and await ctx.parallel([...]) or "
    "await asyncio.gather(*(step(x) for x in xs)) for concurrency",
    prefixes=("asyncio",),
    allowed=frozenset(
        {"asyncio.CancelledError", "asyncio.TimeoutError", "asyncio.InvalidStateError"}
    ),
)

#: Waits that block the worker's thread: the same defect as an asyncio timer, and
#: the event loop (every other run on the worker) stalls while it lasts.
BLOCKING_TABLE = CallTable(
    code="VRB108",
    reason=lambda q: "blocks the worker, and a wait outside the ctx API is not durable",
    hint="use `await ctx.sleep(...)`: the timer is recorded and survives a restart",
    exact=frozenset({"time.sleep"}),
)

RULES = (
    RuleInfo(
        code="VRB108",
        name="raw-asyncio",
        severity=Severity.ERROR,
        summary="asyncio (or a blocking time.sleep) used outside the ctx API",
        rationale="asyncio timers and tasks live in one process's memory; a crash loses them "
        "and a replay cannot tell when they fired. time.sleep() is no better, and blocks "
        "every other run on the worker while it waits. ctx.sleep and ctx.parallel are recorded.",
        hint=TABLE.hint,
        bad=workflow_module("    await asyncio.sleep(60)\n", "import asyncio\n"),
        good=workflow_module("    await ctx.sleep('60s')\n"),
        valid=(
            workflow_module(
                "    return await asyncio.gather(*(charge(x) for x in order['items']))\n",
                "import asyncio\n",
            ),
            workflow_module(
                "    return await asyncio.gather(*[charge(x) for x in order['items']])\n",
                "import asyncio\n",
            ),
        ),
        invalid=(
            workflow_module("    await asyncio.sleep(1)\n", "import asyncio\n"),
            workflow_module(
                "    return await asyncio.gather(charge(1), charge(2))\n", "import asyncio\n"
            ),
            workflow_module("    asyncio.create_task(charge(1))\n", "import asyncio\n"),
            workflow_module("    return asyncio.get_running_loop()\n", "import asyncio\n"),
            workflow_module("    time.sleep(5)\n", "import time\n"),
        ),
    ),
)
