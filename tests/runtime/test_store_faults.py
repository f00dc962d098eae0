"""Transient store errors never cost a run (issue 14).

A wrapper around a real store fails chosen calls with :class:`StoreError`, as a
dropped PostgreSQL connection whose retry failed too would.
"""

from __future__ import annotations

from typing import Any

from runtime import Client
from runtime.stores.base import Store, StoreError

from . import flows
from .conftest import run, serving


class _FaultyStore:
    """Delegates to a real store; ``fail[name]`` calls of ``name`` fail first."""

    def __init__(self, store: Store, **fail: int) -> None:
        self._store = store
        self.fail = dict(fail)
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name not in self.fail:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.fail[name] > 0:
                self.fail[name] -= 1
                raise StoreError(f"injected: the connection dropped during {name}")
            return await target(*args, **kwargs)

        return call


def test_a_failed_heartbeat_is_retried_and_the_run_keeps_its_worker(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        faulty = _FaultyStore(client.store, renew_lease=2)
        client = Client(faulty)  # type: ignore[arg-type]
        handle = await client.workflow.trigger("t-block", [1.5])
        # A 1.5 s step under a 0.6 s lease: only heartbeats keep the lease alive.
        async with serving(client, lease_timeout=0.6, heartbeat_interval=0.1) as worker:
            assert await client.workflow.result(handle.run_id, timeout=30) == "unblocked"
        record = await client.store.get_run(handle.run_id)
        assert faulty.calls["renew_lease"] > 2  # the heartbeat went on after the failures
        assert record.recoveries == 0
        assert worker.outcomes == [(handle.run_id, "completed")]

    run(scenario, store_url)
    assert flows.CALLS.count(("block", 1.5)) == 1


def test_a_worker_whose_lease_lapsed_never_claims_its_own_run_and_goes_on(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        # Heartbeats fail for well over a lease: the run's lease lapses while its step
        # runs. The worker's claims pass over its own runs in flight; no other worker
        # took it, so the lapsed lease still holds and the execution goes on.
        faulty = _FaultyStore(client.store, renew_lease=40)
        client = Client(faulty)  # type: ignore[arg-type]
        handle = await client.workflow.trigger("t-block", [2.0])
        async with serving(client, lease_timeout=0.3, heartbeat_interval=0.1) as worker:
            assert await client.workflow.result(handle.run_id, timeout=30) == "unblocked"
        record = await client.store.get_run(handle.run_id)
        assert record.recoveries == 0
        assert [o for r, o in worker.outcomes if r == handle.run_id] == ["completed"]
        history = await client.workflow.history(handle.run_id)
        assert [e.type for e in history if e.key == "n2"] == ["step_started", "step_completed"]

    run(scenario, store_url)
    assert flows.CALLS.count(("block", 2.0)) == 1
