"""Durable execution: the whitepaper's order-processing workflow.

Each step's completion is recorded; after a crash during ``reserve-inventory``
the run replays ``validate-order`` from its log and re-executes the
reservation (with up to three retries). The payment's idempotency key is
minted in the body with ``ctx.uuid4()``, seeded from the run, so a replay hands
the gateway the same key; ``uuid.uuid4()`` there would mint another one (see
``examples/broken/identifiers.py``).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

# Stand-ins for the inventory database and the payment gateway.
RESERVATIONS: dict[str, dict[str, Any]] = {}
CHARGES: dict[str, float] = {}
PAYMENT_KEYS: dict[str, str] = {}  # idempotency key -> transaction id, as a gateway keeps


def calculate_total(order: dict[str, Any]) -> float:
    """Sum of price x quantity over the order's items."""
    return sum(item.get("price", 0.0) * item.get("quantity", 1) for item in order["items"])


@step("validate-order")
async def validate_order(order: dict[str, Any]) -> dict[str, Any]:
    if not order["items"]:
        raise ValueError("Order cannot be empty")
    return {"valid": True, "total": calculate_total(order)}


async def _reserve(order: dict[str, Any]) -> dict[str, Any]:
    reservation_id = f"RES-{order['id']}"
    RESERVATIONS[reservation_id] = {"items": order["items"], "status": "reserved"}
    return {"reservationId": reservation_id, "items": order["items"]}


reserve_inventory = step("reserve-inventory", _reserve, retries=3)


@step("process-payment", retries=2)
async def process_payment(payment: dict[str, Any]) -> dict[str, Any]:
    transaction_id = f"TXN-{payment['id']}"
    # The gateway charges a key once: an attempt retried after a charge that went
    # through (but whose answer was lost) does not charge again.
    if payment["idempotencyKey"] not in PAYMENT_KEYS:
        PAYMENT_KEYS[payment["idempotencyKey"]] = transaction_id
        CHARGES[transaction_id] = calculate_total(payment)
    return {"transactionId": transaction_id, "paid": True}


@step("confirm-order")
async def confirm_order(confirmation: dict[str, Any]) -> dict[str, Any]:
    return {"confirmed": True, "orderId": confirmation["orderId"]}


async def order_processing(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    await validate_order(order)
    reserved = await reserve_inventory(order)
    payment_key = str(ctx.uuid4())
    paid = await process_payment({**reserved, **order, "idempotencyKey": payment_key})
    await confirm_order({**paid, "orderId": order["id"]})
    return {"status": "completed", "orderId": order["id"]}


workflow("order-processing", max_events=1000, execution_timeout="60s").run(order_processing)
