"""The in-memory store: the reference implementation of the store protocol.

Single process, nothing survives it. Every method runs under one lock without
awaiting in between, which makes each one a transaction. Values are kept as
JSON text, as a database would keep them, so callers never share mutable
objects with the store and round trips behave exactly as in SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConfigurationError, RunFinished, RunNotFound, TooManySignals, shown
from ..events import (
    ErrorInfo,
    Event,
    EventDraft,
    RunCreatedPayload,
    SignalReceivedPayload,
)
from ._checks import (
    DEFAULT_LIMITS,
    StoreLimits,
    check_claim_args,
    check_drafts,
    check_history_args,
    check_lease,
    check_list_args,
    check_run_args,
    check_run_id,
    check_signal_args,
    check_stored,
    check_workflow_filter,
)
from ._codec import EventRow, decode_events, decode_value, encode_value
from ._notify import Notifier
from .base import (
    CANCELLED_ERROR,
    CANCELLED_EVENT,
    TERMINAL_STATUSES,
    AppendResult,
    Claim,
    ClaimReason,
    Clock,
    Lease,
    LeaseLost,
    Renewal,
    RunIdConflict,
    RunPage,
    RunRecord,
    RunStatus,
    RunUpdate,
    Signal,
    SignalConflict,
    WorkflowStats,
    decode_cursor,
    encode_cursor,
    stats_from_counts,
    system_clock,
    to_us,
)

__all__ = ["MemoryStore"]


_REASONS: dict[str, ClaimReason] = {
    "pending": "new",
    "waiting": "resumed",
    "running": "recovered",
}


@dataclass
class _Run:
    run_id: str
    workflow_name: str
    graph_hash: str | None
    input_json: str
    created_at: datetime
    updated_at: datetime
    status: RunStatus = "pending"
    result_json: str = "null"
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    due_at: datetime | None = None
    wake_at: datetime | None = None
    wait_signals: tuple[str, ...] = ()
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_epoch: int = 0
    lease_expires_at: datetime | None = None
    lease_timeout: float = 30.0
    recoveries: int = 0
    quarantine_deaths: int = 0
    # The current lease was marked by quarantine(): its lapse is the run's fault.
    lease_quarantined: bool = False
    events: list[EventRow] = field(default_factory=list)
    # seq -> (name, payload_json, sent_at, consumed)
    signals: dict[int, list[Any]] = field(default_factory=dict)
    buffered: int = 0  # signals not consumed yet

    def record(self) -> RunRecord:
        return RunRecord(
            run_id=self.run_id,
            workflow_name=self.workflow_name,
            graph_hash=self.graph_hash,
            input=decode_value(self.input_json),
            status=self.status,
            result=decode_value(self.result_json),
            error=self.error,
            created_at=self.created_at,
            updated_at=self.updated_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            wake_at=self.wake_at,
            wait_signals=self.wait_signals,
            cancel_requested=self.cancel_requested,
            lease_owner=self.lease_owner,
            lease_epoch=self.lease_epoch,
            lease_expires_at=self.lease_expires_at,
            recoveries=self.recoveries,
            last_seq=len(self.events),
            quarantine_deaths=self.quarantine_deaths,
        )

    def add_event(self, draft: EventDraft, now: datetime) -> int:
        seq = len(self.events) + 1
        at = now if draft.at is None else draft.at.astimezone(UTC)
        self.events.append((seq, draft.type, draft.key, draft.payload_json, at.isoformat()))
        return seq


class MemoryStore:
    """A store kept in this process's memory (``memory://``).

    Args:
        clock: The store's notion of now; tests pass a manual clock.
        limits: The store's bounds (payload size, buffered signals); default
            :class:`~runtime.stores.StoreLimits` ``()``.
    """

    def __init__(self, *, clock: Clock = system_clock, limits: StoreLimits | None = None) -> None:
        self.limits = DEFAULT_LIMITS if limits is None else limits
        """The store's bounds (:class:`~runtime.stores.StoreLimits`)."""
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._notifier = Notifier()
        self._closed = False

    def _now(self) -> datetime:
        return self._clock()

    def _get(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this memory store is closed; open a new one")

    def _fenced(self, lease: Lease) -> _Run:
        run = self._runs.get(lease.run_id)
        if run is None:
            reason = "the run does not exist"
        elif run.status != "running":
            reason = f"the run is {run.status}"
        elif run.lease_epoch != lease.epoch or run.lease_owner != lease.worker_id:
            reason = f"worker {run.lease_owner!r} took it over (epoch {run.lease_epoch})"
        else:
            return run
        raise LeaseLost(lease.run_id, lease.worker_id, lease.epoch, reason)

    # ----------------------------------------------------------------- runs

    async def create_run(
        self, run_id: str, workflow_name: str, input: Any, *, graph_hash: str | None = None
    ) -> tuple[RunRecord, bool]:
        """See :meth:`runtime.stores.Store.create_run`."""
        check_run_args(run_id, workflow_name, input)
        input_json = encode_value(input)
        check_stored(
            self.limits, input_json, f"the input of workflow {shown(workflow_name)}", input
        )
        draft = EventDraft(RunCreatedPayload(workflow=workflow_name, input=input))
        with self._lock:
            self._check_open()
            existing = self._runs.get(run_id)
            if existing is not None:
                if existing.workflow_name != workflow_name:
                    raise RunIdConflict(run_id, workflow_name, existing.workflow_name)
                return existing.record(), False
            now = self._now()
            run = _Run(
                run_id=run_id,
                workflow_name=workflow_name,
                graph_hash=graph_hash,
                input_json=input_json,
                created_at=now,
                updated_at=now,
                due_at=now,
            )
            run.add_event(draft, now)
            self._runs[run_id] = run
            record = run.record()
        self._notifier.notify()
        return record, True

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.get_run`."""
        check_run_id(run_id)
        with self._lock:
            self._check_open()
            return self._get(run_id).record()

    async def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """See :meth:`runtime.stores.Store.list_runs`."""
        check_list_args(status, limit, workflow_name)
        after = decode_cursor(cursor) if cursor is not None else None
        with self._lock:
            self._check_open()
            chosen = [
                run
                for run in self._runs.values()
                if (workflow_name is None or run.workflow_name == workflow_name)
                and (status is None or run.status == status)
                and (after is None or (to_us(run.created_at), run.run_id) < after)
            ]
            chosen.sort(key=lambda run: (run.created_at, run.run_id), reverse=True)
            page = chosen[: limit + 1]
            records = [run.record() for run in page[:limit]]
        next_cursor = None
        if len(page) > limit:
            last = records[-1]
            next_cursor = encode_cursor(to_us(last.created_at), last.run_id)
        return RunPage(runs=records, next_cursor=next_cursor)

    async def workflow_stats(self, workflow_name: str | None = None) -> WorkflowStats:
        """See :meth:`runtime.stores.Store.workflow_stats`."""
        check_workflow_filter(workflow_name)
        counts: dict[str, int] = {}
        finished = 0
        total_us = 0.0
        with self._lock:
            self._check_open()
            for run in self._runs.values():
                if workflow_name is not None and run.workflow_name != workflow_name:
                    continue
                counts[run.status] = counts.get(run.status, 0) + 1
                if run.finished_at is not None:
                    finished += 1
                    total_us += to_us(run.finished_at) - to_us(run.created_at)
        return stats_from_counts(counts, finished, total_us)

    # ----------------------------------------------------------------- leases

    async def claim(
        self,
        worker_id: str,
        *,
        workflow_names: Sequence[str] | None = None,
        lease_timeout: float = 30.0,
        limit: int = 1,
        exclude: Sequence[str] = (),
    ) -> list[Claim]:
        """See :meth:`runtime.stores.Store.claim`."""
        check_claim_args(worker_id, lease_timeout, limit, workflow_names, exclude)
        names = None if workflow_names is None else set(workflow_names)
        skipped = set(exclude)
        claims: list[Claim] = []
        with self._lock:
            self._check_open()
            now = self._now()
            due = [
                run
                for run in self._runs.values()
                if run.due_at is not None
                and run.due_at <= now
                and (names is None or run.workflow_name in names)
                and run.run_id not in skipped
            ]
            due.sort(key=lambda run: (run.due_at or now, run.run_id))
            for run in due[:limit]:
                reason = _REASONS[run.status]
                if reason == "recovered":
                    run.recoveries += 1
                    run.quarantine_deaths += run.lease_quarantined
                run.lease_quarantined = False
                expires = now + timedelta(seconds=lease_timeout)
                run.status = "running"
                run.started_at = run.started_at or now
                run.lease_owner = worker_id
                run.lease_epoch += 1
                run.lease_expires_at = expires
                run.lease_timeout = float(lease_timeout)
                run.due_at = expires
                run.wake_at = None
                run.wait_signals = ()
                run.updated_at = now
                lease = Lease(run.run_id, worker_id, run.lease_epoch, expires)
                claims.append(Claim(run=run.record(), lease=lease, reason=reason))
        return claims

    async def renew_lease(self, lease: Lease) -> Renewal:
        """See :meth:`runtime.stores.Store.renew_lease`."""
        check_lease(lease)
        with self._lock:
            self._check_open()
            run = self._fenced(lease)
            now = self._now()
            run.lease_expires_at = run.due_at = now + timedelta(seconds=run.lease_timeout)
            run.updated_at = now
            renewed = Lease(lease.run_id, lease.worker_id, lease.epoch, run.lease_expires_at)
            return Renewal(lease=renewed, cancel_requested=run.cancel_requested)

    async def quarantine(self, lease: Lease) -> None:
        """See :meth:`runtime.stores.Store.quarantine`."""
        check_lease(lease)
        with self._lock:
            self._check_open()
            self._fenced(lease).lease_quarantined = True

    async def release(
        self,
        lease: Lease,
        *,
        wake_at: datetime | None = None,
        wait_signals: Sequence[str] = (),
    ) -> None:
        """See :meth:`runtime.stores.Store.release`."""
        update = RunUpdate(
            status="waiting", wake_at=wake_at or self._now(), wait_signals=tuple(wait_signals)
        )
        await self.append(lease, [], update=update)

    # ----------------------------------------------------------------- events

    async def append(
        self,
        lease: Lease,
        events: Sequence[EventDraft],
        *,
        update: RunUpdate | None = None,
        consume_signals: Sequence[int] = (),
    ) -> AppendResult:
        """See :meth:`runtime.stores.Store.append`."""
        wakes = False
        check_lease(lease)
        check_drafts(self.limits, events, update, consume_signals)
        # Encoded before anything changes: a failure half way would keep half a write.
        result_json = "null" if update is None else encode_value(update.result)
        check_stored(
            self.limits, result_json, "the workflow's result", update.result if update else None
        )
        with self._lock:
            self._check_open()
            run = self._fenced(lease)
            taken: set[int] = set()
            for seq in consume_signals:
                signal = run.signals.get(seq)
                # The same seq twice would hand one signal out twice.
                if signal is None or signal[3] or seq in taken:
                    raise SignalConflict(lease.run_id, seq)
                taken.add(seq)
            # Every check has passed: from here on nothing can fail, so the
            # whole append lands or none of it does.
            now = self._now()
            first = len(run.events) + 1
            for draft in events:
                run.add_event(draft, now)
            for seq in consume_signals:
                run.signals[seq][3] = True
            run.buffered -= len(consume_signals)
            run.updated_at = now
            new_lease: Lease | None = None
            if update is not None and update.graph_hash is not None:
                run.graph_hash = update.graph_hash
            if update is None or update.status is None:
                # As in SQLite: renew only when less than half the lease is left.
                expires = run.lease_expires_at or now
                if expires - now < timedelta(seconds=run.lease_timeout / 2):
                    expires = now + timedelta(seconds=run.lease_timeout)
                    run.lease_expires_at = run.due_at = expires
                new_lease = Lease(lease.run_id, lease.worker_id, lease.epoch, expires)
            else:
                run.lease_owner = None
                run.lease_expires_at = None
                run.status = update.status
                if update.status == "waiting":
                    run.wake_at = update.wake_at
                    run.wait_signals = update.wait_signals
                    run.due_at = update.wake_at
                    buffered = any(
                        not consumed and name in update.wait_signals
                        for name, _, _, consumed in run.signals.values()
                    )
                    if buffered or run.cancel_requested:
                        run.due_at = now
                    wakes = run.due_at is not None and run.due_at <= now
                else:
                    run.due_at = None
                    run.finished_at = now
                    run.result_json = result_json
                    run.error = update.error
            result = AppendResult(
                last_seq=first + len(events) - 1,
                lease=new_lease,
                cancel_requested=run.cancel_requested,
                at=now,
            )
        if wakes:
            self._notifier.notify()
        return result

    async def history(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """See :meth:`runtime.stores.Store.history`."""
        check_history_args(run_id, after_seq, limit)
        with self._lock:
            self._check_open()
            events = self._get(run_id).events
            rows = events[after_seq:] if limit is None else events[after_seq : after_seq + limit]
        return decode_events(rows)

    # ----------------------------------------------------------------- signals

    async def send_signal(self, run_id: str, name: str, payload: Any = None) -> Signal:
        """See :meth:`runtime.stores.Store.send_signal`."""
        check_signal_args(name, payload, run_id)
        # Encoded before anything changes: a failure half way would keep half a write.
        payload_json = encode_value(payload)
        check_stored(self.limits, payload_json, f"the payload of signal {shown(name)}", payload)
        draft = EventDraft(SignalReceivedPayload(name=name, payload=payload))
        bound = self.limits.max_buffered_signals
        with self._lock:
            self._check_open()
            run = self._get(run_id)
            if run.status in TERMINAL_STATUSES:
                raise RunFinished(run_id, run.status)
            if bound is not None and run.buffered >= bound:
                raise TooManySignals(run_id, name, bound)
            now = self._now()
            seq = run.add_event(draft, now)
            run.signals[seq] = [name, payload_json, now, False]
            run.buffered += 1
            run.updated_at = now
            wakes = run.status == "waiting" and name in run.wait_signals
            if wakes:
                run.due_at = now
        if wakes:
            self._notifier.notify()
        return Signal(
            run_id=run_id, seq=seq, name=name, payload=decode_value(payload_json), sent_at=now
        )

    async def next_signal(self, run_id: str, name: str) -> Signal | None:
        """See :meth:`runtime.stores.Store.next_signal`."""
        check_signal_args(name, None, run_id)
        with self._lock:
            self._check_open()
            run = self._get(run_id)
            for seq in sorted(run.signals):
                signal_name, payload_json, sent_at, consumed = run.signals[seq]
                if signal_name == name and not consumed:
                    return Signal(run_id, seq, name, decode_value(payload_json), sent_at)
        return None

    async def request_cancel(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.request_cancel`."""
        check_run_id(run_id)
        with self._lock:
            self._check_open()
            run = self._get(run_id)
            if run.status in TERMINAL_STATUSES:
                raise RunFinished(run_id, run.status)
            now = self._now()
            run.cancel_requested = True
            run.updated_at = now
            if run.status == "pending":
                # Never claimed: nothing to stop or compensate, so it ends here.
                run.add_event(CANCELLED_EVENT, now)
                run.status = "cancelled"
                run.error = CANCELLED_ERROR
                run.finished_at = now
                run.due_at = None
            wakes = run.status == "waiting"
            if wakes:
                run.due_at = now
            record = run.record()
        if wakes:
            self._notifier.notify()
        return record

    # ----------------------------------------------------------------- lifecycle

    async def wait_for_work(self, timeout: float) -> None:
        """See :meth:`runtime.stores.Store.wait_for_work`."""
        await self._notifier.wait(timeout)

    async def close(self) -> None:
        """Forget nothing, but refuse further use (matching the other stores)."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<MemoryStore runs={len(self._runs)}>"
