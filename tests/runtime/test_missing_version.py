"""Runs pinned to a graph version no worker has (issue 14): cancelling one ends, never spins."""

from __future__ import annotations

import asyncio

from runtime import Client
from runtime.events import EventDraft, RunStartedPayload
from runtime.stores.base import RunUpdate

from .conftest import run, serving

MISSING = "0" * 64


async def _pinned_waiting_run(client: Client) -> str:
    """A run of t-signal started on a graph version no worker here has, waiting for a signal."""
    record, _ = await client.store.create_run("pinned", "t-signal", [], graph_hash=MISSING)
    (claim,) = await client.store.claim("gone", workflow_names=["t-signal"])
    started = RunStartedPayload(worker_id="gone", graph_hash=MISSING)
    update = RunUpdate(status="waiting", wait_signals=("go",))
    await client.store.append(claim.lease, [EventDraft(started)], update=update)
    return record.run_id


def test_a_cancelled_run_on_a_missing_version_ends_cancelled_without_spinning(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        run_id = await _pinned_waiting_run(client)
        await client.workflow.cancel(run_id)
        async with serving(client, retry_delay=0.2, cancel_grace=1.0) as worker:
            async with asyncio.timeout(20):
                while (await client.workflow.get_run(run_id)).status != "cancelled":
                    await asyncio.sleep(0.05)
        declined = [o for r, o in worker.outcomes if r == run_id and o == "declined"]
        # Left to the others for retry_delay after each decline: a handful within the
        # grace, where the cancellation (due at once) used to bring it back ~1,000 times
        # a second.
        assert 1 <= len(declined) <= 1.0 / 0.2 + 2, len(declined)
        record = await client.workflow.get_run(run_id)
        assert record.error is not None
        assert record.error["type"] == "Cancelled"
        assert "without compensation" in record.error["message"]
        history = await client.workflow.history(run_id)
        assert history[-1].type == "run_cancelled"

    run(scenario, store_url)


def test_a_missing_version_without_a_cancel_is_left_waiting(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        run_id = await _pinned_waiting_run(client)
        await client.workflow.send_signal(run_id, "go", 1)  # due at once
        async with serving(client, retry_delay=0.2, cancel_grace=0.5):
            await asyncio.sleep(1.0)  # longer than the grace: only a cancel ends such a run
        assert (await client.workflow.get_run(run_id)).status == "waiting"

    run(scenario, store_url)
