"""Test support: a manual clock and the store conformance suite.

Every store backend must pass :data:`CONFORMANCE_CHECKS`. A backend's test
module builds a :class:`StoreHarness` and runs each check, for example::

    @pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check, tmp_path):
        harness = StoreHarness(lambda clock: SQLiteStore(tmp_path / "t.db", clock=clock),
                               url=f"sqlite:///{tmp_path}/t.db")
        run_check(check, harness)

A check is an ``async def check_...(h: StoreHarness) -> None`` named for the
behaviour it verifies; it raises ``AssertionError`` when the store misbehaves.
Checks with ``requires_url`` use several processes and only run when the
harness has a URL that other processes can open. Nothing here imports pytest.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue as queue_module
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from .errors import ConfigurationError, RunFinished, RunNotFound
from .events import (
    ErrorInfo,
    EventDraft,
    NotJSONError,
    RunCancelledPayload,
    RunCompletedPayload,
    RunStartedPayload,
    SignalConsumedPayload,
    StepCompletedPayload,
    StepRetryingPayload,
    StepStartedPayload,
    WaitCreatedPayload,
)
from .stores.base import (
    Claim,
    Clock,
    Lease,
    LeaseLost,
    RunIdConflict,
    RunUpdate,
    SignalConflict,
    Store,
)

__all__ = [
    "CONFORMANCE_CHECKS",
    "ManualClock",
    "StoreHarness",
    "conformance_check",
    "run_check",
]

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


# --------------------------------------------------------------------------- runs


@conformance_check()
async def check_create_run_is_idempotent_on_the_run_id(h: StoreHarness) -> None:
    store = h.open()
    first, created = await store.create_run("r1", "wf", {"n": 1})
    assert created
    assert first.status == "pending"
    assert first.last_seq == 1
    assert first.input == {"n": 1}
    assert first.created_at == h.clock()
    h.clock.advance(5)
    again, created_again = await store.create_run("r1", "wf", {"n": 2})
    assert not created_again
    assert again.input == {"n": 1}
    assert again.created_at == first.created_at
    history = await store.history("r1")
    assert [(e.seq, e.type) for e in history] == [(1, "run_created")]
    assert history[0].payload.model_dump() == {"workflow": "wf", "input": {"n": 1}}


@conformance_check()
async def check_create_run_refuses_a_run_id_of_another_workflow(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r1", "wf-a", None)
    error = await _raises(RunIdConflict, store.create_run("r1", "wf-b", None))
    assert str(error) == (
        "run id 'r1' already belongs to a run of workflow 'wf-a', not 'wf-b'; choose another run id"
    )


@conformance_check()
async def check_non_json_input_is_refused_and_nothing_is_written(h: StoreHarness) -> None:
    store = h.open()
    error = await _raises(NotJSONError, store.create_run("r1", "wf", {"at": {1, 2}}))
    assert error.path == "$.at"
    assert "input of workflow 'wf'" in str(error)
    await _raises(NotJSONError, store.create_run("r1", "wf", [float("nan")]))
    await _raises(NotJSONError, store.create_run("r1", "wf", {1: "int key"}))
    await _raises(NotJSONError, store.create_run("r1", "wf", (1, 2)))
    await _raises(RunNotFound, store.get_run("r1"))
    assert (await store.list_runs()).runs == []


@conformance_check()
async def check_unknown_run_ids_raise_run_not_found(h: StoreHarness) -> None:
    store = h.open()
    error = await _raises(RunNotFound, store.get_run("nope"))
    assert str(error) == "no run with id 'nope'"
    assert error.run_id == "nope"
    await _raises(RunNotFound, store.history("nope"))
    await _raises(RunNotFound, store.history("nope", after_seq=3))
    await _raises(RunNotFound, store.send_signal("nope", "go"))
    await _raises(RunNotFound, store.next_signal("nope", "go"))
    await _raises(RunNotFound, store.request_cancel("nope"))


# --------------------------------------------------------------------------- events


@conformance_check()
async def check_sequence_numbers_are_per_run_one_based_and_gapless(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("a", "wf", None)
    await store.create_run("b", "wf", None)
    lease_a = (await _claim_one(store, "w", workflow_names=["wf"])).lease
    lease_b = (await _claim_one(store, "w")).lease
    result = await store.append(lease_a, [_started("s", "k1"), _completed("s", "k1")])
    assert result.last_seq == 3
    await store.send_signal("a", "go", 1)
    result_b = await store.append(lease_b, [_started("s", "k1")])
    assert result_b.last_seq == 2
    result = await store.append(lease_a, [_started("t", "k2")])
    assert result.last_seq == 5, "a signal takes a seq in the run's log"
    assert await _seqs(store, "a") == [1, 2, 3, 4, 5]
    assert await _seqs(store, "b") == [1, 2]
    assert (await store.get_run("a")).last_seq == 5
    empty = await store.append(lease_a, [])
    assert empty.last_seq == 5


@conformance_check()
async def check_history_returns_events_in_order_with_their_fields(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    h.clock.advance(1)
    retry_at = h.clock() + timedelta(seconds=30)
    error = ErrorInfo(type="ValueError", message="boom")
    await store.append(
        lease,
        [
            EventDraft(RunStartedPayload(worker_id="w", graph_hash="abc")),
            _started("charge", "n1"),
            EventDraft(
                StepRetryingPayload(step="charge", attempt=1, error=error, retry_at=retry_at), "n1"
            ),
        ],
    )
    h.clock.advance(1)
    await store.append(lease, [_completed("charge", "n1", {"id": "x", "n": [1, 2.5, None]})])
    history = await store.history("r")
    assert [e.type for e in history] == [
        "run_created",
        "run_started",
        "step_started",
        "step_retrying",
        "step_completed",
    ]
    assert [e.key for e in history] == [None, None, "n1", "n1", "n1"]
    retrying = history[3]
    assert retrying.type == "step_retrying"
    assert retrying.payload.error == error
    assert retrying.payload.retry_at == retry_at
    assert retrying.at == h.clock() - timedelta(seconds=1)
    assert retrying.at.tzinfo is not None
    completed = history[4]
    assert completed.type == "step_completed"
    assert completed.payload.output == {"id": "x", "n": [1, 2.5, None]}
    tail = await store.history("r", after_seq=3)
    assert [e.seq for e in tail] == [4, 5]
    assert await store.history("r", after_seq=5) == []


@conformance_check()
async def check_a_failing_append_writes_nothing(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    await store.append(lease, [_started("s", "k1")])
    before = await store.get_run("r")
    error = await _raises(
        SignalConflict,
        store.append(
            lease,
            [_completed("s", "k1"), _started("t", "k2")],
            update=RunUpdate(status="completed", result=1),
            consume_signals=[99],
        ),
    )
    assert "no unconsumed signal with seq 99" in str(error)
    after = await store.get_run("r")
    assert await _seqs(store, "r") == [1, 2]
    assert (after.status, after.last_seq, after.result) == ("running", 2, None)
    assert after.lease_epoch == before.lease_epoch
    result = await store.append(lease, [_completed("s", "k1")])
    assert result.last_seq == 3


@conformance_check()
async def check_an_append_without_events_still_moves_updated_at(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w", lease_timeout=30)).lease
    h.clock.advance(5)
    await store.append(lease, [])
    assert (await store.get_run("r")).updated_at == h.clock(), "no lease renewal was due"
    signal = await store.send_signal("r", "go", 1)
    h.clock.advance(5)
    await store.append(lease, [], consume_signals=[signal.seq])
    assert (await store.get_run("r")).updated_at == h.clock()


@conformance_check()
async def check_non_json_event_values_are_refused_before_the_store(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    error: Exception | None = None
    try:
        _completed("charge", "k1", {"when": datetime(2030, 1, 1)})
    except NotJSONError as caught:
        error = caught
    assert error is not None
    assert str(error).startswith(
        "step_completed output of step 'charge' is not a JSON value at $.when: datetime"
    )
    result_error: NotJSONError | None = None
    try:
        RunUpdate(status="completed", result={"x": object()})
    except NotJSONError as caught:
        result_error = caught
    assert result_error is not None, "RunUpdate accepted a non-JSON result"
    assert result_error.what == "workflow result"
    send_error = await _raises(NotJSONError, store.send_signal("r", "go", {"b": b"bytes"}))
    assert "payload of signal 'go'" in str(send_error)
    assert await _seqs(store, "r") == [1]
    assert await store.next_signal("r", "go") is None


# --------------------------------------------------------------------------- leases


@conformance_check()
async def check_claim_reports_why_each_run_was_due(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    claim = await _claim_one(store, "w1", lease_timeout=10)
    assert claim.reason == "new"
    assert claim.lease.epoch == 1
    assert claim.run.status == "running"
    assert claim.run.lease_owner == "w1"
    assert claim.run.started_at == h.clock()
    assert claim.lease.expires_at == h.clock() + timedelta(seconds=10)
    await store.release(claim.lease)
    resumed = await _claim_one(store, "w2")
    assert (resumed.reason, resumed.lease.epoch, resumed.run.recoveries) == ("resumed", 2, 0)
    h.clock.advance(31)
    recovered = await _claim_one(store, "w3")
    assert (recovered.reason, recovered.lease.epoch, recovered.run.recoveries) == (
        "recovered",
        3,
        1,
    )
    assert recovered.run.started_at == claim.run.started_at


@conformance_check()
async def check_a_live_lease_is_not_claimable_and_renewal_extends_it(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w1", lease_timeout=10)).lease
    assert await store.claim("w2") == []
    h.clock.advance(4)
    early = await store.append(lease, [], update=RunUpdate(graph_hash="g1"))
    assert early.lease is not None
    assert early.lease.expires_at == lease.expires_at, "more than half the lease was left"
    assert (await store.get_run("r")).graph_hash == "g1"
    h.clock.advance(4)
    renewal = await store.renew_lease(lease)
    assert renewal.lease.expires_at == h.clock() + timedelta(seconds=10)
    assert renewal.lease.epoch == lease.epoch
    assert not renewal.cancel_requested
    h.clock.advance(8)
    assert await store.claim("w2") == [], "the renewed lease has not lapsed yet"
    result = await store.append(lease, [_started("s", "k")])
    assert result.lease is not None
    assert result.lease.expires_at == h.clock() + timedelta(seconds=10), "appends renew"
    h.clock.advance(10.5)
    assert [c.run.run_id for c in await store.claim("w2")] == ["r"]


@conformance_check()
async def check_a_stale_lease_cannot_write_after_a_takeover(h: StoreHarness) -> None:
    store = h.open()
    other = h.open()
    await store.create_run("r", "wf", None)
    old = (await _claim_one(store, "w1", lease_timeout=10)).lease
    await store.append(old, [_started("s", "k1")])
    h.clock.advance(11)
    new = (await _claim_one(other, "w2", lease_timeout=10)).lease
    assert new.epoch == old.epoch + 1
    error = await _raises(LeaseLost, store.append(old, [_completed("s", "k1", "zombie")]))
    assert str(error) == (
        "worker 'w1' lost its lease on run r (epoch 1): worker 'w2' took it over (epoch 2); "
        "nothing was written"
    )
    await _raises(LeaseLost, store.renew_lease(old))
    await _raises(LeaseLost, store.release(old))
    await _raises(
        LeaseLost, store.append(old, [], update=RunUpdate(status="completed", result="zombie"))
    )
    assert await _seqs(store, "r") == [1, 2]
    run = await store.get_run("r")
    assert (run.status, run.lease_owner, run.result) == ("running", "w2", None)
    assert (await other.append(new, [_completed("s", "k1", "fresh")])).last_seq == 3


@conformance_check()
async def check_the_epoch_fences_a_worker_that_reclaimed_its_own_run(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    old = (await _claim_one(store, "w1", lease_timeout=10)).lease
    h.clock.advance(11)
    new = (await _claim_one(store, "w1", lease_timeout=10)).lease
    assert (old.epoch, new.epoch) == (1, 2)
    error = await _raises(LeaseLost, store.append(old, [_started("s", "stale")]))
    assert "worker 'w1' took it over (epoch 2)" in str(error)
    await _raises(LeaseLost, store.renew_lease(old))
    assert (await store.append(new, [_started("s", "fresh")])).last_seq == 2
    assert [e.key for e in await store.history("r")] == [None, "fresh"]


@conformance_check()
async def check_an_expired_lease_still_writes_until_someone_takes_over(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w1", lease_timeout=10)).lease
    h.clock.advance(60)
    result = await store.append(lease, [_started("s", "k1")])
    assert result.last_seq == 2
    assert result.lease is not None
    assert await store.claim("w2") == [], "the append renewed the lease"


@conformance_check()
async def check_a_finished_run_takes_no_more_writes_and_is_never_claimed(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("ok", "wf", None)
    await store.create_run("bad", "wf", None)
    lease_ok = (await _claim_one(store, "w", workflow_names=["wf"])).lease
    lease_bad = (await _claim_one(store, "w")).lease
    h.clock.advance(2)
    done = await store.append(
        lease_ok,
        [EventDraft(RunCompletedPayload(result={"total": 3}))],
        update=RunUpdate(status="completed", result={"total": 3}, graph_hash="g1"),
    )
    assert done.lease is None
    error = ErrorInfo(type="StepFailed", message="step 'x' failed")
    await store.append(lease_bad, [], update=RunUpdate(status="failed", error=error))
    ok = await store.get_run(lease_ok.run_id)
    assert (ok.status, ok.result, ok.error, ok.graph_hash) == (
        "completed",
        {"total": 3},
        None,
        "g1",
    )
    assert ok.finished_at == h.clock()
    assert ok.lease_owner is None
    bad = await store.get_run(lease_bad.run_id)
    assert (bad.status, bad.error) == ("failed", error)
    lost = await _raises(LeaseLost, store.append(lease_ok, [_started("s", "k")]))
    assert "the run is completed" in str(lost)
    h.clock.advance(3600)
    assert await store.claim("w2", limit=10) == []
    finished = await _raises(RunFinished, store.send_signal(ok.run_id, "go"))
    assert str(finished) == f"run {ok.run_id} already ended (completed)"
    await _raises(RunFinished, store.request_cancel(bad.run_id))


@conformance_check()
async def check_claims_never_hand_one_run_to_two_workers(h: StoreHarness) -> None:
    stores = [h.open() for _ in range(4)]
    ids = [f"r{i:02}" for i in range(30)]
    for run_id in ids:
        await stores[0].create_run(run_id, "wf", None)
    batches = await asyncio.gather(*(stores[i % 4].claim(f"w{i}", limit=4) for i in range(10)))
    claimed = [claim.run.run_id for batch in batches for claim in batch]
    assert sorted(claimed) == ids, "every run claimed exactly once"
    for batch_index, batch in enumerate(batches):
        for claim in batch:
            run = await stores[0].get_run(claim.run.run_id)
            assert (run.lease_owner, run.lease_epoch) == (f"w{batch_index}", 1)


@conformance_check()
async def check_claim_filters_by_workflow_and_takes_the_oldest_first(h: StoreHarness) -> None:
    store = h.open()
    for index, (run_id, workflow) in enumerate([("a", "x"), ("b", "y"), ("c", "x"), ("d", "x")]):
        h.clock.advance(1 + index)
        await store.create_run(run_id, workflow, None)
    assert await store.claim("w", workflow_names=[]) == []
    first = await store.claim("w", workflow_names=["x"], limit=2)
    assert [c.run.run_id for c in first] == ["a", "c"]
    rest = await store.claim("w", workflow_names=["x", "y"], limit=5)
    assert [c.run.run_id for c in rest] == ["b", "d"]
    bad = None
    try:
        await store.claim("w", lease_timeout=0)
    except ConfigurationError as error:
        bad = error
    assert bad is not None
    assert "lease_timeout must be positive" in str(bad)


# --------------------------------------------------------------------------- timers


@conformance_check()
async def check_a_waiting_run_becomes_claimable_when_its_timer_is_due(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w1")).lease
    wake = h.clock() + timedelta(seconds=60)
    result = await store.append(
        lease,
        [EventDraft(WaitCreatedPayload(until=wake), "sleep-1")],
        update=RunUpdate(status="waiting", wake_at=wake),
    )
    assert result.lease is None
    run = await store.get_run("r")
    assert (run.status, run.wake_at, run.lease_owner) == ("waiting", wake, None)
    h.clock.advance(59)
    assert await store.claim("w2") == []
    h.clock.advance(1)
    claim = await _claim_one(store, "w2")
    assert claim.reason == "resumed"
    assert claim.run.wake_at is None
    history = await store.history("r")
    assert history[-1].type == "wait_created"
    assert history[-1].payload.until == wake


@conformance_check()
async def check_release_gives_the_run_back_without_a_recovery(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("now", "wf", None)
    h.clock.advance(1)
    await store.create_run("later", "wf", None)
    lease_now = (await _claim_one(store, "w1")).lease
    lease_later = (await _claim_one(store, "w1")).lease
    await store.release(lease_now)
    await store.release(lease_later, wake_at=h.clock() + timedelta(seconds=5))
    assert await _seqs(store, "now") == [1], "release writes no event"
    claims = await store.claim("w2", limit=5)
    assert [(c.run.run_id, c.reason, c.run.recoveries) for c in claims] == [("now", "resumed", 0)]
    h.clock.advance(5)
    assert [c.run.run_id for c in await store.claim("w2", limit=5)] == ["later"]


@conformance_check()
async def check_a_waiting_run_without_a_timer_sleeps_until_woken(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    await store.append(lease, [], update=RunUpdate(status="waiting", wait_signals=("go",)))
    h.clock.advance(10 * 365 * 86400)
    assert await store.claim("w") == []


# --------------------------------------------------------------------------- signals


async def _wait_for(store: Store, lease: Lease, name: str) -> None:
    await store.append(
        lease,
        [EventDraft(WaitCreatedPayload(signal=name), f"wait-{name}")],
        update=RunUpdate(status="waiting", wait_signals=(name,)),
    )


@conformance_check()
async def check_a_signal_sent_before_the_wait_wakes_the_run_at_once(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    signal = await store.send_signal("r", "approve", {"ok": True})
    assert (signal.seq, signal.name, signal.payload) == (2, "approve", {"ok": True})
    assert signal.sent_at == h.clock()
    await _wait_for(store, lease, "approve")
    claim = await _claim_one(store, "w")
    assert claim.reason == "resumed"
    buffered = await store.next_signal("r", "approve")
    assert buffered == signal


@conformance_check()
async def check_a_signal_sent_during_the_wait_wakes_the_run(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    await _wait_for(store, lease, "approve")
    await store.send_signal("r", "other", 1)
    assert await store.claim("w") == [], "a signal nobody waits for wakes nothing"
    await store.send_signal("r", "approve", 2)
    claim = await _claim_one(store, "w")
    nxt = await store.next_signal(claim.run.run_id, "approve")
    assert nxt is not None
    assert nxt.payload == 2
    other = await store.next_signal("r", "other")
    assert other is not None, "the other signal stays buffered"
    assert other.payload == 1


@conformance_check()
async def check_signals_are_consumed_fifo_per_name_with_their_event(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    for name, payload in [("a", 1), ("b", "x"), ("a", 2), ("a", 3)]:
        await store.send_signal("r", name, payload)
    taken: list[Any] = []
    while (signal := await store.next_signal("r", "a")) is not None:
        consumed = EventDraft(
            SignalConsumedPayload(name="a", payload=signal.payload, signal_seq=signal.seq),
            f"wait-{len(taken)}",
        )
        await store.append(lease, [consumed], consume_signals=[signal.seq])
        taken.append(signal.payload)
        again = await _raises(SignalConflict, store.append(lease, [], consume_signals=[signal.seq]))
        assert again.seq == signal.seq
    assert taken == [1, 2, 3]
    b = await store.next_signal("r", "b")
    assert b is not None
    assert b.payload == "x"
    consumed_events = [e for e in await store.history("r") if e.type == "signal_consumed"]
    assert [e.payload.signal_seq for e in consumed_events] == [2, 4, 5]


@conformance_check()
async def check_an_append_consuming_one_signal_twice_is_refused(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    signal = await store.send_signal("r", "go", 1)
    error = await _raises(
        SignalConflict, store.append(lease, [_started("s", "k")], consume_signals=[2, 2])
    )
    assert error.seq == signal.seq == 2
    assert await _seqs(store, "r") == [1, 2]
    again = await store.next_signal("r", "go")
    assert again is not None
    assert again.seq == 2, "the refused append consumed nothing"


@conformance_check()
async def check_concurrent_signals_are_none_lost_none_duplicated(h: StoreHarness) -> None:
    stores = [h.open() for _ in range(3)]
    await stores[0].create_run("r", "wf", None)
    lease = (await _claim_one(stores[0], "w")).lease
    sends = [stores[i % 3].send_signal("r", "even" if i % 2 == 0 else "odd", i) for i in range(40)]
    sent = await asyncio.gather(*sends)
    assert sorted(s.seq for s in sent) == list(range(2, 42))
    for name in ("even", "odd"):
        expected = [s.payload for s in sorted(sent, key=lambda s: s.seq) if s.name == name]
        taken = []
        while (signal := await stores[1].next_signal("r", name)) is not None:
            await stores[2].append(lease, [], consume_signals=[signal.seq])
            taken.append(signal.payload)
        assert taken == expected
    assert await _seqs(stores[0], "r") == list(range(1, 42))


# --------------------------------------------------------------------------- cancellation


@conformance_check()
async def check_cancellation_requests_reach_the_worker_and_wake_waiting_runs(
    h: StoreHarness,
) -> None:
    store = h.open()
    await store.create_run("busy", "wf", None)
    await store.create_run("idle", "wf", None)
    busy = (await _claim_one(store, "w")).lease
    idle = (await _claim_one(store, "w")).lease
    await _wait_for(store, idle, "never")
    record = await store.request_cancel("busy")
    assert record.cancel_requested
    assert record.status == "running"
    assert (await store.renew_lease(busy)).cancel_requested
    assert (await store.append(busy, [_started("s", "k")])).cancel_requested
    await store.request_cancel("busy")  # idempotent
    assert (await store.request_cancel("idle")).cancel_requested
    claim = await _claim_one(store, "w")
    assert claim.run.run_id == "idle"
    assert claim.run.cancel_requested
    await store.append(claim.lease, [], update=RunUpdate(status="cancelled"))
    assert (await store.get_run("idle")).status == "cancelled"
    await store.create_run("sleeper", "wf", None)
    sleeper = (await _claim_one(store, "w")).lease
    await store.request_cancel("sleeper")
    far = h.clock() + timedelta(days=1)
    await store.append(sleeper, [], update=RunUpdate(status="waiting", wake_at=far))
    assert [c.run.run_id for c in await store.claim("w")] == ["sleeper"], (
        "a run asked to cancel does not go to sleep"
    )


@conformance_check()
async def check_cancelling_a_run_that_never_started_ends_it_at_once(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("never", "typo", {"x": 1})
    await store.send_signal("never", "go", 1)  # seq 2: the cancel's event comes next
    await store.create_run("live", "wf", None)
    live = (await _claim_one(store, "w", workflow_names=["wf"])).lease
    h.clock.advance(5)
    record = await store.request_cancel("never")
    now = h.clock()
    assert (record.status, record.cancel_requested, record.last_seq) == ("cancelled", True, 3)
    assert record.error == ErrorInfo(type="Cancelled", message="cancellation requested")
    assert (record.finished_at, record.updated_at, record.started_at) == (now, now, None)
    assert record.lease_owner is None
    assert await store.get_run("never") == record
    last = (await store.history("never"))[-1]
    assert (last.seq, last.type, last.at) == (3, "run_cancelled", now)
    assert last.payload == RunCancelledPayload(reason="cancellation requested")
    h.clock.advance(3600)
    assert await store.claim("w2", workflow_names=["typo"]) == [], "it is never claimed"
    await _raises(RunFinished, store.request_cancel("never"))
    await _raises(RunFinished, store.send_signal("never", "go"))
    stats = await store.workflow_stats("typo")
    assert (stats.by_status["pending"], stats.by_status["cancelled"]) == (0, 1)
    assert stats.avg_duration_ms == 5000.0
    # A run a worker holds only gets the request: its worker ends it.
    running = await store.request_cancel("live")
    assert (running.status, running.cancel_requested, running.last_seq) == ("running", True, 1)
    assert running.error is None
    assert running.finished_at is None
    assert (await store.append(live, [_started("s", "k")])).cancel_requested
    assert await _seqs(store, "live") == [1, 2]


@conformance_check()
async def check_a_claim_racing_a_cancel_gets_the_run_before_it_or_not_at_all(
    h: StoreHarness,
) -> None:
    stores = [h.open() for _ in range(4)]
    run_ids = [f"r{index:02}" for index in range(24)]
    for run_id in run_ids:
        await stores[0].create_run(run_id, "wf", None)

    async def claims(store: Store, worker: str) -> list[str]:
        taken: list[str] = []
        for _ in range(6):
            taken += [claim.run.run_id for claim in await store.claim(worker, limit=2)]
            await asyncio.sleep(0)
        return taken

    async def cancels(store: Store) -> dict[str, str]:
        statuses: dict[str, str] = {}
        for run_id in run_ids:
            statuses[run_id] = (await store.request_cancel(run_id)).status
            await asyncio.sleep(0)
        return statuses

    *taken, cancelled = await asyncio.gather(
        claims(stores[1], "a"), claims(stores[2], "b"), claims(stores[3], "c"), cancels(stores[0])
    )
    claimed = [run_id for worker in taken for run_id in worker]
    assert len(claimed) == len(set(claimed))
    for run_id in run_ids:
        record = await stores[0].get_run(run_id)
        expected = "running" if run_id in claimed else "cancelled"
        assert (cancelled[run_id], record.status) == (expected, expected), run_id
        assert record.cancel_requested
        types = [event.type for event in await stores[0].history(run_id)]
        assert types == (["run_created"] if run_id in claimed else ["run_created", "run_cancelled"])
    h.clock.advance(3600)  # every lease lapses: only the claimed runs come back
    recovered = await stores[0].claim("d", limit=100)
    assert sorted(claim.run.run_id for claim in recovered) == sorted(claimed)


# --------------------------------------------------------------------------- queries


@conformance_check()
async def check_list_runs_filters_and_pages_newest_first(h: StoreHarness) -> None:
    store = h.open()
    for index in range(7):
        h.clock.advance(1)
        await store.create_run(f"r{index}", "x" if index % 2 == 0 else "y", {"i": index})
    h.clock.advance(1)
    await store.create_run("same-time-b", "x", None)
    await store.create_run("same-time-a", "x", None)
    lease = (await _claim_one(store, "w", workflow_names=["x"])).lease
    await store.append(lease, [], update=RunUpdate(status="completed"))
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_runs(limit=3, cursor=cursor)
        assert len(page.runs) <= 3
        seen += [run.run_id for run in page.runs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["same-time-b", "same-time-a", "r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    xs = await store.list_runs(workflow_name="x", limit=10)
    assert [r.run_id for r in xs.runs] == ["same-time-b", "same-time-a", "r6", "r4", "r2", "r0"]
    assert xs.next_cursor is None
    done = await store.list_runs(status="completed")
    assert [r.run_id for r in done.runs] == [lease.run_id] == ["r0"]
    both = await store.list_runs(workflow_name="y", status="pending", limit=2)
    assert [r.run_id for r in both.runs] == ["r5", "r3"]
    assert both.next_cursor is not None
    for bad, message in [
        (store.list_runs(status="bogus"), "unknown run status 'bogus'"),  # type: ignore[arg-type]
        (store.list_runs(limit=0), "limit must be an int from 1 to 1000"),
        (store.list_runs(cursor="not-a-cursor"), "is not one list_runs returned"),
    ]:
        error = await _raises(ConfigurationError, bad)
        assert message in str(error), str(error)


@conformance_check()
async def check_workflow_stats_count_statuses_success_and_durations(h: StoreHarness) -> None:
    store = h.open()
    empty = await store.workflow_stats()
    assert (empty.total_runs, empty.success_rate, empty.avg_duration_ms) == (0, None, None)
    outcomes = [("c1", "completed", 1), ("c2", "completed", 3), ("f1", "failed", 2)]
    for run_id, status, seconds in outcomes:
        await store.create_run(run_id, "wf", None)
        lease = (await _claim_one(store, "w")).lease
        h.clock.advance(seconds)
        error = ErrorInfo(type="E", message="m") if status == "failed" else None
        await store.append(lease, [], update=RunUpdate(status=status, error=error))  # type: ignore[arg-type]
    await store.create_run("x1", "wf", None)
    await store.create_run("o1", "other", None)
    stats = await store.workflow_stats("wf")
    assert stats.total_runs == 4
    assert stats.by_status == {
        "pending": 1,
        "running": 0,
        "waiting": 0,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
    }
    assert stats.success_rate is not None
    assert abs(stats.success_rate - 2 / 3) < 1e-9
    assert stats.avg_duration_ms is not None
    assert abs(stats.avg_duration_ms - 2000.0) < 1e-6
    overall = await store.workflow_stats()
    assert overall.total_runs == 5
    assert overall.by_status["pending"] == 2


# --------------------------------------------------------------------------- notifications


@conformance_check()
async def check_wait_for_work_wakes_when_a_run_is_triggered(h: StoreHarness) -> None:
    store = h.open()
    waiter = asyncio.create_task(store.wait_for_work(timeout=600))
    await asyncio.sleep(0)
    await store.create_run("r", "wf", None)
    # The deadline only guards against a hang; a notified waiter returns at once.
    await asyncio.wait_for(waiter, timeout=60)


# --------------------------------------------------------------------------- processes


def _claim_in_process(url: str, worker: str, barrier: Any, results: Any) -> None:
    async def main() -> list[str]:
        from .stores import open_store

        store = open_store(url)
        try:
            barrier.wait()
            taken: list[str] = []
            while batch := await store.claim(worker, limit=3, lease_timeout=3600):
                taken += [claim.run.run_id for claim in batch]
            return taken
        finally:
            await store.close()

    results.put((worker, asyncio.run(main())))


def _signal_in_process(url: str, worker: str, barrier: Any, results: Any) -> None:
    async def main() -> list[int]:
        from .stores import open_store

        store = open_store(url)
        try:
            barrier.wait()
            return [(await store.send_signal("r", worker, i)).seq for i in range(25)]
        finally:
            await store.close()

    results.put((worker, asyncio.run(main())))


def _in_processes(target: Callable[..., None], url: str, workers: list[str]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(workers))
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(url, worker, barrier, results)) for worker in workers
    ]
    for process in processes:
        process.start()
    collected: dict[str, Any] = {}
    try:
        for _ in workers:
            worker, value = results.get(timeout=120)
            collected[worker] = value
    except queue_module.Empty:
        raise AssertionError("a worker process did not report back") from None
    finally:
        for process in processes:
            process.join(timeout=30)
    assert all(process.exitcode == 0 for process in processes)
    return collected


@conformance_check(requires_url=True)
async def check_processes_claiming_together_never_share_a_run(h: StoreHarness) -> None:
    assert h.url is not None
    from .stores import open_store

    setup = open_store(h.url)
    h._opened.append(setup)
    ids = sorted(f"r{i:03}" for i in range(150))
    for run_id in ids:
        await setup.create_run(run_id, "wf", None)
    taken = await asyncio.to_thread(_in_processes, _claim_in_process, h.url, ["p1", "p2", "p3"])
    everything = taken["p1"] + taken["p2"] + taken["p3"]
    assert sorted(everything) == ids, "each run claimed by exactly one process"
    for worker, run_ids in taken.items():
        for run_id in run_ids[:5]:
            run = await setup.get_run(run_id)
            assert (run.lease_owner, run.lease_epoch) == (worker, 1)


@conformance_check(requires_url=True)
async def check_processes_signalling_together_lose_and_duplicate_nothing(h: StoreHarness) -> None:
    assert h.url is not None
    from .stores import open_store

    setup = open_store(h.url)
    h._opened.append(setup)
    await setup.create_run("r", "wf", None)
    seqs = await asyncio.to_thread(_in_processes, _signal_in_process, h.url, ["p1", "p2"])
    assert sorted(seqs["p1"] + seqs["p2"]) == list(range(2, 52))
    for worker in ("p1", "p2"):
        assert seqs[worker] == sorted(seqs[worker]), "one sender's signals stay in order"
        first = await setup.next_signal("r", worker)
        assert first is not None
        assert (first.seq, first.payload) == (seqs[worker][0], 0)
    history = await setup.history("r")
    assert [e.seq for e in history] == list(range(1, 52))
    by_sender: dict[str, list[Any]] = {"p1": [], "p2": []}
    for event in history[1:]:
        assert event.type == "signal_received"
        by_sender[event.payload.name].append(event.payload.payload)
    assert by_sender == {"p1": list(range(25)), "p2": list(range(25))}
