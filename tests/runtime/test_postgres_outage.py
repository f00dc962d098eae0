"""A worker rides out a PostgreSQL outage without giving up its runs (issue 14.4).

The store reaches the server through a TCP proxy the test cuts (every
connection dropped, new ones closed at once, as a server that went away) and
restores. The outage outlasts ``pool_timeout`` but not the run's lease: the run
must keep its worker, and no completed step may run again. Liveness timeouts
only, never an assertion on a duration.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest

from runtime import Client
from tests.pg_faults import PgProxy, terminate_until
from tests.pg_fixtures import postgres_server_url

from . import flows
from .conftest import run, serving, types

LIVENESS = 120.0  # guards against a hang only
RUNS = 24


@pytest.fixture
def proxy(postgres_server: str) -> Iterator[PgProxy]:
    """A proxy to the test server, closed after the test."""
    proxied = PgProxy(postgres_server)
    yield proxied
    proxied.close()


async def _until_called(call: tuple[object, ...]) -> None:
    async with asyncio.timeout(LIVENESS):
        while call not in flows.CALLS:
            await asyncio.sleep(0.01)


def test_a_run_whose_append_meets_an_outage_goes_on_when_the_database_returns(
    postgres_url: str, proxy: PgProxy
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-block", [1.0])
        # A lease far longer than the outage: the run must not be given up.
        async with serving(client, lease_timeout=60.0, heartbeat_interval=1.0) as worker:
            await _until_called(("block", 1.0))
            proxy.cut()  # the step's completion cannot be appended
            await asyncio.sleep(6.0)  # outlasts pool_timeout=2
            proxy.restore()
            assert await client.workflow.result(handle.run_id, timeout=LIVENESS) == "unblocked"
        record = await client.store.get_run(handle.run_id)
        assert record.recoveries == 0, "the run kept its worker through the outage"
        assert worker.outcomes == [(handle.run_id, "completed")]
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n2") == ["step_started", "step_completed"]

    run(scenario, proxy.url(postgres_url) + "&pool_timeout=2")
    assert flows.CALLS == [("add", 1), ("block", 1.0)]


def test_runs_go_on_while_their_connections_are_terminated_again_and_again(
    postgres_url: str,
) -> None:
    """``pg_terminate_backend`` sweeps over and over: a retried connection can die too.

    A claim whose answer a sweep lost leaves its run leased to nobody until the
    lease lapses (then it is claimed again: a recovery that runs no step twice),
    so recoveries are not asserted, only that no step ran twice.
    """
    name = f"vrb_test_sweep_{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    killed: list[int] = []
    so_far = [0]

    def sweep() -> None:
        killed.append(terminate_until(stop, postgres_server_url(), name, so_far))

    async def scenario(client: Client) -> int:
        sweeper = threading.Thread(target=sweep)
        sweeper.start()
        runs = 0
        try:
            async with serving(client, lease_timeout=20.0, max_concurrency=4) as worker:
                # Batches until a sweep has hit the worker's connections: on a loaded
                # machine one batch can finish before the first sweep comes.
                while runs == 0 or so_far[0] == 0:
                    batch = [
                        await client.workflow.trigger("t-sequential", [x])
                        for x in range(runs, runs + RUNS)
                    ]
                    results = [
                        await client.workflow.result(handle.run_id, timeout=LIVENESS)
                        for handle in batch
                    ]
                    assert [result["total"] for result in results] == [
                        2 * x + 12 for x in range(runs, runs + RUNS)
                    ]
                    runs += RUNS
                    assert runs <= 50 * RUNS, "no sweep ever terminated a worker's connection"
        finally:
            stop.set()
            await asyncio.to_thread(sweeper.join)
        assert sorted(outcome for _, outcome in worker.outcomes) == ["completed"] * runs
        return runs

    runs = run(scenario, postgres_url + f"&application_name={name}&pool_min_size=3")
    assert killed[0] > 0, "the sweeps terminated backends"
    assert sorted(flows.CALLS) == sorted(
        [("add", x) for x in range(runs)] + [("add", x + 1) for x in range(runs)]
    )
