"""Conformance checks: timers, signals, cancellation, queries, notifications, processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue as queue_module
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..errors import ConfigurationError, RunFinished
from ..events import (
    ErrorInfo,
    EventDraft,
    RunCancelledPayload,
    SignalConsumedPayload,
    WaitCreatedPayload,
)
from ..stores.base import (
    Lease,
    RunUpdate,
    SignalConflict,
    Store,
)
from .core import (
    StoreHarness,
    _claim_one,
    _raises,
    _seqs,
    _started,
    conformance_check,
)

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
        from ..stores import open_store

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
        from ..stores import open_store

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
    from ..stores import open_store

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
    from ..stores import open_store

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
