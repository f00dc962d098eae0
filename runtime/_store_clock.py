"""The store's time as a worker reads it: this process's clock plus a learnt offset.

A store decides when a run is due with its own clock (PostgreSQL: the database
server's), and stamps every event with it; ``ctx.now()`` answers with those
stamps. A worker computes the other times it stores (a sleep's end, a retry's,
a parked run's wake-up, the execution deadline) from its clock, so a machine
whose clock is an hour ahead would set a one-second sleep an hour long, and one
an hour behind would wake a run that cannot go on yet, over and over.

Every round trip that returns a time the store read (a claim's ``updated_at``,
an append's ``at``) is a sample: the store read its clock between the request
and the reply, so ``store_time - midpoint`` is the offset, wrong by at most
half the round trip. As NTP does, the sample with the shortest round trip of
the latest few is used: it bounds the error best, and the window follows a
clock that is stepped or drifts. Never earlier than a time the store returned:
a backoff counted from now ends at least its length after the failure's attempt
began, as the log shows it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

__all__ = ["StoreClock"]

_WINDOW = 8


class StoreClock:
    """Now, on the store's clock, read off ``local`` (see the module docstring).

    Args:
        local: This process's clock (a test's manual clock, or the system's).
    """

    def __init__(self, local: Callable[[], datetime]) -> None:
        self.local = local
        self._samples: deque[tuple[timedelta, timedelta]] = deque(maxlen=_WINDOW)
        self.offset = timedelta(0)
        self._latest: datetime | None = None

    def __call__(self) -> datetime:
        now = self.local() + self.offset
        return now if self._latest is None else max(now, self._latest)

    def observe(self, store_time: datetime, sent: datetime, received: datetime) -> None:
        """Learn from a round trip: the store read ``store_time`` between ``sent`` and ``received``.

        ``sent`` and ``received`` are readings of :attr:`local`.
        """
        if self._latest is None or store_time > self._latest:
            self._latest = store_time
        trip = received - sent
        if trip < timedelta(0):
            return  # the local clock was stepped back mid-trip: the sample means nothing
        self._samples.append((trip, store_time - (sent + trip / 2)))
        self.offset = min(self._samples, key=lambda sample: sample[0])[1]
