"""A loop that awaits nothing must not hang its worker (issue 14 item 9).

A real worker serves a run spinning in ``while i >= 0: i += 1`` beside a
normal run: the normal run completes, the spinning one ends by its breaker
(``execution_timeout``, or ``max_events``: a ``while`` loop's turns without an
event count toward a budget), cancellation and ``Worker.stop`` reach it, and
its lease keeps being renewed. Each scenario runs its event loop in a thread
the test only waits for a bounded time: a walker that never yields blocks that
loop (and every timeout inside it), so nothing inside could end the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from runtime import Client, Worker, WorkflowFailed, registered_workflows
from runtime.graphs import GraphLibrary
from runtime.interpreter import Journal, StepCall, Tripped, Walker
from runtime.interpreter.walker import LOOP_TURNS_PER_EVENT, TURNS_PER_PAUSE
from vrb_compile.ir.models import StepNode

from . import loop_flows
from .conftest import FAST, run, types

LIVENESS = 60.0
"""Seconds a scenario may take before the test calls its worker hung (never reached when fixed)."""

_LIBRARY: GraphLibrary | None = None


def loop_library() -> GraphLibrary:
    """The in-process compiled graphs of tests.runtime.loop_flows (compiled once per process)."""
    global _LIBRARY
    if _LIBRARY is None:
        names = sorted(
            name
            for name, flow in registered_workflows().items()
            if getattr(flow.fn, "__module__", None) == loop_flows.__name__
        )
        _LIBRARY = GraphLibrary()
        _LIBRARY.load(names)
    return _LIBRARY


@pytest.fixture(autouse=True)
def reset_calls() -> Iterator[None]:
    loop_flows.CALLS.clear()
    yield
    loop_flows.CALLS.clear()


@contextlib.asynccontextmanager
async def serving(client: Client, **options: Any) -> AsyncIterator[Worker]:
    """A worker serving the loop workflows in the background; leaving it stops the worker."""
    worker = Worker(client, loop_library(), **{**FAST, **options})
    task = asyncio.create_task(worker.start(*loop_library().names()))
    try:
        yield worker
    finally:
        await worker.stop()
        await task


def run_live(scenario: Callable[[Client], Coroutine[Any, Any, Any]], url: str) -> Any:
    """:func:`.conftest.run` in a thread, failing the test if it is still going after LIVENESS s."""
    outcome: dict[str, Any] = {}

    def main() -> None:
        try:
            outcome["value"] = run(scenario, url)
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=main, name="pure-loop-scenario", daemon=True)
    thread.start()
    thread.join(LIVENESS)
    if thread.is_alive():
        pytest.fail(f"the scenario was still going after {LIVENESS:g}s: its worker is hung")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def ends_with(recorded: list[str], *expected: str) -> bool:
    """``expected`` are the last of ``recorded``'s types, in order, other types between them allowed.

    The rollback's own bookkeeping events (when it starts, say) are not what this file tests.
    """
    tail = [kind for kind in recorded if kind in expected]
    return tail[-len(expected) :] == list(expected) and recorded[-1] == expected[-1]


async def wait_until(predicate: Callable[[], Coroutine[Any, Any, bool]]) -> None:
    async with asyncio.timeout(10):
        while not await predicate():
            await asyncio.sleep(0.02)


async def spinning(client: Client, run_id: str) -> bool:
    """The run is running and the walk is past its first step (it is in its loop)."""
    history = await client.workflow.history(run_id)
    return "step_completed" in types(history) or "step_started" in types(history)


def test_execution_timeout_stops_a_pure_loop_and_other_runs_go_on(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        spin = await client.workflow.trigger("lp-spin-timeout")
        async with serving(client):
            await wait_until(lambda: spinning(client, spin.run_id))
            # Triggered once the loop spins: served by the same worker meanwhile.
            other = await client.workflow.trigger("lp-quick", [3])
            assert await client.workflow.result(other.run_id, timeout=10) == 4
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(spin.run_id, timeout=10)
        assert caught.value.error == {
            "type": "ExecutionTimeout",
            "message": "the run exceeded its execution timeout of 1s",
        }
        history = await client.workflow.history(spin.run_id)
        assert ends_with(
            types(history), "circuit_breaker_tripped", "rollback_completed", "run_failed"
        )
        tripped = next(e for e in history if e.type == "circuit_breaker_tripped")
        assert tripped.payload.model_dump() == {"breaker": "execution_timeout", "limit": 1.0}

    run_live(scenario, store_url)
    assert ("unbook", "ExecutionTimeout", "booked-timeout") in loop_flows.CALLS


@pytest.mark.parametrize("workflow", ["lp-spin-events", "lp-spin-both"])
def test_max_events_stops_a_pure_loop(store_url: str, workflow: str) -> None:
    async def scenario(client: Client) -> list[Any]:
        spin = await client.workflow.trigger(workflow)
        other = await client.workflow.trigger("lp-quick", [7])
        async with serving(client):
            assert await client.workflow.result(other.run_id, timeout=10) == 8
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(spin.run_id, timeout=20)
        assert caught.value.error["type"] == "MaxEventsExceeded"
        history = await client.workflow.history(spin.run_id)
        tripped = next(e for e in history if e.type == "circuit_breaker_tripped")
        assert tripped.payload.model_dump() == {"breaker": "max_events", "limit": 50.0}
        assert types(history)[-1] == "run_failed"
        return types(history)

    recorded = run_live(scenario, store_url)
    if workflow == "lp-spin-events":
        assert ends_with(recorded, "circuit_breaker_tripped", "rollback_completed", "run_failed")
        assert ("unbook", "MaxEventsExceeded", "booked-events") in loop_flows.CALLS


def test_a_pure_loop_without_breakers_keeps_its_lease_and_obeys_stop_and_cancel(
    store_url: str,
) -> None:
    # A lease many heartbeats long: a worker whose loop stopped beating would lose it,
    # another claim would take the run over, and the first would end "lease lost". (Not
    # much shorter: the spinning thread holds the GIL most of the time, so a store working
    # in a thread, as SQLite's does, renews slower while the run spins.)
    options = {"lease_timeout": 2.0, "heartbeat_interval": 0.1}

    async def scenario(client: Client) -> None:
        spin = await client.workflow.trigger("lp-spin-forever")
        async with serving(client, **options) as first:
            await wait_until(lambda: spinning(client, spin.run_id))
            other = await client.workflow.trigger("lp-quick", [1])
            assert await client.workflow.result(other.run_id, timeout=10) == 2
            await asyncio.sleep(1.5 * options["lease_timeout"])  # longer than a lease
        # Stopping gave the run back, due at once, and recorded nothing for it.
        assert [o for o in first.outcomes if o[0] == spin.run_id] == [(spin.run_id, "waiting")]
        info = await client.workflow.get_run(spin.run_id)
        assert info.status == "waiting"
        async with serving(client, **options) as second:
            await wait_until(
                lambda: _outcome_is(second, spin.run_id, None)  # claimed and spinning again
            )
            await client.workflow.cancel(spin.run_id)
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(spin.run_id, timeout=10)
        assert caught.value.status == "cancelled"
        assert [o for o in second.outcomes if o[0] == spin.run_id] == [(spin.run_id, "cancelled")]
        history = await client.workflow.history(spin.run_id)
        assert ends_with(types(history), "rollback_completed", "run_cancelled")

    run_live(scenario, store_url)
    assert loop_flows.CALLS.count(("book", "forever")) == 1


async def _outcome_is(worker: Worker, run_id: str, outcome: str | None) -> bool:
    if outcome is None:
        return run_id in worker._active
    return (run_id, outcome) in worker.outcomes


# --------------------------------------------------------------------------- the walk itself


class _Host:
    """A host whose steps all return their first argument (nothing stops the run)."""

    run_id = "run-1"
    workflow_name = "lp-count"

    def __init__(self) -> None:
        self.checks: list[bool] = []

    async def checkpoint(self, keys: Sequence[str]) -> None:
        return None

    async def pause(self, *, replaying: bool) -> None:
        self.checks.append(replaying)

    async def run_step(self, call: StepCall) -> Any:
        return call.args[0] + 1

    async def run_parallel(self, calls: Sequence[StepCall]) -> list[Any]:
        raise AssertionError("no parallel node here")

    async def compensate(self, error: BaseException) -> list[str]:
        return []

    async def sleep(self, key: str, seconds: float) -> None:
        raise AssertionError("no sleep here")

    async def wait_signal(self, key: str, name: str, timeout: float | None) -> Any:
        raise AssertionError("no wait here")

    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def _walk(turns: int, journal: Journal | None = None) -> tuple[Walker, _Host, Any]:
    graph = loop_library().latest("lp-count")
    host = _Host()
    walker = Walker(graph, host, journal or Journal(), module=graph.source.module, args=(turns,))
    try:
        result: Any = asyncio.run(walker.run())
    except Tripped as tripped:
        result = tripped
    return walker, host, result


def test_a_while_loop_may_turn_max_events_times_the_budget_without_an_event() -> None:
    budget = 3 * LOOP_TURNS_PER_EVENT  # lp-count has max_events=3
    _, host, result = _walk(budget)
    assert result == budget + 1
    assert host.checks  # the live walk was checked for interrupts ...
    assert not any(host.checks)  # ... and never as a replay
    walker, _, tripped = _walk(budget + 5)
    assert isinstance(tripped, Tripped)
    assert (tripped.breaker, tripped.limit) == ("max_events", 3)
    # It trips at the same turn every time: a pure function of the code and the log.
    state = walker.state()
    (loop,) = state.counters
    assert (state.node, state.visited, state.idle_turns, state.counters[loop]) == (
        loop,  # stopped on arriving at the loop for the turn over budget
        1,
        budget + 1,
        budget,
    )
    again = _walk(budget + 5)[0].state()
    assert (again.visited, again.idle_turns, again.counters) == (1, budget + 1, state.counters)


def test_a_loop_the_log_holds_operations_after_is_checked_as_a_replay() -> None:
    # Both steps of lp-count are in the log: the loop between them is replayed, and
    # the host must not stop it for what a checkpoint there would not stop it for.
    graph = loop_library().latest("lp-count")
    keys = [node.id for node in graph.nodes if isinstance(node, StepNode)]
    journal = Journal(order=list(keys), order_steps=dict.fromkeys(keys, "lp-add"))
    _, host, result = _walk(1000, journal)
    assert result == 1001
    assert len(host.checks) == 1000 // TURNS_PER_PAUSE
    assert all(host.checks)
