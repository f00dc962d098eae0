"""A sync step's timeout fails the attempt, and its retry waits for the thread to return.

The thread of a timed-out ``def`` step cannot be stopped; what the worker
guarantees is that two attempts of one step invocation never run at once.
Ordering is asserted, never a duration.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from runtime import Client, Worker, WorkflowFailed
from runtime.graphs import GraphLibrary

from . import sync_flows
from .conftest import FAST, run, types


@pytest.fixture(autouse=True)
def reset_events() -> Iterator[None]:
    sync_flows.EVENTS.clear()
    yield
    sync_flows.EVENTS.clear()


_LIBRARY: GraphLibrary | None = None


def _library() -> GraphLibrary:
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = GraphLibrary()
        _LIBRARY.load(["t-sync-overrun-flow", "t-sync-overrun-always-flow"])
    return _LIBRARY


def test_a_timed_out_sync_attempt_is_never_overlapped_by_its_retry(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(client: Client) -> None:
        worker = Worker(client, _library(), **FAST)
        task = asyncio.create_task(worker.start("t-sync-overrun-flow"))
        try:
            handle = await client.workflow.trigger("t-sync-overrun-flow", ["a"])
            result = await client.workflow.result(handle.run_id, timeout=60)
        finally:
            await worker.stop()
            await task
        assert result == {"label": "a", "attempt": 2}
        # The second attempt started only after the first one's thread returned.
        assert sync_flows.EVENTS == [("start", 1), ("end", 1), ("start", 2), ("end", 2)]
        events = await client.workflow.history(handle.run_id)
        assert types(events)[1:] == [
            "run_started",
            "step_started",
            "step_retrying",
            "step_started",
            "step_completed",
            "run_completed",
        ]
        retrying = next(event for event in events if event.type == "step_retrying")
        assert retrying.payload.attempt == 1
        assert retrying.payload.error.type == "TimeoutError"

    with caplog.at_level(logging.WARNING, logger="runtime.worker"):
        run(scenario, store_url)
    waited = [
        record.getMessage() for record in caplog.records if "still running" in record.getMessage()
    ]
    assert any("'t-sync-overrun' attempt 2" in message for message in waited), caplog.text


def test_a_sync_step_whose_attempts_all_time_out_fails_without_overlapping_them(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        worker = Worker(client, _library(), **FAST)
        task = asyncio.create_task(worker.start("t-sync-overrun-always-flow"))
        try:
            handle = await client.workflow.trigger("t-sync-overrun-always-flow")
            with pytest.raises(WorkflowFailed) as failed:
                await client.workflow.result(handle.run_id, timeout=60)
        finally:
            await worker.stop()
            await task
        assert "TimeoutError: step 't-sync-overrun-always' attempt 2 timed out" in str(failed.value)
        events = await client.workflow.history(handle.run_id)
        assert [event.payload.attempt for event in events if event.type == "step_started"] == [1, 2]
        # The run failed when attempt 2 timed out; its thread still ends on its own.
        deadline = time.monotonic() + 60  # a liveness guard, not a measurement
        while len(sync_flows.EVENTS) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert sync_flows.EVENTS == [("start", 1), ("end", 1), ("start", 2), ("end", 2)]

    run(scenario, store_url)
