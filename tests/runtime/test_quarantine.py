"""Deaths are attributed: a run taken over twice runs alone, and only deaths there count.

A step that kills its worker takes down every run that worker executes. Here a
"kill" cancels every task of an in-process worker (as a dead process would leave
its leases to lapse) and a fresh worker replaces it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime import Client, Worker, WorkflowFailed
from runtime.stores.base import TERMINAL_STATUSES
from runtime.worker import QUARANTINE_AFTER

from . import flows
from .conftest import FAST, library, run, serving

KILLER = 30.0
LIVENESS = 30  # guards against a hang only
"""The killer's step blocks this long: it is killed long before."""


async def _kill(worker: Worker, task: asyncio.Task[None]) -> None:
    for running in list(worker._active.values()):
        running.cancel()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _fleet_with_a_killer(
    client: Client, killer: str, size: int, options: dict[str, Any]
) -> int:
    """Serve with ``size`` workers until ``killer`` ends; every worker executing its step dies."""
    workers: dict[Worker, asyncio.Task[None]] = {}

    def spawn() -> None:
        worker = Worker(client, library(), **options)
        workers[worker] = asyncio.create_task(worker.start("t-block"))

    for _ in range(size):
        spawn()
    kills = 0
    try:
        async with asyncio.timeout(60):
            while (await client.workflow.get_run(killer)).status not in TERMINAL_STATUSES:
                if flows.CALLS.count(("block", KILLER)) > kills:
                    for worker in list(workers):
                        if killer in worker._active:
                            await _kill(worker, workers.pop(worker))
                            kills += 1
                            spawn()
                            break
                await asyncio.sleep(0.01)
    finally:
        for worker, task in workers.items():
            await worker.stop()
            await task
    return kills


def _poison_message(deaths: int, limit: int) -> str:
    return f"the run's worker died {deaths} times while executing it alone (limit {limit},"


def test_healthy_runs_sharing_workers_with_a_killer_are_never_failed_as_poison(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        killer = (await client.workflow.trigger("t-block", [KILLER])).run_id
        healthy = [(await client.workflow.trigger("t-block", [0.5])).run_id for _ in range(6)]
        options = {**FAST, "lease_timeout": 1.0, "max_recoveries": 1, "max_concurrency": 4}
        kills = await _fleet_with_a_killer(client, killer, 2, options)
        # Killed on its first claim and first takeover (shared workers, not counted),
        # then twice alone (counted): the third takeover is past the limit of 1.
        assert kills == QUARANTINE_AFTER + 2
        with pytest.raises(WorkflowFailed) as caught:
            await client.workflow.result(killer, timeout=LIVENESS)
        assert caught.value.error["type"] == "PoisonRun"
        assert caught.value.error["message"].startswith(_poison_message(2, 1))
        assert (await client.store.get_run(killer)).quarantine_deaths == 2
        # The fleet stopped when the killer ended: serve what is left of the others.
        async with serving(client, **options):
            for run_id in healthy:
                assert await client.workflow.result(run_id, timeout=LIVENESS) == "unblocked"
                assert (await client.store.get_run(run_id)).quarantine_deaths == 0
        shared = [r for r in healthy if (await client.store.get_run(r)).recoveries]
        assert shared, "the killer's first worker executed healthy runs too"

    run(scenario, store_url)


def test_a_killer_is_quarantined_by_workers_of_one_slot_too(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        killer = (await client.workflow.trigger("t-block", [KILLER])).run_id
        healthy = [(await client.workflow.trigger("t-block", [0.3])).run_id for _ in range(3)]
        options = {**FAST, "lease_timeout": 1.0, "max_recoveries": 0, "max_concurrency": 1}
        kills = await _fleet_with_a_killer(client, killer, 2, options)
        assert kills == QUARANTINE_AFTER + 1
        with pytest.raises(WorkflowFailed) as caught:
            await client.workflow.result(killer, timeout=LIVENESS)
        assert caught.value.error["message"].startswith(_poison_message(1, 0))
        async with serving(client, **options):
            for run_id in healthy:
                assert await client.workflow.result(run_id, timeout=LIVENESS) == "unblocked"

    run(scenario, store_url)
