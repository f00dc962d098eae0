"""Use case 1, order processing as a saga: a failure becomes a result.

Each step registers its compensation; when one fails for good the completed
ones are rolled back, and the body catches :class:`~runtime.StepFailed` to
return a ``failed`` status instead of failing the run.
"""

from __future__ import annotations

from typing import Any

from runtime import NonRetryableError, StepFailed, WorkflowContext, step, workflow

STOCK: dict[str, str] = {}
PAYMENTS: dict[str, float] = {}
SHIPMENTS: dict[str, str] = {}


async def _release_stock(error: BaseException, output: dict[str, Any]) -> None:
    STOCK[output["reservationId"]] = "released"


async def _refund_payment(error: BaseException, output: dict[str, Any]) -> None:
    PAYMENTS.pop(output["transactionId"], None)


async def _cancel_shipment(error: BaseException, output: dict[str, Any]) -> None:
    SHIPMENTS.pop(output["shipmentId"], None)


@step("reserve-stock", rollback_fn=_release_stock)
async def reserve_stock(order: dict[str, Any]) -> dict[str, Any]:
    reservation_id = f"STK-{order['id']}"
    STOCK[reservation_id] = "reserved"
    return {"reservationId": reservation_id}


@step("charge-order", retries=2, rollback_fn=_refund_payment)
async def charge_order(order: dict[str, Any], inventory: dict[str, Any]) -> dict[str, Any]:
    if order.get("fail_payment"):
        # A declined card is final: retrying it would only annoy the bank.
        raise NonRetryableError("card declined")
    transaction_id = f"TXN-{order['id']}"
    PAYMENTS[transaction_id] = order["total"]
    return {"transactionId": transaction_id}


@step("create-shipment", rollback_fn=_cancel_shipment)
async def create_shipment(order: dict[str, Any], payment: dict[str, Any]) -> dict[str, Any]:
    shipment_id = f"SHIP-{order['id']}"
    SHIPMENTS[shipment_id] = order.get("address", "")
    return {"shipmentId": shipment_id}


@workflow("ecommerce-order")
async def ecommerce_order(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    try:
        inventory = await reserve_stock(order)
        payment = await charge_order(order, inventory)
        shipment = await create_shipment(order, payment)
        return {"status": "confirmed", "shipmentId": shipment["shipmentId"]}
    except StepFailed as error:
        return {"status": "failed", "error": str(error.cause)}
