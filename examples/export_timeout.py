"""Circuit breaker ``execution_timeout``, tripped: a run may not take longer than 2 seconds.

``external_api_calls`` shows the whitepaper's 30-second limit on a healthy
run; this one shows the breaker firing. When an export step is still running
at the deadline, the worker interrupts it, compensates what completed (the
export session is closed), records ``circuit_breaker_tripped`` and ends the
run ``failed`` with :class:`~runtime.ExecutionTimeout`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import WorkflowContext, step, workflow

# Seconds each table takes to export (a stand-in for a slow warehouse query).
TABLE_LATENCY: dict[str, float] = {"customers": 0.0, "orders": 0.0, "audit_log": 30.0}
SESSIONS: dict[str, str] = {}


async def _close_session(error: BaseException, output: dict[str, Any]) -> None:
    SESSIONS[output["sessionId"]] = "closed"


@step("open-export-session", rollback_fn=_close_session)
async def open_export_session(export_id: str) -> dict[str, Any]:
    session_id = f"SES-{export_id}"
    SESSIONS[session_id] = "open"
    return {"sessionId": session_id}


@step("export-table")
async def export_table(session: dict[str, Any], table: str) -> dict[str, Any]:
    await asyncio.sleep(TABLE_LATENCY[table])
    return {"table": table, "file": f"{session['sessionId']}/{table}.csv"}


@workflow("export-tables", execution_timeout="2s", max_events=100)
async def export_tables(ctx: WorkflowContext, export_id: str, tables: list[str]) -> dict[str, Any]:
    session = await open_export_session(export_id)
    files = []
    for table in tables:
        exported = await export_table(session, table)
        files.append(exported["file"])
    return {"files": files}
