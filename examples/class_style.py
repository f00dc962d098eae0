"""The class style (the whitepaper's "decorator style"): ``@Workflow`` on a class,
``@Step`` on its methods, ``async def run(self, ctx, ...)`` as the body.

It compiles to the same graph as the functional form.
"""

from __future__ import annotations

from typing import Any

from runtime import Step, Workflow, WorkflowContext

SEATS: dict[str, str] = {}


async def _release_seat(error: BaseException, output: dict[str, Any]) -> None:
    SEATS.pop(output["seat"], None)


@Workflow("trip-booking", max_events=200)
class TripBooking:
    @Step("reserve-seat", retries=2, rollback_fn=_release_seat)
    async def reserve_seat(self, trip: dict[str, Any]) -> dict[str, Any]:
        seat = f"{trip['flight']}-{len(SEATS) + 1}A"
        SEATS[seat] = trip["traveller"]
        return {"seat": seat}

    @Step("issue-ticket")
    async def issue_ticket(self, trip: dict[str, Any], seat: dict[str, Any]) -> dict[str, Any]:
        return {"ticket": f"TKT-{trip['traveller']}-{seat['seat']}"}

    async def run(self, ctx: WorkflowContext, trip: dict[str, Any]) -> dict[str, Any]:
        seat = await self.reserve_seat(trip)
        ticket = await self.issue_ticket(trip, seat)
        return {"status": "booked", **seat, **ticket}
