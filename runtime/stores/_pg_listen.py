"""LISTEN/NOTIFY wake-ups for :mod:`runtime.stores.postgres`.

A write that makes a run due notifies ``""``; a wait that sets a timer notifies
``timer:<seconds>``, how long until it is due, measured on the server's clock by
the write. A listener keeps its timers on its event loop's monotonic clock, so
neither its wall clock nor any skew between machines moves them.
"""

from __future__ import annotations

import asyncio
import heapq
import math

import psycopg

from ._notify import Notifier
from ._pg_pool import _PgPool

_TIMER_PREFIX = "timer:"
_MAX_TIMERS = 1024  # timer hints kept per store; the latest are dropped first


class _PgListen(_PgPool):
    """The wake-up half of :class:`runtime.stores.postgres.PostgresStore`."""

    _channel: str
    _wakeup: Notifier
    _heard: int
    _seen: int
    _timers: list[float]  # when heard timers are due, on the event loop's clock

    async def wait_for_work(self, timeout: float) -> None:
        """See :meth:`runtime.stores.Store.wait_for_work`.

        Returns at the next ``NOTIFY`` from any process (this one included), at
        the earliest timer heard of, or after ``timeout`` seconds; at once if a
        notification arrived since the last call returned, so a wake-up that
        came while the worker was busy claiming is not lost. The first call
        starts listening, and returns once it listens (anything may have become
        due before).
        """
        await self._get_pool()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        baseline = self._seen
        try:
            while self._heard == baseline:
                now = loop.time()
                if self._timers and self._timers[0] <= now:
                    while self._timers and self._timers[0] <= now:
                        heapq.heappop(self._timers)
                    return  # a timer heard of is due: poll now
                remaining = deadline - now
                if remaining <= 0:
                    return
                if self._timers:
                    remaining = min(remaining, self._timers[0] - now)
                await self._wakeup.wait(max(remaining, 0.0))
        finally:
            self._seen = self._heard

    async def _listen(self) -> None:
        """Keep a LISTEN connection open, reconnecting with backoff; feed the notifier."""
        delay = 0.1
        while not self._closed:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f'LISTEN "{self._channel}"')
                    # Anything may have happened while not listening: wake waiters once.
                    self._hear("")
                    delay = 0.1
                    async for note in conn.notifies():
                        self._hear(note.payload)
            except psycopg.Error:
                pass
            if self._closed:
                return
            await asyncio.sleep(delay)
            # Capped low, as the pool's reconnection: wake-ups resume soon after the server does.
            delay = min(delay * 2, 1.0)

    def _hear(self, payload: str) -> None:
        if payload.startswith(_TIMER_PREFIX):
            try:
                delay = float(payload.removeprefix(_TIMER_PREFIX))
            except ValueError:
                return  # not a delay (an older version's due time): polling finds it
            if not math.isfinite(delay):
                return
            heapq.heappush(self._timers, asyncio.get_running_loop().time() + max(delay, 0.0))
            if len(self._timers) > _MAX_TIMERS:
                self._timers = heapq.nsmallest(_MAX_TIMERS // 2, self._timers)
            # Waiters re-compute how long to sleep; no poll is owed for a timer.
            self._wakeup.notify()
            return
        self._heard += 1
        self._wakeup.notify()
