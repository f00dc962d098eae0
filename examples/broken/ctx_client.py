"""The whitepaper's payment orchestration hands ``ctx.client`` (the database
client) to its ``record-transaction`` step. A workflow context has no client:
step arguments are recorded as JSON, and a connection cannot be, nor may the
context escape the workflow body.

Expected diagnostic: VRB215 (use of a ctx attribute outside the WorkflowContext API)
Corrected version: examples/payment_orchestration.py (the step opens its own
connection; only JSON values cross the step boundary).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-record-transaction")
async def record_transaction(payment: dict[str, Any], client: Any) -> dict[str, Any]:
    await client.collection("transactions").create(payment)
    return {"recorded": True}


@workflow("broken-payment-record", execution_timeout="45s")
async def payment_record(ctx: WorkflowContext, payment: dict[str, Any]) -> dict[str, Any]:
    return await record_transaction(payment, ctx.client)
