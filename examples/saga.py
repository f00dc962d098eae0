"""The saga pattern: three bookings, each with a compensating ``rollback_fn``.

If ``book-car`` fails for good (``should_fail=True``), the hotel and then the
flight are cancelled, in reverse order, and the run fails fully compensated.
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

BOOKINGS: dict[str, str] = {}


async def _cancel_flight(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    BOOKINGS.pop(output["flightId"], None)
    return {"canceled": True}


async def _cancel_hotel(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    BOOKINGS.pop(output["hotelId"], None)
    return {"canceled": True}


async def _cancel_car(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    BOOKINGS.pop(output["carId"], None)
    return {"canceled": True}


@step("book-flight", rollback_fn=_cancel_flight)
async def book_flight(user_id: str) -> dict[str, Any]:
    BOOKINGS["FL-123"] = user_id
    return {"flightId": "FL-123"}


@step("book-hotel", rollback_fn=_cancel_hotel)
async def book_hotel(user_id: str) -> dict[str, Any]:
    BOOKINGS["HT-456"] = user_id
    return {"hotelId": "HT-456"}


@step("book-car", retries=2, rollback_fn=_cancel_car)
async def book_car(user_id: str, should_fail: bool = False) -> dict[str, Any]:
    if should_fail:
        raise RuntimeError("Car rental service unavailable!")
    BOOKINGS["CR-789"] = user_id
    return {"carId": "CR-789"}


async def saga_with_rollbacks(
    ctx: WorkflowContext, user_id: str, should_fail: bool = False
) -> dict[str, Any]:
    await book_flight(user_id)
    await book_hotel(user_id)
    await book_car(user_id, should_fail)
    return {"status": "booked", "tripId": "TRIP-123"}


workflow("saga-with-rollbacks").run(saga_with_rollbacks)
