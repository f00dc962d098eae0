"""Property 1: interpreting the compiled graph behaves like calling the source function.

For a generated program and generated step behaviour, the real worker walking
the graph vrb-compile built must end the same way (result, or error type and
message, or waiting forever for the same signal), call the same steps with the
same arguments and attempts in the same order, and run the same rollbacks in the
same order with the same errors, as :mod:`tests.direct_executor` running the
source function itself.

Only the interleaving of concurrent branches is free: which branch of a
``parallel`` or map calls (and completes) first is scheduling. So each run's
rollbacks are first checked exactly against the reverse of that run's own
completion order (:func:`tests.properties.saga.saga_view`), then the two runs
are compared with the attempts of one node instance as a multiset and only the
rollbacks of that node's branches sorted among themselves; rollbacks of steps
completed before the parallel, and every pass's position, keep their order.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings

from runtime.stores import open_store
from runtime.testing import ManualClock
from tests.direct_executor import run_direct
from tests.strategies import Scenario, scenarios

from . import budget
from .harness import RunRecord, compile_scenario, run_on_worker
from .saga import saga_view


def _on_worker(scenario: Scenario, url: str) -> RunRecord:
    graph = compile_scenario(scenario)
    clock = ManualClock()

    async def main() -> RunRecord:
        store = open_store(url, clock=clock)
        try:
            return await run_on_worker(scenario, graph, store, clock)
        finally:
            await store.close()

    return asyncio.run(main())


def check_equivalent(scenario: Scenario, url: str) -> None:
    """Assert the worker on ``url`` and the direct executor agree on ``scenario``."""
    graph_run = _on_worker(scenario, url)
    direct, direct_log = run_direct(scenario)
    assert graph_run.outcome == direct, scenario.source
    # The worker's saga follows its log: the completions the script saw are the ones it
    # committed, in that order, and each rollback it ran is recorded once, in order.
    log = graph_run.log
    committed = [e.key for e in graph_run.history if e.type == "step_completed"]
    assert [c.key for c in log if c.kind == "done"] == committed
    recorded = [e for e in graph_run.history if e.type in ("rollback_completed", "rollback_failed")]
    assert [c.step for c in log if c.kind == "rollback"] == [
        e.payload.step.rpartition(".")[2]  # type: ignore[union-attr]
        for e in recorded
    ]
    failed = direct.status == "failed"
    worker_view = saga_view(log, scenario, failed=failed, where="graph run")
    direct_view = saga_view(direct_log, scenario, failed=failed, where="direct run")
    assert worker_view == direct_view


@settings(max_examples=budget("source_graph_memory"))
@given(scenarios())
def test_graph_on_the_memory_store_behaves_like_the_source(scenario: Scenario) -> None:
    check_equivalent(scenario, "memory://")


@settings(max_examples=budget("source_graph_sqlite"))
@given(scenarios())
def test_graph_on_sqlite_behaves_like_the_source(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_equivalent(scenario, f"sqlite:///{Path(directory) / 'vrb.db'}")
