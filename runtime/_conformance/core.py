"""The conformance suite's machinery: the manual clock, the harness, the registry, helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ..events import (
    EventDraft,
    StepCompletedPayload,
    StepStartedPayload,
)
from ..stores.base import (
    Claim,
    Clock,
    Store,
)

E = TypeVar("E", bound=BaseException)
Check = Callable[["StoreHarness"], Awaitable[None]]


class ManualClock:
    """A clock that moves only when told to: lease expiry and timers without sleeping.

    Args:
        start: The initial time (aware).
    """

    def __init__(self, start: datetime = datetime(2030, 1, 1, tzinfo=UTC)) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` and return the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now


class StoreHarness:
    """How the conformance suite reaches one backend.

    Args:
        factory: Opens a store (a new connection to the same database each call,
            or the same in-memory store) using the clock it is given.
        url: A URL other processes can open on the same database, or ``None``
            for an in-process backend.
    """

    def __init__(self, factory: Callable[[Clock], Store], *, url: str | None = None) -> None:
        self.factory = factory
        self.url = url
        self.clock = ManualClock()
        self._opened: list[Store] = []

    def open(self) -> Store:
        """Open a store (another connection) on the harness's database and clock."""
        store = self.factory(self.clock)
        self._opened.append(store)
        return store

    async def close_all(self) -> None:
        """Close every store this harness opened."""
        for store in reversed(self._opened):
            await store.close()
        self._opened.clear()


CONFORMANCE_CHECKS: list[Check] = []
"""Every conformance check, in definition order."""


def conformance_check(*, requires_url: bool = False) -> Callable[[Check], Check]:
    """Register a check in :data:`CONFORMANCE_CHECKS`."""

    def register(check: Check) -> Check:
        check.requires_url = requires_url  # type: ignore[attr-defined]
        CONFORMANCE_CHECKS.append(check)
        return check

    return register


def run_check(check: Check, harness: StoreHarness) -> None:
    """Run one check on a fresh event loop and close what it opened."""

    async def main() -> None:
        try:
            await check(harness)
        finally:
            await harness.close_all()

    asyncio.run(main())


# --------------------------------------------------------------------------- helpers


async def _raises(error_type: type[E], awaitable: Awaitable[Any]) -> E:
    try:
        await awaitable
    except error_type as error:
        return error
    raise AssertionError(f"expected {error_type.__name__}, nothing was raised")


def _started(step: str, key: str, attempt: int = 1) -> EventDraft:
    return EventDraft(StepStartedPayload(step=step, attempt=attempt), key)


def _completed(step: str, key: str, output: Any = None) -> EventDraft:
    return EventDraft(StepCompletedPayload(step=step, output=output, attempt=1), key)


async def _claim_one(store: Store, worker: str, **options: Any) -> Claim:
    claims = await store.claim(worker, **options)
    assert len(claims) == 1, f"expected one claim for {worker}, got {len(claims)}"
    return claims[0]


async def _seqs(store: Store, run_id: str) -> list[int]:
    return [event.seq for event in await store.history(run_id)]
