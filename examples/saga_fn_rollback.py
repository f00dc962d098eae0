"""Best practice: implement rollbacks, with ``rollback_fn`` beside each step.

A ``rollback_fn(error, output)`` receives the failure that triggered the
compensation and this step's own recorded output, so it can cancel exactly
what the step created (the confirmation code, the booking reference) and say
why (the error's message). Rollbacks run in reverse completion order, each
recorded in the run's history, and a completed one never runs twice.

The step names differ from ``examples/saga.py`` because a step name is global
to a deployment (``vrb-compile`` reports duplicates, VRB301).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

# Stand-ins for the airline's and the hotel's booking services.
AIRLINE: dict[str, dict[str, Any]] = {}
HOTELS: dict[str, dict[str, Any]] = {}
CANCELLATIONS: list[dict[str, Any]] = []


async def _cancel_flight(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    AIRLINE[output["flightId"]]["status"] = "canceled"
    CANCELLATIONS.append(
        {
            "service": "airline",
            "confirmationCode": output["confirmationCode"],
            "reason": str(error),
        }
    )
    return {"canceled": True}


async def _cancel_hotel(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    HOTELS[output["bookingReference"]]["status"] = "canceled"
    CANCELLATIONS.append(
        {
            "service": "hotel",
            "bookingReference": output["bookingReference"],
            "reason": str(error),
        }
    )
    return {"canceled": True}


@step("reserve-flight", rollback_fn=_cancel_flight)
async def reserve_flight(user_id: str, trip: dict[str, Any]) -> dict[str, Any]:
    flight_id = f"FL-{user_id}-{trip['travelDate']}"
    AIRLINE[flight_id] = {
        "userId": user_id,
        "departure": trip["departureAirport"],
        "arrival": trip["arrivalAirport"],
        "status": "booked",
    }
    return {"flightId": flight_id, "flightNumber": "VR101", "confirmationCode": f"CONF-{user_id}"}


@step("reserve-hotel", rollback_fn=_cancel_hotel)
async def reserve_hotel(user_id: str, trip: dict[str, Any]) -> dict[str, Any]:
    reference = f"HB-{user_id}-{trip['checkIn']}"
    HOTELS[reference] = {"hotelId": trip["hotelId"], "guests": trip["guests"], "status": "booked"}
    return {"hotelId": trip["hotelId"], "hotelName": "Grand VRB", "bookingReference": reference}


@step("rent-car")
async def rent_car(user_id: str, trip: dict[str, Any]) -> dict[str, Any]:
    if not trip.get("carAvailable", False):
        raise RuntimeError("Car rental service unavailable!")
    return {"carId": f"CAR-{user_id}", "rentalCompany": "Wheels"}


@workflow("saga-with-fn-rollback")
async def saga_with_fn_rollback(
    ctx: WorkflowContext, user_id: str, trip: dict[str, Any]
) -> dict[str, Any]:
    await reserve_flight(user_id, trip)
    await reserve_hotel(user_id, trip)
    await rent_car(user_id, trip)
    return {"status": "booked", "tripId": f"TRIP-{user_id}"}
