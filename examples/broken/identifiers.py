"""Minting a payment's idempotency key with ``uuid.uuid4()`` in a workflow body:
a payment step executed again after a crash gets another key than the attempt
before it, so the gateway cannot tell it is the same payment and charges twice.

Expected diagnostic: VRB103 (identifiers)
Corrected version: examples/order_processing.py (the key comes from
``ctx.uuid4()``, seeded from the run and identical on replay; or derive ids from
the input).
"""

from __future__ import annotations

import uuid
from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-process-payment")
async def process_payment(payment: dict[str, Any]) -> dict[str, Any]:
    return {"transactionId": f"TXN-{payment['id']}", "key": payment["idempotencyKey"]}


@workflow("broken-payment-keys")
async def payment_keys(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    payment_key = str(uuid.uuid4())
    return await process_payment({**order, "idempotencyKey": payment_key})
