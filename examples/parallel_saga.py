"""Parallel sagas: two independent steps run concurrently, each compensable.

``ctx.parallel`` takes zero-argument lambdas, one step call each, and returns
their results in branch order; if one branch fails, the completed one is
rolled back.
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

CARD_CHARGES: dict[str, float] = {}
CREDIT_BALANCE: dict[str, float] = {"credits": 1000.0}


async def _refund(error: BaseException, output: dict[str, Any]) -> None:
    CARD_CHARGES.pop(output["transactionId"], None)


async def _restore_credits(error: BaseException, output: dict[str, Any]) -> None:
    CREDIT_BALANCE["credits"] += output["amount"]


@step("charge-card", rollback_fn=_refund)
async def charge_card(amount: float) -> dict[str, Any]:
    transaction_id = f"CARD-{len(CARD_CHARGES) + 1}"
    CARD_CHARGES[transaction_id] = amount
    return {"transactionId": transaction_id, "amount": amount}


@step("deduct-credits", rollback_fn=_restore_credits)
async def deduct_credits(amount: float) -> dict[str, Any]:
    if CREDIT_BALANCE["credits"] < amount:
        raise ValueError("not enough credits")
    CREDIT_BALANCE["credits"] -= amount
    return {"creditId": "CRED-1", "amount": amount}


@workflow("parallel-saga")
async def parallel_saga(ctx: WorkflowContext, amount: float) -> dict[str, Any]:
    payment, credit = await ctx.parallel(
        [
            lambda: charge_card(amount),
            lambda: deduct_credits(amount),
        ]
    )
    return {"payment": payment, "credit": credit}
