"""Durable sleeps, signals (in bodies and in steps), circuit breakers and cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runtime import Client, RunFinished, RunNotFound, WorkflowFailed

from . import flows
from .conftest import run, serving, types


async def wait_status(client: Client, run_id: str, status: str) -> None:
    async with asyncio.timeout(10):
        while (await client.workflow.get_run(run_id)).status != status:
            await asyncio.sleep(0.02)


def test_sleep_releases_the_worker_then_resumes(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sleep", [0.3])
        async with serving(client) as worker:
            await wait_status(client, handle.run_id, "waiting")
            assert worker.outcomes[0] == (handle.run_id, "waiting")
            assert not worker._active  # the sleeping run holds no worker
            assert await client.workflow.result(handle.run_id, timeout=10) == "rested"
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n2") == ["wait_created", "wait_completed"]
        created = next(e for e in history if e.type == "wait_created")
        started = next(e for e in history if e.type == "step_started")
        # The recorded end is the sleep's start plus its length, and the worker's notion
        # of now never precedes a time the store returned (the step's start): a relation
        # between two recorded values, whatever the machine's load.
        assert created.payload.until >= started.at + timedelta(seconds=0.3)  # type: ignore[union-attr,operator]

    run(scenario, store_url)
    assert flows.CALLS == [("add", 1), ("add", 2)]


def test_signal_sent_before_the_wait_is_buffered_and_consumed_fifo(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-signal")
        await client.workflow.send_signal(handle.run_id, "go", {"n": 1})
        await client.workflow.send_signal(handle.run_id, "go", {"n": 2})
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == [{"n": 1}, {"n": 2}]
        history = await client.workflow.history(handle.run_id)
        consumed = [e for e in history if e.type == "signal_consumed"]
        assert [e.payload.payload for e in consumed] == [{"n": 1}, {"n": 2}]  # type: ignore[union-attr]
        assert "wait_created" not in types(history)

    run(scenario, store_url)


def test_signal_sent_after_the_wait_wakes_the_run(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-signal")
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
            await client.workflow.send_signal(handle.run_id, "go", "first")
            await client.workflow.send_signal(handle.run_id, "go", "second")
            assert await client.workflow.result(handle.run_id, timeout=10) == ["first", "second"]
        with pytest.raises(RunFinished):
            await client.workflow.send_signal(handle.run_id, "go", "late")
        with pytest.raises(RunNotFound, match="no run with id 'nope'"):
            await client.workflow.send_signal("nope", "go")

    run(scenario, store_url)
    assert flows.CALLS == [("add", 0)]  # the step before the wait ran once


def test_signal_timeout_raises_into_the_body(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-signal-timeout", [0.2])
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == "timed out"
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == ["wait_created", "wait_completed"]

    run(scenario, store_url)


def test_signal_before_the_timeout_is_taken(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-signal-timeout", [30])
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
            await client.workflow.send_signal(handle.run_id, "go")
            assert await client.workflow.result(handle.run_id, timeout=10) == "signalled"

    run(scenario, store_url)


def test_signal_waited_inside_a_step(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-step-signal")
        async with serving(client):
            async with asyncio.timeout(10):
                while ("approve", "leave") not in flows.CALLS:
                    await asyncio.sleep(0.02)
            await client.workflow.send_signal(handle.run_id, "approval", {"ok": True})
            assert await client.workflow.result(handle.run_id, timeout=10) == {
                "request": "leave",
                "decision": {"ok": True},
            }
        history = await client.workflow.history(handle.run_id)
        consumed = next(e for e in history if e.type == "signal_consumed")
        assert consumed.key == "n1/approval/0"

    run(scenario, store_url)


def test_max_events_trips_the_breaker_after_compensation(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-max-events")
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error == {
            "type": "MaxEventsExceeded",
            "message": "the run reached its limit of 12 events (max_events)",
        }
        history = await client.workflow.history(handle.run_id)
        assert types(history)[-4:] == [
            "circuit_breaker_tripped",
            "rollback_started",
            "rollback_completed",
            "run_failed",
        ]
        assert len(history) == 16  # 12 events, then the breaker, the rollback and the end

    run(scenario, store_url)
    assert flows.CALLS[-1][0] == "undo-reserve"


def test_execution_timeout_interrupts_a_running_step_and_compensates(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-execution-timeout")
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error == {
            "type": "ExecutionTimeout",
            "message": "the run exceeded its execution timeout of 1s",
        }
        history = await client.workflow.history(handle.run_id)
        assert types(history)[-4:] == [
            "circuit_breaker_tripped",
            "rollback_started",
            "rollback_completed",
            "run_failed",
        ]
        tripped = next(e for e in history if e.type == "circuit_breaker_tripped")
        assert tripped.payload.model_dump() == {"breaker": "execution_timeout", "limit": 1.0}

    run(scenario, store_url)
    assert ("block", 30) in flows.CALLS


def test_cancellation_compensates_and_ends_cancelled(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-cancel")
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
            await client.workflow.cancel(handle.run_id)
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.status == "cancelled"
        history = await client.workflow.history(handle.run_id)
        assert types(history)[-2:] == ["rollback_completed", "run_cancelled"]
        with pytest.raises(RunFinished):
            await client.workflow.cancel(handle.run_id)

    run(scenario, store_url)
    assert flows.CALLS == [("reserve", "c"), ("undo-reserve", "WorkflowFailed", {"id": "R-c"})]


def test_cancelling_a_run_whose_step_waits_for_a_signal_ends_it_cancelled(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-step-signal")
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
            await client.workflow.cancel(handle.run_id)
            await wait_status(client, handle.run_id, "cancelled")
        history = await client.workflow.history(handle.run_id)
        # The abandoned attempt never ran again: the run stopped at the step's checkpoint.
        assert types(history, "n1") == ["step_started"]
        assert types(history)[-1] == "run_cancelled"

    run(scenario, store_url)
    assert flows.CALLS == [("approve", "leave")]


def test_a_step_waiting_for_a_signal_parks_the_run_and_holds_no_worker(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        waiting = await client.workflow.trigger("t-step-signal")
        async with serving(client, max_concurrency=1):
            await wait_status(client, waiting.run_id, "waiting")
            record = await client.store.get_run(waiting.run_id)
            assert (record.lease_owner, record.wait_signals) == (None, ("approval",))
            # The worker's one slot is free: another run is served while the first waits.
            other = await client.workflow.trigger("t-sequential", [1])
            assert (await client.workflow.result(other.run_id, timeout=10))["total"] == 14
            assert (await client.workflow.get_run(waiting.run_id)).status == "waiting"
            await client.workflow.send_signal(waiting.run_id, "approval", {"ok": True})
            assert await client.workflow.result(waiting.run_id, timeout=10) == {
                "request": "leave",
                "decision": {"ok": True},
            }
        history = await client.workflow.history(waiting.run_id)
        # The step ran again from its start, under the attempt it had, and took the signal.
        assert types(history, "n1") == ["step_started", "step_completed"]
        assert types(history, "n1/approval/0") == ["wait_created", "signal_consumed"]

    run(scenario, store_url)
    assert flows.CALLS.count(("approve", "leave")) == 2


def test_a_step_wait_that_times_out_wakes_the_run_and_raises_in_the_step(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-step-signal-timeout")
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == {
                "request": "leave",
                "decision": "timed out",
            }
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1/approval/0") == ["wait_created", "wait_completed"]
        created = next(e for e in history if e.type == "wait_created")
        assert (created.payload.signal, created.payload.until is not None) == ("approval", True)
        assert types(history, "n1") == ["step_started", "step_completed"]

    run(scenario, store_url)
    assert flows.CALLS.count(("approve-or-time-out", "leave")) == 2


def test_a_signal_sent_before_a_step_waits_is_taken_without_parking(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-step-signal")
        await client.workflow.send_signal(handle.run_id, "approval", "early")
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == {
                "request": "leave",
                "decision": "early",
            }
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == ["step_started", "step_completed"]
        assert "waiting" not in [e.type for e in history]

    run(scenario, store_url)
    assert flows.CALLS == [("approve", "leave")]


def test_mapped_steps_waiting_for_one_signal_name_each_take_a_different_signal(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-step-signals-mapped", [["a", "b", "c"]])
        for n in range(3):
            await client.workflow.send_signal(handle.run_id, "approval", n)
        async with serving(client):
            decided = await client.workflow.result(handle.run_id, timeout=10)
        assert [d["request"] for d in decided] == ["a", "b", "c"]
        # Each signal went to exactly one branch: none was consumed twice, none lost.
        assert sorted(d["decision"] for d in decided) == [0, 1, 2]
        history = await client.workflow.history(handle.run_id)
        seqs = [e.payload.signal_seq for e in history if e.type == "signal_consumed"]  # type: ignore[union-attr]
        assert len(seqs) == len(set(seqs)) == 3

    run(scenario, store_url)


def test_mapped_steps_parked_at_one_signal_name_wake_one_signal_at_a_time(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-step-signals-mapped", [["a", "b"]])
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
            await client.workflow.send_signal(handle.run_id, "approval", "first")
            async with asyncio.timeout(10):
                # One branch took the signal; the run parks again for the other.
                while True:
                    history = await client.workflow.history(handle.run_id)
                    record = await client.store.get_run(handle.run_id)
                    if "signal_consumed" in types(history) and record.status == "waiting":
                        break
                    await asyncio.sleep(0.02)
            assert record.wait_signals == ("approval",)
            await client.workflow.send_signal(handle.run_id, "approval", "second")
            decided = await client.workflow.result(handle.run_id, timeout=10)
        assert sorted(d["decision"] for d in decided) == ["first", "second"]

    run(scenario, store_url)
