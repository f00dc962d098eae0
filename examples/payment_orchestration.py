"""Use case 4, payment orchestration: a primary provider with a fallback.

The primary provider's transient errors are retried (``retries=2``); a
permanent refusal is a result, and the fallback step takes over from it.

A payment may carry ``fallback_share``, the share of traffic sent straight to
the fallback provider (an A/B split, 0 by default). The draw is ``ctx.random()``,
seeded from the run, so a replay takes the branch the run took; ``random.random()``
in the body would not (see ``examples/broken/randomness.py``).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

TRANSIENT_CODES = (429, 503, 504)
TRANSACTIONS: dict[str, dict[str, Any]] = {}


class ProviderError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"provider answered {status}")
        self.status = status


def is_transient_error(error: ProviderError) -> bool:
    return error.status in TRANSIENT_CODES


def _charge_primary(payment: dict[str, Any]) -> dict[str, Any]:
    status = payment.get("primary_status", 200)
    if status != 200:
        raise ProviderError(status)
    return {"provider": "primary", "transactionId": f"TXN-P-{payment['orderId']}"}


@step("try-primary-provider", retries=2)
async def try_primary_provider(payment: dict[str, Any]) -> dict[str, Any]:
    try:
        return _charge_primary(payment)
    except ProviderError as error:
        if is_transient_error(error):
            raise
        return {"provider": "primary", "failed": True, "error": str(error)}


@step("try-fallback-provider")
async def try_fallback_provider(
    payment: dict[str, Any], primary_result: dict[str, Any]
) -> dict[str, Any]:
    if not primary_result.get("failed"):
        return primary_result
    return {"provider": "fallback", "transactionId": f"TXN-F-{payment['orderId']}"}


@step("record-transaction")
async def record_transaction(payment: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    TRANSACTIONS[result["transactionId"]] = {
        "orderId": payment["orderId"],
        "amount": payment["amount"],
        "provider": result["provider"],
        "status": "completed",
    }
    return {"recorded": True}


@workflow("payment-orchestration", execution_timeout="45s")
async def payment_orchestration(ctx: WorkflowContext, payment: dict[str, Any]) -> dict[str, Any]:
    if ctx.random() < payment.get("fallback_share", 0.0):
        primary = {"provider": "primary", "failed": True, "error": "routed to the fallback"}
    else:
        primary = await try_primary_provider(payment)
    final = await try_fallback_provider(payment, primary)
    await record_transaction(payment, final)
    return {
        "success": True,
        "provider": final["provider"],
        "transactionId": final["transactionId"],
    }
