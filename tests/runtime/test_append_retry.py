"""An append that meets a transient store failure is retried, not abandoned (issue 14.4).

A wrapper around a real store fails chosen appends with a store error that is
also a :class:`ConnectionError` (what the PostgreSQL store raises when it lost
its connection or waited out ``pool_timeout``): the executor keeps the run and
retries until the store answers. A refused append (any other store error)
still stops the run. Counts and orders are asserted, never a duration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from runtime import Client
from runtime.events import EventDraft
from runtime.stores.base import Lease, Store, StoreError
from runtime.stores.postgres import PostgresStore

from . import flows
from .conftest import run, serving, types

LIVENESS = 60.0  # guards against a hang only


class _Unreachable(StoreError, ConnectionError):
    """What a store raises when it could not reach its database: repeating is safe."""


class _FailingAppends:
    """Delegates to a real store; the first ``budget`` appends that complete a step fail.

    Args:
        store: The real store.
        budget: How many appends fail, each before it reaches the store.
        error: The error type raised.
        forever: Fail every such append instead (``budget`` is ignored).
    """

    def __init__(
        self, store: Store, budget: int, error: type[StoreError], forever: bool = False
    ) -> None:
        self._store = store
        self.budget = budget
        self.error = error
        self.forever = forever
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append(self, lease: Lease, events: Sequence[EventDraft], **kwargs: Any) -> Any:
        completes = any(draft.type == "step_completed" for draft in events)
        if completes and (self.forever or self.budget > 0):
            self.budget -= 1
            self.failed += 1
            raise self.error(f"injected: could not reach the store (failure {self.failed})")
        return await self._store.append(lease, events, **kwargs)


def test_a_run_whose_appends_fail_transiently_completes_with_each_step_once(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        failing = _FailingAppends(client.store, 3, _Unreachable)
        client = Client(failing)  # type: ignore[arg-type]
        handle = await client.workflow.trigger("t-sequential", [1])
        async with serving(client) as worker:
            result = await client.workflow.result(handle.run_id, timeout=LIVENESS)
        assert result == {"a": 2, "b": 12, "total": 14}
        assert failing.failed == 3
        record = await client.store.get_run(handle.run_id)
        assert record.recoveries == 0, "the run kept its worker"
        assert worker.outcomes == [(handle.run_id, "completed")]
        history = await client.workflow.history(handle.run_id)
        for key in ("n1", "n2"):
            assert types(history, key) == ["step_started", "step_completed"]

    run(scenario, store_url)
    assert flows.CALLS == [("add", 1), ("add", 2)]


def test_an_append_the_store_refuses_still_stops_the_run(store_url: str) -> None:
    """Not every store error is transient: a refusal gives the run up as before."""

    async def scenario(client: Client) -> None:
        failing = _FailingAppends(client.store, 1, StoreError)
        client = Client(failing)  # type: ignore[arg-type]
        handle = await client.workflow.trigger("t-sequential", [1])
        async with serving(client, lease_timeout=0.5) as worker:
            await client.workflow.result(handle.run_id, timeout=LIVENESS)
        assert failing.failed == 1
        outcomes = [outcome for run_id, outcome in worker.outcomes if run_id == handle.run_id]
        assert outcomes == ["lease lost", "completed"]

    run(scenario, store_url)
    assert flows.CALLS.count(("add", 1)) == 2  # the refused completion ran again


def test_a_stopping_worker_gives_up_an_unreachable_append_once_its_lease_lapsed(
    store_url: str,
) -> None:
    """A drain during a long outage ends: the run is left to a later claim."""

    async def scenario(client: Client) -> None:
        failing = _FailingAppends(client.store, 0, _Unreachable, forever=True)
        client = Client(failing)  # type: ignore[arg-type]
        handle = await client.workflow.trigger("t-sequential", [1])
        async with serving(client, lease_timeout=0.5) as worker:
            while failing.failed < 2:
                await asyncio.sleep(0.01)
        outcomes = {outcome for run_id, outcome in worker.outcomes if run_id == handle.run_id}
        assert outcomes == {"lease lost"}
        assert (await client.store.get_run(handle.run_id)).status == "running"

    # serving() stops the worker at the end of the block: stop() must return.
    asyncio.run(asyncio.wait_for(_with_client(scenario, store_url), LIVENESS))


async def _with_client(scenario: Any, url: str) -> None:
    client = Client(url)
    try:
        await scenario(client)
    finally:
        await client.close()


# --------------------------------------------------------------------------- PostgreSQL


def test_an_append_that_committed_before_its_answer_was_lost_is_not_written_twice(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database answers nothing for a while after each append commits.

    The store's own retries run out (``pool_timeout=1``), so the executor
    repeats the append; the store must recognise the commit of the first try
    (a hot-path append and the final one that ends the run alike).
    """
    original = PostgresStore._retrying
    silent_for = 1.5  # longer than the store's own retries (pool_timeout=1)
    # Each append's first commit opens a silent window; the window's end lets
    # the next attempt's answer through and arms the next append's window.
    state = {"until": 0.0, "armed": True}

    async def losing_answers(self: PostgresStore, work: Any) -> Any:
        if not work.__qualname__.startswith("PostgresStore._append."):
            return await original(self, work)
        now = asyncio.get_running_loop().time

        async def committed_then_lost(conn: Any) -> Any:
            answer = await work(conn)
            if state["armed"]:
                state["armed"] = False
                state["until"] = now() + silent_for
            if now() < state["until"]:
                await conn.close()  # the answer is lost with the connection
                raise psycopg.OperationalError("injected: server closed the connection")
            state["armed"] = True
            return answer

        return await original(self, committed_then_lost)

    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sequential", [1])
        monkeypatch.setattr(PostgresStore, "_retrying", losing_answers)
        async with serving(client) as worker:
            result = await client.workflow.result(handle.run_id, timeout=LIVENESS)
        monkeypatch.undo()
        assert result == {"a": 2, "b": 12, "total": 14}
        record = await client.store.get_run(handle.run_id)
        assert record.recoveries == 0, "the run kept its worker"
        assert worker.outcomes == [(handle.run_id, "completed")]
        history = await client.workflow.history(handle.run_id)
        assert [event.seq for event in history] == list(range(1, len(history) + 1))
        assert types(history) == [
            "run_created",
            "run_started",
            "step_started",
            "step_completed",
            "step_started",
            "step_completed",
            "run_completed",
        ]

    run(scenario, postgres_url + "&pool_timeout=1")
    assert flows.CALLS == [("add", 1), ("add", 2)]
