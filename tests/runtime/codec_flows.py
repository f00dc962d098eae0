"""Workflows whose every user value carries a secret: for the payload codec tests.

``codec-payment`` takes a card number (the run's input), stores a token made
from it (a step output), waits for an approval signal (its payload), tries a
charge that fails with the card number in its message, arguments and
attributes (its retry and failure errors), compensates the token step (a
rollback output) and returns all of it (the result). ``codec-doomed`` lets the
same charge fail the run (the run's error).
"""

from __future__ import annotations

from typing import Any

from runtime import Backoff, StepFailed, WorkflowContext, step, workflow
from runtime.graphs import GraphLibrary

SECRET = "4111-1111-1111-1111-S3CR3T"
"""The marked secret: no store written through a codec may hold it."""

CALLS: list[str] = []
"""The steps and rollbacks run, in order (reset by the tests)."""


class CardDeclined(Exception):
    """A step error whose message, args and attributes hold the card number."""

    def __init__(self, message: str, card: str) -> None:
        super().__init__(message, card)
        self.card = card


async def _forget_token(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    CALLS.append("forget")
    return {"forgotten": output["token"]}


@step("codec-tokenize", rollback_fn=_forget_token)
async def tokenize(card: str) -> dict[str, Any]:
    CALLS.append("tokenize")
    return {"token": f"tok-{card}"}


@step("codec-charge", retries=1, backoff=Backoff(initial=0.01))
async def charge(card: str) -> None:
    CALLS.append("charge")
    raise CardDeclined(f"card {card} declined", card)


@workflow("codec-payment")
async def payment(ctx: WorkflowContext, card: str) -> dict[str, Any]:
    token = await tokenize(card)
    approval = await ctx.wait_for_signal("approve")
    try:
        await charge(card)
    except StepFailed as error:
        return {"token": token, "approval": approval, "failed": error.step}
    return {"token": token, "approval": approval, "failed": None}


@workflow("codec-doomed")
async def doomed(ctx: WorkflowContext, card: str) -> None:
    await charge(card)


_LIBRARY: GraphLibrary | None = None


def library() -> GraphLibrary:
    """These flows' graphs, compiled once per process."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = GraphLibrary()
        _LIBRARY.load(["codec-payment", "codec-doomed"])
    return _LIBRARY
