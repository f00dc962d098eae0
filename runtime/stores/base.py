"""The store protocol: runs, their event logs, signal inboxes, timers and leases.

Every backend (``memory``, ``sqlite``, ``postgresql``) implements
:class:`Store` with the same semantics and passes the conformance suite in
:mod:`runtime.testing`. Backend SQL stays in its backend module. Every method
checks its arguments first, the same way in every backend
(:mod:`runtime.stores._checks`): identifiers by one rule, values as JSON within
the store's :class:`~runtime.stores._checks.StoreLimits`; a bad argument is a
:class:`~runtime.errors.ConfigurationError` (a ``ValueError``) or a
:class:`~runtime.events.NotJSONError` (a ``TypeError``), never a driver's error.

Run states and what makes a run claimable
-----------------------------------------
``pending`` (triggered, never claimed), ``running`` (a worker holds its lease),
``waiting`` (given back: a timer, a signal, a retry backoff, a release),
``completed``, ``failed``, ``cancelled`` (terminal). A run is *due* - and
:meth:`Store.claim` may hand it to a worker - when it is

* ``pending``;
* ``running`` but its lease expired (its worker died or hung): a *recovery*,
  counted in :attr:`RunRecord.recoveries`, and in
  :attr:`RunRecord.quarantine_deaths` when the lapsed lease was marked by
  :meth:`Store.quarantine` (the run was executing alone), so the worker can
  fail a poison run without blaming the runs that shared its dead workers;
* ``waiting`` and its ``wake_at`` has come, or a signal named in its
  ``wait_signals`` is buffered (sent before or after the wait began), or
  cancellation was requested.

Backends keep one ``due_at`` per run (``None`` when nothing will make it due by
time alone) so a claim is one indexed range scan.

Leases and fencing
------------------
:meth:`Store.claim` atomically moves each due run to ``running``, records the
worker as the lease owner, sets the lease expiry to ``now + lease_timeout`` and
increments the run's ``lease_epoch``; the returned :class:`Lease` carries that
epoch as a fencing token. Every write made under a lease (:meth:`Store.append`,
:meth:`Store.renew_lease`, :meth:`Store.release`) checks in the same
transaction that the run is still ``running`` with the same owner and epoch,
and raises :class:`LeaseLost` - writing nothing - when it is not. An expired
lease is still honoured until another worker claims the run: only a takeover
(which increments the epoch) fences the old worker out, so a slow worker that
nobody replaced loses nothing. :meth:`Store.renew_lease` extends the lease to
``now + lease_timeout`` (the timeout given at claim time); an append does the
same when less than half of the lease is left (so the hot path rarely rewrites
the run's row), and returns the lease's current expiry. A worker that commits
more often than every half lease needs no separate heartbeat; one running a
long step must heartbeat.

Transaction boundaries
----------------------
Each method is one transaction; nothing is ever half written:

* ``create_run``: the run row and its ``run_created`` event (seq 1).
* ``claim``: the lease of every run it returns.
* ``append``: the events (their seqs allocated contiguously after the run's
  last one), the consumed signals, and the run's new status, result, error,
  wake-up time and lease state. If any part fails - a lost lease, a signal
  already consumed, a non-JSON value - nothing is written.
* ``send_signal``: the buffered signal, its ``signal_received`` event, and
  waking the run if it waits for that name.
* ``request_cancel``: the cancellation flag, and waking a waiting run; for a
  ``pending`` run, ending it ``cancelled`` with its ``run_cancelled`` event.

The worker's hot path is therefore one commit per step: claim, read
:meth:`Store.history` once, replay, then for each step
``append(lease, [step_completed, step_started(next)])``; the first append of a
new run carries ``run_started`` with the first ``step_started``; the last one
carries ``run_completed`` with ``RunUpdate(status="completed", result=...)``.
To block on a sleep or a signal the worker appends ``wait_created`` with
``RunUpdate(status="waiting", wake_at=..., wait_signals=[...])``, which also
releases the lease. To take a signal it calls :meth:`Store.next_signal` and
appends ``signal_consumed`` with ``consume_signals=[signal.seq]`` so the
consumption and its event commit together.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from .._identifiers import identifier_problem
from ..errors import ConfigurationError, VrbError, shown
from ..events import ErrorInfo, Event, EventDraft, RunCancelledPayload, ensure_json

__all__ = [
    "ACTIVE_STATUSES",
    "CANCELLED_ERROR",
    "CANCELLED_EVENT",
    "RUN_STATUSES",
    "TERMINAL_STATUSES",
    "AppendResult",
    "Claim",
    "ClaimReason",
    "Clock",
    "Lease",
    "LeaseLost",
    "Renewal",
    "RunIdConflict",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "RunUpdate",
    "SchemaVersionError",
    "Signal",
    "SignalConflict",
    "Store",
    "StoreError",
    "WorkflowStats",
    "decode_cursor",
    "encode_cursor",
    "system_clock",
]

RunStatus = Literal["pending", "running", "waiting", "completed", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"pending", "running", "waiting"})

CANCELLED_ERROR = ErrorInfo(type="Cancelled", message="cancellation requested")
"""The error of a run that ends ``cancelled``, by its worker or by :meth:`Store.request_cancel`."""
CANCELLED_EVENT = EventDraft(RunCancelledPayload(reason="cancellation requested"))
"""The ``run_cancelled`` event such a run's log ends with."""

