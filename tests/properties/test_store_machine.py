"""Property 4: every store follows a simple model of the store protocol, step by step.

A :class:`hypothesis.stateful.RuleBasedStateMachine` drives one store through
random sequences of the protocol's operations - create, claim, renew, append
(events, status changes, signal consumption), release, send and take signals,
cancel, and moving the manual clock so leases lapse and timers come due - on
three runs of two workflows, by two workers. :class:`Model` says what each
operation must return and do, straight from the rules in
:mod:`runtime.stores.base`. After every step the store's runs, logs and inboxes
must equal the model's, which checks the invariants:

* each run's seqs are 1..n without gaps, and a failed operation (a lost lease, a
  signal not buffered) wrote nothing;
* an append, renewal or release under a lease that was taken over, given back or
  ended raises ``LeaseLost``;
* no signal is lost or handed out twice, and each name's signals come FIFO;
* claims take exactly the due runs, oldest due first; statuses only move along
  pending -> running -> waiting/running/terminal, or pending -> cancelled when
  a cancel reaches a run before any claim (checked on the store's own records
  too, apart from the model).

The same machine runs on memory://, on SQLite (a fresh file per example) and on
PostgreSQL (a fresh schema per example; skipped without a server, failed under
``CI=true``). The store API is async: each machine owns one event loop.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from runtime.errors import RunFinished, RunNotFound
from runtime.events import ErrorInfo, EventDraft, StepStartedPayload
from runtime.stores import open_store
from runtime.stores.base import (
    TERMINAL_STATUSES,
    AppendResult,
    Lease,
    LeaseLost,
    RunIdConflict,
    RunRecord,
    RunStatus,
    RunUpdate,
    Signal,
    SignalConflict,
    Store,
)
from runtime.testing import ManualClock
from tests.pg_fixtures import drop_schema, postgres_server, with_schema  # noqa: F401

from . import budget

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)

RUN_IDS = ("r0", "r1", "r2")
WORKFLOWS = ("wa", "wb")
WORKERS = ("w0", "w1")
SIGNALS = ("g0", "g1")

STEPS = 40
"""Operations per example."""

MOVES: dict[str, set[str]] = {
    "pending": {"running", "cancelled"},
    "running": {"running", "waiting", "completed", "failed", "cancelled"},
    "waiting": {"running"},
    "completed": set(),
    "failed": set(),
    "cancelled": set(),
}
"""The status changes a run may make (``running -> running`` is a takeover)."""

# --------------------------------------------------------------------------- the model


@dataclass
class _Signal:
    name: str
    payload: int
    sent_at: datetime
    consumed: bool = False


@dataclass
class _Run:
    """One run as the protocol says it must be."""

    run_id: str
    workflow: str
    input: int
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    status: RunStatus = "pending"
    events: list[tuple[str, str | None, datetime]] = field(default_factory=list)
    signals: dict[int, _Signal] = field(default_factory=dict)
    owner: str | None = None
    epoch: int = 0
    expires_at: datetime | None = None
    lease_timeout: float = 30.0
    wake_at: datetime | None = None
    wait_signals: tuple[str, ...] = ()
    cancel_requested: bool = False
    recoveries: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Any = None
    error: ErrorInfo | None = None
    graph_hash: str | None = None

    def move(self, status: RunStatus) -> None:
        assert status in MOVES[self.status], f"the model moved {self.status} -> {status}"
        self.status = status

    def record(self) -> RunRecord:
        return RunRecord(
            run_id=self.run_id,
            workflow_name=self.workflow,
            graph_hash=self.graph_hash,
            input=self.input,
            status=self.status,
            result=self.result,
            error=self.error,
            created_at=self.created_at,
            updated_at=self.updated_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            wake_at=self.wake_at,
            wait_signals=self.wait_signals,
            cancel_requested=self.cancel_requested,
            lease_owner=self.owner,
            lease_epoch=self.epoch,
            lease_expires_at=self.expires_at,
            recoveries=self.recoveries,
            last_seq=len(self.events),
        )

    def holds(self, lease: Lease) -> bool:
        """Fencing: only the current lease of a running run may write."""
        return (
            self.status == "running" and self.owner == lease.worker_id and self.epoch == lease.epoch
        )

    def next_signal(self, name: str) -> tuple[int, int] | None:
        for seq in sorted(self.signals):
            signal = self.signals[seq]
            if signal.name == name and not signal.consumed:
                return seq, signal.payload
        return None

    def buffered(self, names: tuple[str, ...]) -> bool:
        return any(s.name in names and not s.consumed for s in self.signals.values())


@dataclass
class Model:
    """The runs of one example, changed by the operations the machine performs."""

    clock: ManualClock
    runs: dict[str, _Run] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.clock()

    def due(self, names: tuple[str, ...] | None) -> list[_Run]:
        """Runs a claim may take, oldest due first (ties by run id)."""
        found = [
            run
            for run in self.runs.values()
            if run.due_at is not None
            and run.due_at <= self.now
            and (names is None or run.workflow in names)
        ]
        return sorted(found, key=lambda run: (run.due_at or self.now, run.run_id))

    def log(self, run: _Run, kind: str, key: str | None = None) -> int:
        run.events.append((kind, key, self.now))
        run.updated_at = self.now
        return len(run.events)

    def give_back(self, run: _Run, wake_at: datetime | None, names: tuple[str, ...]) -> None:
        """A ``waiting`` update: due at ``wake_at``, or at once if woken already.

        A wake-up (a buffered signal it waits for, a cancellation) makes it due
        *now*, even when ``wake_at`` was earlier: what every backend does, and
        what decides its place in the claim order.
        """
        run.move("waiting")
        run.owner = run.expires_at = None
        run.wake_at, run.wait_signals = wake_at, names
        run.due_at = self.now if run.cancel_requested or run.buffered(names) else wake_at


# --------------------------------------------------------------------------- the machine

StoreFactory = Callable[[ManualClock], tuple[Store, Callable[[], None]]]

update_kinds = st.sampled_from(
    ["none", "none", "pin", "waiting", "completed", "failed", "cancelled"]
)
wake_offsets = st.sampled_from([None, 0, 10, 60])
signal_sets = st.sampled_from([(), ("g0",), ("g1",), ("g0", "g1")])


class StoreMachine(RuleBasedStateMachine):
    """Drives one store and the model side by side (see the module docstring)."""

    leases = Bundle("leases")

    def __init__(self, factory: StoreFactory) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.store, self._cleanup = factory(self.clock)
        self.model = Model(self.clock)
        self.seen_status: dict[str, str] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def fails(self, error: type[E], coroutine: Coroutine[Any, Any, Any]) -> E:
        try:
            self.run(coroutine)
        except error as raised:
            return raised
        raise AssertionError(f"expected {error.__name__}, nothing was raised")

    def lease_lost(self, lease: Lease, coroutine: Coroutine[Any, Any, Any]) -> None:
        lost = self.fails(LeaseLost, coroutine)
        assert (lost.run_id, lost.worker_id, lost.epoch) == (
            lease.run_id,
            lease.worker_id,
            lease.epoch,
        )

    def teardown(self) -> None:
        try:
            self.run(self.store.close())
        finally:
            self.loop.close()
            self._cleanup()

    # ----------------------------------------------------------------- time

    @rule(seconds=st.sampled_from([1, 5, 16, 31, 120]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # ----------------------------------------------------------------- runs

    @initialize()
    def first_run(self) -> None:
        # Every example has a run to work on from its first step; the others come by rule.
        self.create_run("r0", "wa", 0)

    @rule(
        run_id=st.sampled_from(RUN_IDS),
        workflow=st.sampled_from(WORKFLOWS),
        value=st.integers(0, 9),
    )
    def create_run(self, run_id: str, workflow: str, value: int) -> None:
        existing = self.model.runs.get(run_id)
        if existing is not None and existing.workflow != workflow:
            self.fails(RunIdConflict, self.store.create_run(run_id, workflow, value))
            return
        record, created = self.run(self.store.create_run(run_id, workflow, value))
        assert created == (existing is None)
        if existing is None:
            now = self.model.now
            existing = _Run(run_id, workflow, value, now, now, due_at=now)
            self.model.log(existing, "run_created")
            self.model.runs[run_id] = existing
        assert record == existing.record()

    @rule(
        target=leases,
        worker=st.sampled_from(WORKERS),
        names=st.sampled_from([None, (), ("wa",), ("wb",), ("wa", "wb")]),
        timeout=st.sampled_from([10.0, 30.0]),
        limit=st.integers(1, 3),
    )
    def claim(self, worker: str, names: tuple[str, ...] | None, timeout: float, limit: int) -> Any:
        claims = self.run(
            self.store.claim(worker, workflow_names=names, lease_timeout=timeout, limit=limit)
        )
        expected = self.model.due(names)[:limit]
        assert [claim.run.run_id for claim in claims] == [run.run_id for run in expected]
        now = self.model.now
        for claim, run in zip(claims, expected, strict=True):
            reason = {"pending": "new", "waiting": "resumed", "running": "recovered"}[run.status]
            assert claim.reason == reason
            if reason == "recovered":
                run.recoveries += 1
            run.move("running")
            run.owner, run.epoch = worker, run.epoch + 1
            run.expires_at = run.due_at = now + timedelta(seconds=timeout)
            run.lease_timeout = timeout
            run.started_at = run.started_at or now
            run.wake_at, run.wait_signals = None, ()
            run.updated_at = now
            assert claim.lease == Lease(run.run_id, worker, run.epoch, run.expires_at)
            assert claim.run == run.record()
        return multiple(*(claim.lease for claim in claims))

    @rule(lease=leases)
    def renew_lease(self, lease: Lease) -> None:
        run = self.model.runs[lease.run_id]
        if not run.holds(lease):
            self.lease_lost(lease, self.store.renew_lease(lease))
            return
        renewal = self.run(self.store.renew_lease(lease))
        run.expires_at = run.due_at = self.model.now + timedelta(seconds=run.lease_timeout)
        run.updated_at = self.model.now
        assert renewal.lease == Lease(lease.run_id, lease.worker_id, lease.epoch, run.expires_at)
        assert renewal.cancel_requested == run.cancel_requested

    @rule(lease=leases, offset=wake_offsets, names=signal_sets)
    def release(self, lease: Lease, offset: int | None, names: tuple[str, ...]) -> None:
        run = self.model.runs[lease.run_id]
        wake_at = None if offset is None else self.model.now + timedelta(seconds=offset)
        released = self.store.release(lease, wake_at=wake_at, wait_signals=names)
        if not run.holds(lease):
            self.lease_lost(lease, released)
            return
        self.run(released)
        # Without a time, a released run is due at once.
        self.model.give_back(run, wake_at or self.model.now, names)
        run.updated_at = self.model.now

    @rule(
        lease=leases,
        count=st.sampled_from([0, 0, 1, 2, 3]),
        kind=update_kinds,
        offset=wake_offsets,
        names=signal_sets,
        value=st.integers(0, 9),
        data=st.data(),
    )
    def append(
        self,
        lease: Lease,
        count: int,
        kind: str,
        offset: int | None,
        names: tuple[str, ...],
        value: int,
        data: st.DataObject,
    ) -> None:
        run = self.model.runs[lease.run_id]
        unconsumed = [seq for seq, signal in sorted(run.signals.items()) if not signal.consumed]
        # Mostly signals the run has buffered; sometimes one that is not (consumed, or no signal).
        candidates = st.sampled_from(unconsumed) if unconsumed else st.nothing()
        consume = data.draw(
            st.one_of(
                st.just([]),
                st.lists(
                    st.one_of(candidates, st.integers(1, len(run.events) + 1)),
                    min_size=1,
                    max_size=2,
                ),
            ),
            label="consume_signals",
        )
        drafts = [
            EventDraft(StepStartedPayload(step="s", attempt=1), f"k{len(run.events) + i}")
            for i in range(count)
        ]
        wake_at = None if offset is None else self.model.now + timedelta(seconds=offset)
        update = {
            "none": None,
            "pin": RunUpdate(graph_hash=f"h{value}"),
            "waiting": RunUpdate(status="waiting", wake_at=wake_at, wait_signals=names),
            "completed": RunUpdate(status="completed", result=value),
            "failed": RunUpdate(status="failed", error=ErrorInfo(type="E", message=str(value))),
            "cancelled": RunUpdate(status="cancelled"),
        }[kind]
        appended = self.store.append(lease, drafts, update=update, consume_signals=consume)
        if not run.holds(lease):
            self.lease_lost(lease, appended)
            return
        taken: set[int] = set()
        for seq in consume:
            if seq not in unconsumed or seq in taken:
                # The whole append is refused, naming the first signal it could not take.
                assert self.fails(SignalConflict, appended).seq == seq
                return
            taken.add(seq)
        result = self.run(appended)
        now = self.model.now
        for draft in drafts:
            self.model.log(run, draft.type, draft.key)
        for seq in consume:
            run.signals[seq].consumed = True
        run.updated_at = now
        if update is not None and update.graph_hash is not None:
            run.graph_hash = update.graph_hash
        new_lease: Lease | None = None
        if update is None or update.status is None:
            assert run.expires_at is not None
            # The lease is extended once less than half of it is left.
            if run.expires_at - now < timedelta(seconds=run.lease_timeout / 2):
                run.expires_at = run.due_at = now + timedelta(seconds=run.lease_timeout)
            new_lease = Lease(lease.run_id, lease.worker_id, lease.epoch, run.expires_at)
        elif update.status == "waiting":
            self.model.give_back(run, update.wake_at, update.wait_signals)
        else:
            run.move(update.status)
            run.owner = run.expires_at = run.due_at = None
            run.finished_at = now
            run.result, run.error = update.result, update.error
        assert result == AppendResult(len(run.events), new_lease, run.cancel_requested, result.at)

    # ----------------------------------------------------------------- signals and cancel

    @rule(run_id=st.sampled_from(RUN_IDS), name=st.sampled_from(SIGNALS), value=st.integers(0, 9))
    def send_signal(self, run_id: str, name: str, value: int) -> None:
        run = self.model.runs.get(run_id)
        sent = self.store.send_signal(run_id, name, value)
        if run is None:
            self.fails(RunNotFound, sent)
            return
        if run.status in TERMINAL_STATUSES:
            self.fails(RunFinished, sent)
            return
        signal = self.run(sent)
        seq = self.model.log(run, "signal_received")
        run.signals[seq] = _Signal(name, value, self.model.now)
        if run.status == "waiting" and name in run.wait_signals:
            run.due_at = self.model.now
        assert signal == Signal(run_id, seq, name, value, self.model.now)

    @rule(run_id=st.sampled_from(RUN_IDS), name=st.sampled_from(SIGNALS))
    def next_signal(self, run_id: str, name: str) -> None:
        run = self.model.runs.get(run_id)
        if run is None:
            self.fails(RunNotFound, self.store.next_signal(run_id, name))
            return
        found = self.run(self.store.next_signal(run_id, name))
        assert (None if found is None else (found.seq, found.payload)) == run.next_signal(name)

    @rule(run_id=st.sampled_from(RUN_IDS))
    def request_cancel(self, run_id: str) -> None:
        run = self.model.runs.get(run_id)
        cancelled = self.store.request_cancel(run_id)
        if run is None:
            self.fails(RunNotFound, cancelled)
            return
        if run.status in TERMINAL_STATUSES:
            self.fails(RunFinished, cancelled)
            return
        record = self.run(cancelled)
        run.cancel_requested = True
        run.updated_at = self.model.now
        if run.status == "pending":  # never started: it ends at once
            self.model.log(run, "run_cancelled")
            run.move("cancelled")
            run.finished_at = self.model.now
            run.error = ErrorInfo(type="Cancelled", message="cancellation requested")
            run.due_at = None
        if run.status == "waiting":
            run.due_at = self.model.now
        assert record == run.record()

    # ----------------------------------------------------------------- invariants

    @invariant()
    def runs_logs_and_inboxes_match_the_model(self) -> None:
        for run_id in RUN_IDS:
            run = self.model.runs.get(run_id)
            if run is None:
                self.fails(RunNotFound, self.store.get_run(run_id))
                continue
            record = self.run(self.store.get_run(run_id))
            assert record == run.record()
            before = self.seen_status.get(run_id, "pending")
            assert record.status == before or record.status in MOVES[before], (
                f"run {run_id} went {before} -> {record.status}"
            )
            self.seen_status[run_id] = record.status
            history = self.run(self.store.history(run_id))
            assert [e.seq for e in history] == list(range(1, len(history) + 1))
            assert [(e.type, e.key, e.at) for e in history] == run.events
            for name in SIGNALS:
                found = self.run(self.store.next_signal(run_id, name))
                assert (None if found is None else (found.seq, found.payload)) == (
                    run.next_signal(name)
                )


# --------------------------------------------------------------------------- backends


def _memory(clock: ManualClock) -> tuple[Store, Callable[[], None]]:
    return open_store("memory://", clock=clock), lambda: None


def _sqlite(clock: ManualClock) -> tuple[Store, Callable[[], None]]:
    directory = tempfile.mkdtemp(prefix="vrb-machine-")
    store = open_store(f"sqlite:///{Path(directory) / 'vrb.db'}", clock=clock)
    return store, lambda: shutil.rmtree(directory, ignore_errors=True)


def _postgres(server: str) -> StoreFactory:
    def factory(clock: ManualClock) -> tuple[Store, Callable[[], None]]:
        # A schema per example: nothing of one example is seen by the next.
        schema = f"vrb_test_{uuid.uuid4().hex[:16]}"
        return open_store(with_schema(server, schema), clock=clock), lambda: drop_schema(
            server, schema
        )

    return factory


def _check(factory: StoreFactory) -> None:
    run_state_machine_as_test(
        lambda: StoreMachine(factory),
        settings=settings(max_examples=budget("store_machine"), stateful_step_count=STEPS),
    )


def test_the_memory_store_follows_the_protocol_model() -> None:
    _check(_memory)


def test_the_sqlite_store_follows_the_protocol_model() -> None:
    _check(_sqlite)


def test_the_postgres_store_follows_the_protocol_model(postgres_server: str) -> None:  # noqa: F811
    _check(_postgres(postgres_server))
