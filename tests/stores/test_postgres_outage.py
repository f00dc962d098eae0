"""The PostgreSQL store through outages: connections terminated over and over, a server gone.

What is asserted is what the store answers (or that it answers at all, under a
liveness timeout), never how long it took.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from runtime.events import EventDraft, RunStartedPayload
from runtime.stores import StoreError
from runtime.stores.postgres import PostgresStore
from tests.pg_faults import PgProxy, terminate_until

LIVENESS = 120.0  # guards against a hang only


def _started(n: int) -> EventDraft:
    return EventDraft(RunStartedPayload(worker_id=f"w{n}", graph_hash="g"))


def test_every_operation_succeeds_while_backends_are_terminated_again_and_again(
    postgres_server: str, postgres_url: str
) -> None:
    """A retried connection may be terminated too: one retry is not enough."""
    name = f"vrb_test_sweep_{uuid.uuid4().hex[:8]}"
    url = postgres_url + f"&application_name={name}&pool_min_size=3"
    stop = threading.Event()
    killed: list[int] = []
    sweeper = threading.Thread(
        target=lambda: killed.append(terminate_until(stop, postgres_server, name))
    )

    async def main() -> tuple[int, list[int], int]:
        store = PostgresStore(url)
        appended = 0
        try:
            await store.create_run("r", "wf", None)
            [claim] = await store.claim("w")
            lease = claim.lease
            sweeper.start()
            deadline = time.monotonic() + 4.0
            try:
                while time.monotonic() < deadline:
                    result = await store.append(lease, [_started(appended)])
                    appended += 1
                    assert result.lease is not None
                    lease = (await store.renew_lease(result.lease)).lease
                    assert (await store.get_run("r")).last_seq == result.last_seq
                    assert len(await store.history("r", after_seq=result.last_seq - 1)) == 1
                    await store.send_signal("r", "go", appended)
                    assert await store.next_signal("r", "go") is not None
                    assert await store.claim("other", workflow_names=["none"]) == []
                    await store.create_run(f"c{appended}", "wf", None)
            finally:
                stop.set()
                await asyncio.to_thread(sweeper.join)
            seqs = [event.seq for event in await store.history("r")]
            return appended, seqs, len((await store.list_runs(limit=1000)).runs)
        finally:
            await store.close()

    appended, seqs, runs = asyncio.run(asyncio.wait_for(main(), LIVENESS))
    assert killed[0] > 0, "the sweeps terminated backends"
    assert seqs == list(range(1, 2 * appended + 2)), "gapless, no append or signal twice"
    assert runs == appended + 1


def test_the_store_answers_again_after_an_outage_longer_than_pool_timeout(
    postgres_server: str, postgres_url: str
) -> None:
    """An operation that could not reach the server says so (a ConnectionError), then works."""
    proxy = PgProxy(postgres_server)
    url = proxy.url(postgres_url) + "&pool_timeout=1"

    async def main() -> tuple[StoreError, int, list[int]]:
        store = PostgresStore(url)
        try:
            await store.create_run("r", "wf", None)
            [claim] = await store.claim("w")
            await store.append(claim.lease, [_started(0)])
            await asyncio.to_thread(proxy.cut)
            with pytest.raises(StoreError) as unreachable:
                await store.append(claim.lease, [_started(1)])
            await asyncio.sleep(3.0)  # the pool's reconnection attempts fail meanwhile
            await asyncio.to_thread(proxy.restore)
            # The append the outage interrupted, repeated: it lands once.
            async with asyncio.timeout(LIVENESS):
                while True:
                    try:
                        result = await store.append(claim.lease, [_started(1)])
                        break
                    except StoreError as error:
                        if not isinstance(error, ConnectionError):
                            raise
            seqs = [event.seq for event in await store.history("r")]
            return unreachable.value, result.last_seq, seqs
        finally:
            await store.close()

    try:
        error, last_seq, seqs = asyncio.run(asyncio.wait_for(main(), LIVENESS))
    finally:
        proxy.close()
    assert isinstance(error, ConnectionError), "the failure is marked transient"
    assert "PostgreSQL at" in str(error)
    assert (last_seq, seqs) == (3, [1, 2, 3])