ClaimReason = Literal["new", "resumed", "recovered"]
"""Why a run was claimable: ``pending``; ``waiting`` and due; ``running`` with a lapsed lease."""

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def system_clock() -> datetime:
    """The wall clock in UTC (the default clock of every store)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- errors


class StoreError(VrbError):
    """A store could not be opened or refused an operation."""


class SchemaVersionError(StoreError):
    """The database was written by a newer vrb-workflows (or is not a vrb database)."""


class RunIdConflict(StoreError, ValueError):
    """A caller-chosen run id already belongs to a run of another workflow.

    Attributes:
        run_id: The id asked for.
        workflow_name: The workflow the caller wanted.
        existing_workflow: The workflow the existing run belongs to.
    """

    def __init__(self, run_id: str, workflow_name: str, existing_workflow: str) -> None:
        self.run_id = run_id
        self.workflow_name = workflow_name
        self.existing_workflow = existing_workflow
        super().__init__(
            f"run id {shown(run_id)} already belongs to a run of workflow {shown(existing_workflow)}, "
            f"not {shown(workflow_name)}; choose another run id"
        )


class LeaseLost(StoreError):
    """The caller's lease on a run is gone, so its write was refused and nothing was written.

    A worker that gets this must stop working on the run at once: another
    worker has taken it over, or the run has ended or been given back.

    Attributes:
        run_id: The run.
        worker_id: The worker whose lease was lost.
        epoch: The epoch of the lost lease.
        reason: What happened to the run meanwhile.
    """

    def __init__(self, run_id: str, worker_id: str, epoch: int, reason: str) -> None:
        self.run_id = run_id
        self.worker_id = worker_id
        self.epoch = epoch
        self.reason = reason
        super().__init__(
            f"worker {worker_id!r} lost its lease on run {run_id} (epoch {epoch}): {reason}; "
            "nothing was written"
        )


class SignalConflict(StoreError):
    """An append tried to consume a signal that is not buffered for the run (a worker bug)."""

    def __init__(self, run_id: str, seq: int) -> None:
        self.run_id = run_id
        self.seq = seq
        super().__init__(
            f"run {run_id} has no unconsumed signal with seq {seq}; nothing was written"
        )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as the store holds it.

    Attributes:
        run_id: The run's id.
        workflow_name: The workflow it runs.
        graph_hash: The graph version it is pinned to (``None`` until a worker sets it).
        input: The run's input (a JSON value).
        status: One of :data:`RUN_STATUSES`.
        result: The return value once ``completed``.
        error: The error once ``failed`` (and optionally ``cancelled``).
        created_at: When it was triggered.
        updated_at: When the run last changed: its status, lease, result, log or
            inbox (every append counts, even one without events).
        started_at: When it was first claimed.
        finished_at: When it reached a terminal status.
        wake_at: When a ``waiting`` run becomes due by time, if ever.
        wait_signals: Signal names that wake a ``waiting`` run.
        cancel_requested: ``request_cancel`` was called.
        lease_owner: The worker holding the lease of a ``running`` run.
        lease_epoch: How many times the run has been claimed (the fencing token).
        lease_expires_at: When the current lease lapses.
        recoveries: How many times it was claimed after its lease lapsed.
        last_seq: The seq of its last event, which is also its number of events.
        quarantine_deaths: How many of those lapsed leases were marked by
            :meth:`Store.quarantine`: deaths of a worker that executed this run
            alone, so the run itself is to blame.
    """

    run_id: str
    workflow_name: str
    graph_hash: str | None
    input: Any
    status: RunStatus
    result: Any
    error: ErrorInfo | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None
    wait_signals: tuple[str, ...]
    cancel_requested: bool
    lease_owner: str | None
    lease_epoch: int
    lease_expires_at: datetime | None
    recoveries: int
    last_seq: int
    quarantine_deaths: int = 0


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's right to write to one run; ``epoch`` is the fencing token.

    Attributes:
        run_id: The leased run.
        worker_id: The worker holding it.
        epoch: The run's ``lease_epoch`` when this lease was granted.
        expires_at: When the lease lapses unless renewed (by a write or a heartbeat).
    """

    run_id: str
    worker_id: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """A run handed to a worker by :meth:`Store.claim`.

    Attributes:
        run: The run as it is after the claim (``running``, owned by the worker).
        lease: The lease to pass to every write.
        reason: Why it was due (``new``, ``resumed`` or ``recovered``).
    """

    run: RunRecord
    lease: Lease
    reason: ClaimReason


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """The change to a run's row that an :meth:`Store.append` commits with its events.

    Attributes:
        status: ``waiting`` (gives the lease back until ``wake_at`` or a signal),
            or a terminal status (ends the run); ``None`` keeps it ``running``.
        result: The return value, with ``completed``.
        error: The error, required with ``failed``, optional with ``cancelled``.
        wake_at: With ``waiting``: when the run becomes due by time (``None``: never).
        wait_signals: With ``waiting``: signal names that make it due.
        graph_hash: Pin the run to this graph version (set on its first append).
    """

    status: Literal["waiting", "completed", "failed", "cancelled"] | None = None
    result: Any = None
    error: ErrorInfo | None = None
    wake_at: datetime | None = None
    wait_signals: tuple[str, ...] = ()
    graph_hash: str | None = None

    def __post_init__(self) -> None:
        if self.status not in (None, "waiting", "completed", "failed", "cancelled"):
            raise ConfigurationError(
                f"RunUpdate status must be waiting, completed, failed or cancelled, not {self.status!r}"
            )
        if self.result is not None:
            if self.status != "completed":
                raise ConfigurationError("RunUpdate.result goes with status 'completed' only")
            ensure_json(self.result, "workflow result")
        if self.status == "failed" and self.error is None:
            raise ConfigurationError("RunUpdate with status 'failed' needs an error")
        if self.error is not None and self.status not in ("failed", "cancelled"):
            raise ConfigurationError("RunUpdate.error goes with status 'failed' or 'cancelled'")
        if (self.wake_at is not None or self.wait_signals) and self.status != "waiting":
            raise ConfigurationError("RunUpdate.wake_at and wait_signals go with status 'waiting'")
        if self.wake_at is not None and self.wake_at.tzinfo is None:
            raise ConfigurationError("RunUpdate.wake_at must be timezone-aware (UTC)")
        if isinstance(self.wait_signals, str) or not all(
            isinstance(name, str) for name in self.wait_signals
        ):
            raise ConfigurationError("RunUpdate.wait_signals must be a tuple of signal names")
        object.__setattr__(self, "wait_signals", tuple(self.wait_signals))


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append committed.

    Attributes:
        last_seq: The seq of the last appended event (the events got the seqs
            ``last_seq - len(events) + 1 .. last_seq``); the run's event count.
        lease: The extended lease, or ``None`` if the update gave the run back
            or ended it.
        cancel_requested: Cancellation was requested; stop at the next checkpoint.
        at: The commit time, the ``at`` of every appended event but those whose
            draft carries its own (:attr:`EventDraft.at`): with it the worker
            knows the time of every event it wrote without reading them back.
    """

    last_seq: int
    lease: Lease | None
    cancel_requested: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class Renewal:
    """The outcome of a heartbeat.

    Attributes:
        lease: The lease with its new expiry.
        cancel_requested: Cancellation was requested; stop at the next checkpoint.
    """

    lease: Lease
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class Signal:
    """A buffered signal.

    Attributes:
        run_id: The run it was sent to.
        seq: The seq of its ``signal_received`` event: its identity and FIFO order.
        name: The signal's name.
        payload: The JSON value sent with it.
        sent_at: When it was stored.
    """

    run_id: str
    seq: int
    name: str
    payload: Any
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of :meth:`Store.list_runs`, newest first.

    Attributes:
        runs: The runs on this page.
        next_cursor: Pass it back for the next page; ``None`` on the last page.
    """

    runs: list[RunRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class WorkflowStats:
    """Aggregate numbers over runs.

    Attributes:
        total_runs: Every run counted.
        by_status: Runs per status; every status is present, zeros included.
        success_rate: ``completed`` / (``completed`` + ``failed`` + ``cancelled``),
            ``None`` while no run has finished.
        avg_duration_ms: Mean of ``finished_at - created_at`` over finished runs,
            ``None`` while no run has finished.
    """

    total_runs: int
    by_status: dict[str, int] = field(default_factory=dict)
    success_rate: float | None = None
    avg_duration_ms: float | None = None


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class Store(Protocol):
    """The storage every worker and client talks to. All methods are coroutines."""

    async def create_run(
        self, run_id: str, workflow_name: str, input: Any, *, graph_hash: str | None = None
    ) -> tuple[RunRecord, bool]:
        """Create a ``pending`` run and its ``run_created`` event, or return the existing one.

        Args:
            run_id: Caller-chosen id; creating it twice is idempotent.
            workflow_name: The workflow to run.
            input: The run's input, a JSON value.
            graph_hash: The graph version, if the caller already knows it.

        Returns:
            The run, and ``True`` if this call created it.

        Raises:
            NotJSONError: ``input`` is not JSON; nothing is written.
            PayloadTooLarge: ``input`` is over the store's ``max_payload_bytes``.
            RunIdConflict: ``run_id`` belongs to a run of another workflow.
        """
        ...

    async def get_run(self, run_id: str) -> RunRecord:
        """Return the run.

        Raises:
            RunNotFound: No run has this id.
        """
        ...

    async def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """List runs newest first (by creation time, then run id), filtered.

        Raises:
            ConfigurationError: A bad status, limit or cursor.
        """
        ...

    async def workflow_stats(self, workflow_name: str | None = None) -> WorkflowStats:
        """Aggregate numbers over all runs, or the runs of one workflow."""
        ...

    async def claim(
        self,
        worker_id: str,
        *,
        workflow_names: Sequence[str] | None = None,
        lease_timeout: float = 30.0,
        limit: int = 1,
        exclude: Sequence[str] = (),
    ) -> list[Claim]:
        """Lease up to ``limit`` due runs to ``worker_id``, oldest due first.

        Atomic: no run is ever handed to two workers at once. ``None`` for
        ``workflow_names`` means any workflow. Runs in ``exclude`` are passed
        over (a worker that cannot serve a run leaves it to the others).
        """
        ...

    async def renew_lease(self, lease: Lease) -> Renewal:
        """Heartbeat: extend the lease by its ``lease_timeout``.

        Raises:
            LeaseLost: The run was taken over, given back or ended.
        """
        ...

    async def quarantine(self, lease: Lease) -> None:
        """Mark the execution under ``lease`` as quarantined: its worker runs nothing else.

        If this lease lapses and the run is claimed again (a recovery), the claim
        also counts the death in :attr:`RunRecord.quarantine_deaths`. The mark
        belongs to this lease only: every claim starts unmarked.

        Raises:
            LeaseLost: The run was taken over, given back or ended.
        """
        ...

    async def release(
        self,
        lease: Lease,
        *,
        wake_at: datetime | None = None,
        wait_signals: Sequence[str] = (),
    ) -> None:
        """Give the run back without events: it becomes ``waiting``, due at ``wake_at``.

        ``wake_at=None`` makes it due at once (a worker shutting down, or one
        lacking the run's graph version). Not counted as a recovery.

        Raises:
            LeaseLost: The run was taken over, given back or ended.
        """
        ...

    async def append(
        self,
        lease: Lease,
        events: Sequence[EventDraft],
        *,
        update: RunUpdate | None = None,
        consume_signals: Sequence[int] = (),
    ) -> AppendResult:
        """Append events and apply ``update`` in one transaction, fenced by ``lease``.

        Args:
            lease: The caller's lease; checked in the same transaction.
            events: Drafts; they get contiguous seqs after the run's last event.
            update: The run's new status and its companions, if it changes.
            consume_signals: Seqs of buffered signals this append consumes.

        Raises:
            LeaseLost: The lease was taken over (or the run given back or ended).
            SignalConflict: A signal to consume is not buffered for the run.
        """
        ...

    async def history(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The run's events with ``seq > after_seq``, in seq order, at most ``limit`` of them.

        Page through a long run by passing the last seq returned as the next
        ``after_seq``; a page shorter than ``limit`` is the last. ``None`` returns
        every event (what a worker replays).

        Raises:
            RunNotFound: No run has this id.
            ConfigurationError: ``after_seq`` is not an int >= 0, or ``limit``
                neither ``None`` nor an int >= 1.
        """
        ...

    async def send_signal(self, run_id: str, name: str, payload: Any = None) -> Signal:
        """Buffer a signal durably (with its ``signal_received`` event).

        Raises:
            NotJSONError: ``payload`` is not JSON; nothing is written.
            PayloadTooLarge: ``payload`` is over the store's ``max_payload_bytes``.
            TooManySignals: The run has ``max_buffered_signals`` signals it has not taken.
            RunNotFound: No run has this id.
            RunFinished: The run has ended.
        """
        ...

    async def next_signal(self, run_id: str, name: str) -> Signal | None:
        """The oldest unconsumed signal called ``name``, or ``None``.

        Raises:
            RunNotFound: No run has this id.
        """
        ...

    async def request_cancel(self, run_id: str) -> RunRecord:
        """Cancel the run: at once if it never started, else at its next checkpoint.

        A ``pending`` run (never claimed) has no checkpoint to reach and nothing
        to compensate, so it ends ``cancelled`` in this transaction, as a worker
        would end it: ``error`` :data:`CANCELLED_ERROR`, ``finished_at`` set,
        :data:`CANCELLED_EVENT` appended, and no longer due. A claim racing with it either gets the run first (and the cancel is
        then a request) or does not get it at all. Any other live run only gets
        the flag (:attr:`RunRecord.cancel_requested`), which its worker reads at
        its next checkpoint; a waiting run is made due at once so a worker sees
        it. Idempotent while the run lives.

        Returns:
            The run after the change: ``cancelled``, or still live with the flag set.

        Raises:
            RunNotFound: No run has this id.
            RunFinished: The run has ended.
        """
        ...

    async def wait_for_work(self, timeout: float) -> None:
        """Return when work may have become due in this process, or after ``timeout`` s.

        A hint for idle workers, never a guarantee: they still poll.
        """
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...


# --------------------------------------------------------------------------- shared helpers


def encode_cursor(created_at_us: int, run_id: str) -> str:
    """An opaque ``list_runs`` cursor pointing after the run given."""
    raw = json.dumps([created_at_us, run_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Decode a cursor made by :func:`encode_cursor`.

    A cursor comes back from the caller, so it is checked like any input: a
    tampered one (deep JSON, a huge number, a time no datetime holds, a run id
    breaking the identifier rule) is refused like a malformed one.

    Raises:
        ConfigurationError: It is not a cursor ``list_runs`` returned.
    """
    if isinstance(cursor, str) and len(cursor) <= _MAX_CURSOR:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            created_at_us, run_id = json.loads(raw)
            if (
                type(created_at_us) is int
                and _MIN_US <= created_at_us <= _MAX_US
                and identifier_problem(run_id) is None
            ):
                return created_at_us, run_id
        except (ValueError, TypeError, RecursionError, binascii.Error):
            pass
    raise ConfigurationError(
        f"cursor {shown(cursor)} is not one list_runs returned; pass next_cursor as given"
    )


_MAX_CURSOR = 512  # a cursor holds a time and a run id of at most 255 characters
_MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z, the first time a datetime holds
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the last


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The aware UTC datetime ``us`` microseconds after the Unix epoch."""
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def stats_from_counts(
    counts: dict[str, int], finished: int, total_duration_us: float
) -> WorkflowStats:
    """Build :class:`WorkflowStats` from per-status counts and finished-run durations."""
    by_status: dict[str, int] = {status: counts.get(status, 0) for status in RUN_STATUSES}
    ended = by_status["completed"] + by_status["failed"] + by_status["cancelled"]
    return WorkflowStats(
        total_runs=sum(by_status.values()),
        by_status=by_status,
        success_rate=by_status["completed"] / ended if ended else None,
        avg_duration_ms=total_duration_us / finished / 1000 if finished else None,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
