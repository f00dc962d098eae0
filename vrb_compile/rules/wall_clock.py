"""VRB101: reading the wall clock in a workflow body."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["RULES", "TABLE"]

TABLE = CallTable(
    code="VRB101",
    reason=lambda q: "reads the clock; a replay would see a different value",
    hint="use ctx.now() (recorded, identical on replay), or read the clock inside a step",
    exact=frozenset(
        {
            "time.time",
            "time.time_ns",
            "time.monotonic",
            "time.monotonic_ns",
            "time.perf_counter",
            "time.perf_counter_ns",
            "time.process_time",
            "time.process_time_ns",
            "time.thread_time",
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
        }
    ),
    no_args=frozenset({"time.localtime", "time.gmtime", "time.ctime", "time.asctime"}),
)

RULES = (
    RuleInfo(
        code="VRB101",
        name="wall-clock",
        severity=Severity.ERROR,
        summary="wall clock read in a workflow body",
        rationale="A workflow is replayed from its event log after a crash; a value read from "
        "the clock differs on replay, so the replayed run takes other branches than the live one.",
        hint=TABLE.hint,
        bad=workflow_module(
            "    if time.time() > order['deadline']:\n        return None\n", "import time\n"
        ),
        good=workflow_module(
            "    if ctx.now().timestamp() > order['deadline']:\n        return None\n"
        ),
        valid=(
            workflow_module("    return ctx.now()\n"),
            workflow_module(
                "    return datetime.fromisoformat(order['at']) + timedelta(days=1)\n",
                "from datetime import datetime, timedelta\n",
            ),
            workflow_module("    return time.localtime(order['ts'])\n", "import time\n"),
        ),
        invalid=(
            workflow_module("    return time.time()\n", "import time\n"),
            workflow_module("    return now()\n", "from time import time as now\n"),
            workflow_module("    return dt.datetime.now()\n", "import datetime as dt\n"),
            workflow_module(
                "    return clock()\n",
                "from datetime import datetime\n",
                extra="clock = datetime.now\n",
            ),
            workflow_module("    return date.today()\n", "from datetime import date\n"),
            workflow_module("    return time.localtime()\n", "import time\n"),
        ),
    ),
)
