"""The client: queries, bad input, the sync facade, default URL; poison and zombie workers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime import (
    Client,
    ConfigurationError,
    RunFinished,
    RunNotFound,
    Worker,
    WorkflowFailed,
)
from runtime.stores import default_store_url
from runtime.worker_run import RunExecutor

from . import flows
from .conftest import FAST, library, run, serving, types


def test_unknown_run_ids_raise_run_not_found(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        for call in (
            client.workflow.get_run("missing"),
            client.workflow.history("missing"),
            client.workflow.result("missing", timeout=1),
            client.workflow.cancel("missing"),
        ):
            with pytest.raises(RunNotFound, match="no run with id 'missing'"):
                await call

    run(scenario, store_url)


def test_cancelling_a_run_no_worker_started_ends_it_cancelled_at_once(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-misspelt", [1])
        cancelled = await client.workflow.cancel(handle.run_id)
        assert cancelled.status == "cancelled"
        error = {"type": "Cancelled", "message": "cancellation requested"}
        info = await client.workflow.get_run(handle.run_id)
        assert (info.status, info.error) == ("cancelled", error)
        with pytest.raises(WorkflowFailed) as caught:
            await client.workflow.result(handle.run_id, timeout=1)
        assert (caught.value.status, caught.value.error) == ("cancelled", error)
        assert types(await client.workflow.history(handle.run_id)) == [
            "run_created",
            "run_cancelled",
        ]
        stats = await client.workflow_stats.get("t-misspelt")
        assert (stats.by_status["pending"], stats.by_status["cancelled"]) == (0, 1)
        with pytest.raises(RunFinished):
            await client.workflow.cancel(handle.run_id)

    run(scenario, store_url)


def test_trigger_refuses_args_that_are_neither_list_nor_dict(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        with pytest.raises(
            ConfigurationError,
            match=r"must be a list of positional arguments .* write \[value\] for one argument",
        ):
            await client.workflow.trigger("t-sequential", 1)
        assert (await client.workflow.list_runs()).items == []

    run(scenario, store_url)


def test_result_times_out_while_no_worker_serves_the_run(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sequential", [1])
        with pytest.raises(TimeoutError, match=r"is still pending after 0.1s; is a worker serving"):
            await client.workflow.result(handle.run_id, timeout=0.1)

    run(scenario, store_url)


def test_list_runs_and_stats_report_statuses(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        good = await client.workflow.trigger("t-sequential", [1])
        bad = await client.workflow.trigger("t-nonretryable")
        async with serving(client):
            await client.workflow.result(good.run_id, timeout=10)
            with pytest.raises(WorkflowFailed):
                await client.workflow.result(bad.run_id, timeout=10)
        failed = await client.workflow.list_runs(status="failed")
        assert [info.run_id for info in failed.items] == [bad.run_id]
        assert failed.items[0].error == {
            "type": "StepFailed",
            "message": "step 't-fatal' failed: NonRetryableError: card declined",
        }
        by_name = await client.workflow.list_runs(workflow_name="t-sequential", limit=1)
        assert [info.result for info in by_name.items] == [{"a": 2, "b": 12, "total": 14}]
        stats = await client.workflow_stats.get()
        assert stats.total_runs == 2
        assert stats.success_rate == 0.5
        assert stats.by_status["completed"] == stats.by_status["failed"] == 1
        assert stats.avg_duration_ms is not None
        assert stats.avg_duration_ms > 0

    run(scenario, store_url)


def test_sync_facade_triggers_and_reads_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    client = Client(url)
    handle = client.sync.workflow.trigger("t-sequential", [4], run_id="sync-1")
    assert handle.run_id == "sync-1"
    assert client.sync.workflow.get_run("sync-1").status == "pending"
    assert [e.type for e in client.sync.workflow.history("sync-1")] == ["run_created"]
    assert client.sync.workflow_stats.get().total_runs == 1
    client.sync.close()


def test_default_store_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRB_DATABASE_URL", "memory://")
    assert default_store_url() == "memory://"
    monkeypatch.delenv("VRB_DATABASE_URL")
    assert default_store_url() == "sqlite:///vrb.db"
    with pytest.raises(ConfigurationError, match="has no scheme"):
        Client("vrb.db")


class _Paused(Worker):
    async def _heartbeat(self, executor: RunExecutor) -> None:
        await asyncio.Event().wait()


async def _kill(worker: Worker, task: asyncio.Task[None]) -> None:
    for running in list(worker._active.values()):
        running.cancel()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_poison_run_is_failed_after_too_many_takeovers(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-block", [30])
        # Killed on its first claim and its first takeover (not counted: the first
        # two takeovers run it with others), then twice executing it alone.
        for round_ in range(4):
            worker = Worker(client, library(), **{**FAST, "lease_timeout": 0.2})
            task = asyncio.create_task(worker.start("t-block"))
            async with asyncio.timeout(10):
                while flows.CALLS.count(("block", 30)) <= round_:
                    await asyncio.sleep(0.01)
            await _kill(worker, task)
        async with serving(client, lease_timeout=0.2, max_recoveries=1):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "PoisonRun"
        assert caught.value.error["message"].startswith(
            "the run's worker died 2 times while executing it alone (limit 1, taken over 4 "
            "times in all)"
        )

    run(scenario, store_url)
    assert flows.CALLS.count(("block", 30)) == 4


def test_a_poison_run_whose_rollback_kills_its_worker_ends_failed_without_rerunning_it(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-hanging-rollback")
        # Killed in the rollback: the first claim and takeover (not counted), then the
        # two takeovers executing it alone (counted, the second within the limit), each
        # running the rollback the log shows begun once more (at least once).
        for round_ in range(4):
            worker = Worker(
                client, library(), **{**FAST, "lease_timeout": 0.2, "max_recoveries": 1}
            )
            task = asyncio.create_task(worker.start("t-hanging-rollback"))
            async with asyncio.timeout(10):
                while flows.CALLS.count(("undo-hang", "kept")) <= round_:
                    await asyncio.sleep(0.01)
            await _kill(worker, task)
        async with serving(client, lease_timeout=0.2, max_recoveries=1):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "PoisonRun"
        assert caught.value.error["message"] == (
            "the run's worker died 2 times while executing it alone (limit 1, taken over 4 "
            "times in all); it is failed so it stops killing workers; the rollback of step 't-keep' was running when a worker "
            "died, and is not run again; check by hand whether the step's effect was undone"
        )
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == [
            "step_started",
            "step_completed",
            *["rollback_started"] * 4,
            "rollback_failed",
        ]
        assert history[-2].payload.error.model_dump() == {  # type: ignore[union-attr]
            "type": "RollbackInterrupted",
            "message": caught.value.error["message"].split("; ", 2)[2],
        }
        assert types(history)[-1] == "run_failed"

    run(scenario, store_url)
    assert flows.CALLS.count(("undo-hang", "kept")) == 4


def test_a_poison_run_runs_every_rollback_that_never_began(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-reserve-then-block", [30])
        worker = Worker(client, library(), **{**FAST, "lease_timeout": 0.2})
        task = asyncio.create_task(worker.start("t-reserve-then-block"))
        async with asyncio.timeout(10):
            while ("block", 30) not in flows.CALLS:
                await asyncio.sleep(0.01)
        await _kill(worker, task)
        # Workers that execute it alone and die right after their claim, before doing
        # anything: the run is taken over again and again, and no rollback ever begins.
        for _ in range(3):
            async with asyncio.timeout(10):
                while not (ghost := await client.store.claim("ghost", lease_timeout=0.05)):
                    await asyncio.sleep(0.05)
            await client.store.quarantine(ghost[0].lease)
        async with serving(client, lease_timeout=0.2, max_recoveries=1):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "PoisonRun"
        assert "rollback" not in caught.value.error["message"]
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == [
            "step_started",
            "step_completed",
            "rollback_started",
            "rollback_completed",
        ]

    run(scenario, store_url)
    assert ("undo-reserve", "PoisonRun", {"id": "R-seat"}) in flows.CALLS


def test_zombie_worker_past_its_lease_cannot_append(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-block", [0.6])
        # A paused worker: it neither heartbeats nor claims while its step runs.
        zombie = _Paused(client, library(), **{**FAST, "lease_timeout": 0.2, "max_concurrency": 1})
        task = asyncio.create_task(zombie.start("t-block"))
        async with asyncio.timeout(10):
            while ("block", 0.6) not in flows.CALLS:
                await asyncio.sleep(0.01)
        async with serving(client, lease_timeout=5):
            assert await client.workflow.result(handle.run_id, timeout=10) == "unblocked"
            async with asyncio.timeout(10):
                while not zombie.outcomes:
                    await asyncio.sleep(0.01)
        await zombie.stop()
        await task
        assert zombie.outcomes == [(handle.run_id, "lease lost")]
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n2").count("step_completed") == 1
        assert types(history)[-1] == "run_completed"

    run(scenario, store_url)
    assert flows.CALLS.count(("block", 0.6)) == 2


def test_a_full_worker_claims_the_next_run_as_soon_as_a_slot_frees(store_url: str) -> None:
    # With one slot and a poll interval far beyond the test's wait, the queued runs
    # can only finish in time if a finished run wakes the worker to claim again.
    async def scenario(client: Client) -> None:
        handles = [await client.workflow.trigger("t-sequential", [n]) for n in range(3)]
        async with serving(client, max_concurrency=1, poll_interval=3600):
            for handle in handles:
                await client.workflow.result(handle.run_id, timeout=30)

    run(scenario, store_url)


def test_a_worker_stopped_before_its_start_task_runs_returns_at_once(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        worker = Worker(client, library(), **FAST)
        task = asyncio.create_task(worker.start(*library().names()))
        await worker.stop()  # before the task has run a line
        await asyncio.wait_for(task, timeout=30)
        # A later start serves again until its own stop.
        again = asyncio.create_task(worker.start(*library().names()))
        handle = await client.workflow.trigger("t-sequential", [1])
        assert (await client.workflow.result(handle.run_id, timeout=30))["a"] == 2
        await worker.stop()
        await asyncio.wait_for(again, timeout=30)

    run(scenario, store_url)
