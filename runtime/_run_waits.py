"""The run executor's durable waits and its notion of now (a mixin of :class:`RunExecutor`).

Sleeps, signal waits (in the body and inside steps) and ``ctx.now()`` read and
write the log the same way: each records its event before it acts, and each
answers from the log when the history already holds the answer, so a replay
sees what the live run did. Kept apart from :mod:`runtime.worker_run`, which
executes steps and sagas, so each module has one concern.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._run_state import RunSettings
from .errors import CodecError, SignalTimeout
from .events import (
    EventDraft,
    Payload,
    SignalConsumedPayload,
    WaitCompletedPayload,
    WaitCreatedPayload,
)
from .interpreter import Journal, Suspend
from .stores.base import RunRecord, Store

__all__ = ["RunWaits"]

log = logging.getLogger("runtime.worker")


class RunWaits:
    """:meth:`sleep`, :meth:`wait_signal`, :meth:`step_signal` and :meth:`now` of the executor.

    Attributes (the executor's):
        store: The store the run lives in.
        run: The run record at claim time.
        run_id: The run's id.
        journal: The run's history as read at claim time.
        settings: The worker's settings (its clock is the store's time).
        pending: Events recorded and not flushed yet.
        next_seq: The seq the next recorded event gets.
    """

    store: Store
    run: RunRecord
    run_id: str
    journal: Journal
    settings: RunSettings
    pending: list[EventDraft]
    next_seq: int
    _position: int
    _times: dict[int, datetime]
    _last_at: datetime
    _taken: dict[str, Any]
    _timed_out: set[str]
    _signals: asyncio.Lock

    if TYPE_CHECKING:

        def record(self, payload: Payload, key: str | None = None) -> int: ...

        async def flush(self, *, consume: Sequence[int] = ()) -> None: ...

        def _advance(self, seq: int) -> None: ...

    # ------------------------------------------------------------------ host: waits

    async def sleep(self, key: str, seconds: float) -> None:
        """See :meth:`Host.sleep`."""
        if key in self.journal.waits_completed:
            self._advance(self.journal.waits_completed[key])
            return
        wait = self.journal.waits.get(key)
        now = self.settings.clock()
        until = wait.payload.until if wait is not None else None
        if until is None:
            until = now + timedelta(seconds=seconds)
        if wait is None:
            self.record(WaitCreatedPayload(until=until), key)
        if now >= until:
            self._advance(self.record(WaitCompletedPayload(outcome="elapsed"), key))
            return
        raise Suspend([], until)

    async def wait_signal(self, key: str, name: str, timeout: float | None) -> Any:
        """See :meth:`Host.wait_signal`."""
        return await self._take_signal(key, name, timeout, in_body=True)

    async def step_signal(self, key: str, name: str, timeout: float | None) -> Any:
        """A signal waited inside a step body: it parks the run as a body wait does.

        The step is abandoned at its wait (its attempt has no outcome) and runs
        again from its start when the signal or the timeout makes the run due;
        the wait then returns the recorded payload, or raises
        :class:`SignalTimeout` again in every later attempt of this invocation.
        """
        return await self._take_signal(key, name, timeout, in_body=False)

    async def _take_signal(
        self, key: str, name: str, timeout: float | None, *, in_body: bool
    ) -> Any:
        # Only a body wait is a position of the walk (what ctx.now() reads).
        advance = self._advance if in_body else (lambda seq: None)
        consumed = self.journal.consumed.get(key)
        if consumed is not None:
            advance(consumed.seq)
            return consumed.payload.payload
        if key in self._taken:
            # Taken earlier in this claim, by an attempt that has since failed.
            return self._taken[key]
        if key in self.journal.waits_completed or key in self._timed_out:
            if key in self.journal.waits_completed:
                advance(self.journal.waits_completed[key])
            raise SignalTimeout(name, timeout or 0.0)
        async with self._signals:
            try:
                signal = await self.store.next_signal(self.run_id, name)
            except CodecError as error:
                # A payload this worker cannot decode (a key it lacks): nothing is
                # taken, and the run is given back as it is for a worker that can.
                retry = self.settings.retry_delay
                log.error("run %s: %s; given back, due again in %gs", self.run_id, error, retry)
                raise Suspend([], self.settings.clock() + timedelta(seconds=retry)) from None
            if signal is not None:
                seq = self.record(
                    SignalConsumedPayload(name=name, payload=signal.payload, signal_seq=signal.seq),
                    key,
                )
                await self.flush(consume=[signal.seq])
        if signal is not None:
            advance(seq)
            if not in_body:
                self._taken[key] = signal.payload
            return signal.payload
        wait = self.journal.waits.get(key)
        now = self.settings.clock()
        until = wait.payload.until if wait is not None else None
        if wait is None:
            if timeout is not None:
                until = now + timedelta(seconds=timeout)
            self.record(WaitCreatedPayload(until=until, signal=name), key)
        if until is not None and now >= until:
            advance(self.record(WaitCompletedPayload(outcome="elapsed"), key))
            if not in_body:
                self._timed_out.add(key)
            raise SignalTimeout(name, timeout or 0.0)
        raise Suspend([], until, [name])

    # ------------------------------------------------------------------ host: time

    def now(self) -> datetime:
        """See :meth:`Host.now`: the time of the latest step, wait or signal result passed.

        A result this claim recorded may not have committed yet (a step's
        completion commits with the next step's start). Its time is then fixed
        here, and the event is stored with it (:attr:`EventDraft.at`), so the
        log holds the time the body saw, whatever path led the body to ask.
        """
        found = self._time_at_position()
        if found is not None:
            return found
        index = self._position - (self.next_seq - len(self.pending))
        if 0 <= index < len(self.pending):
            # Never before an event the run already holds: ctx.now() does not go back.
            at = max(self.settings.clock(), self._last_at)
            self.pending[index] = self.pending[index].stamped(at)
            self._times[self._position] = self._last_at = at
            return at
        raise AssertionError(f"run {self.run_id}: no time known for event {self._position}")

    def _time_at_position(self) -> datetime | None:
        """The time of the event at the walk's position, if it is known already."""
        if self._position == 1 and 1 not in self._times:
            return self.run.created_at
        return self._times.get(self._position)
