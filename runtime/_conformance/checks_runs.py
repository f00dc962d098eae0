"""Conformance checks: runs, events and leases."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from ..errors import ConfigurationError, RunFinished, RunNotFound
from ..events import (
    MAX_JSON_DEPTH,
    MAX_JSON_INT_DIGITS,
    ErrorInfo,
    EventDraft,
    NotJSONError,
    RunCompletedPayload,
    RunStartedPayload,
    StepFailedPayload,
    StepRetryingPayload,
)
from ..stores.base import (
    LeaseLost,
    RunIdConflict,
    RunUpdate,
    SignalConflict,
)
from .core import (
    StoreHarness,
    _claim_one,
    _completed,
    _raises,
    _seqs,
    _started,
    conformance_check,
)

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
async def check_append_returns_its_commit_time_and_keeps_a_stamped_time(
    h: StoreHarness,
) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    lease = (await _claim_one(store, "w")).lease
    h.clock.advance(2)
    result = await store.append(lease, [_started("s", "n1")])
    assert result.at == h.clock()
    h.clock.advance(3)
    # A worker whose workflow read ctx.now() at an event before it committed keeps that time.
    seen = h.clock() - timedelta(seconds=1, microseconds=250)
    result = await store.append(lease, [_completed("s", "n1").stamped(seen), _started("t", "n2")])
    assert result.at == h.clock()
    history = await store.history("r")
    assert [(e.seq, e.at) for e in history[-3:]] == [
        (2, h.clock() - timedelta(seconds=3)),
        (3, seen),
        (4, h.clock()),
    ]


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


def _nested(depth: int) -> Any:
    value: Any = "core"
    for _ in range(depth):
        value = [value]
    return value


@conformance_check()
async def check_values_the_store_cannot_read_back_are_refused_and_nothing_is_written(
    h: StoreHarness,
) -> None:
    # Such a value, once written, made every later read of the run's history fail.
    store = h.open()
    huge = 10**5000
    error = await _raises(NotJSONError, store.create_run("r", "wf", {"n": huge}))
    assert (error.what, error.path, error.fix) == (
        "input of workflow 'wf'",
        "$.n",
        "store it as a str",
    )
    await _raises(RunNotFound, store.get_run("r"))
    await store.create_run("r", "wf", None)
    for payload in (huge, {"text": "caf\udce9"}, _nested(MAX_JSON_DEPTH + 1)):
        send_error = await _raises(NotJSONError, store.send_signal("r", "go", payload))
        assert str(send_error).startswith("payload of signal 'go' cannot be stored")
    assert await _seqs(store, "r") == [1], "a refused signal left an event behind"
    assert await store.next_signal("r", "go") is None
    assert (await store.get_run("r")).last_seq == 1
    result_error: NotJSONError | None = None
    try:
        RunUpdate(status="completed", result=[huge])
    except NotJSONError as caught:
        result_error = caught
    assert result_error is not None, "RunUpdate accepted a result the store cannot read back"
    assert result_error.path == "$[0]"
    assert [e.type for e in await h.open().history("r")] == ["run_created"]


@conformance_check()
async def check_values_at_the_readers_limits_read_back_unchanged(h: StoreHarness) -> None:
    store = h.open()
    largest = 10**MAX_JSON_INT_DIGITS - 1
    value = {"big": largest, "small": -largest, "text": "é\x00\u2028😀", "floats": [1e308, 5e-324]}
    deep = _nested(MAX_JSON_DEPTH)
    record, _ = await store.create_run("r", "wf", value)
    assert record.input == value
    signal = await store.send_signal("r", "go", deep)
    assert signal.payload == deep
    lease = (await _claim_one(store, "w")).lease
    error = ErrorInfo(type="E", message="m", args=[largest], attrs={"deep": deep})
    await store.append(
        lease,
        [
            _completed("s", "k1", deep),
            EventDraft(StepFailedPayload(step="t", attempt=1, error=error), "k2"),
            EventDraft(RunCompletedPayload(result=value)),
        ],
        update=RunUpdate(status="completed", result=value),
    )
    reader = h.open()
    run = await reader.get_run("r")
    assert (run.input, run.result) == (value, value)
    assert (await reader.next_signal("r", "go")) == signal
    history = await reader.history("r")
    assert [e.type for e in history] == [
        "run_created",
        "signal_received",
        "step_completed",
        "step_failed",
        "run_completed",
    ]
    payloads = [event.payload.model_dump() for event in history]
    assert payloads[0]["input"] == value
    assert payloads[1]["payload"] == deep
    assert payloads[2]["output"] == deep
    assert payloads[3]["error"]["attrs"] == {"deep": deep}
    assert payloads[3]["error"]["args"] == [largest]
    assert payloads[4]["result"] == value


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


@conformance_check()
async def check_claim_passes_over_the_runs_it_is_told_to(h: StoreHarness) -> None:
    store = h.open()
    for index, run_id in enumerate(["a", "b", "c"]):
        h.clock.advance(1 + index)
        await store.create_run(run_id, "x", None)
    first = await store.claim("w", limit=5, exclude=["a", "c", "unknown"])
    assert [c.run.run_id for c in first] == ["b"]
    rest = await store.claim("w", limit=5, exclude=[])
    assert [c.run.run_id for c in rest] == ["a", "c"]
