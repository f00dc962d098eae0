"""Property 1: interpreting the compiled graph behaves like calling the source function.

For a generated program and generated step behaviour, the real worker walking
the graph vrb-compile built must end the same way (result, or error type and
message, or waiting forever for the same signal), call the same steps with the
same arguments and attempts in the same order, and run the same rollbacks in the
same order with the same errors, as :mod:`tests.direct_executor` running the
source function itself.
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
    direct, direct_calls = run_direct(scenario)
    assert graph_run.outcome == direct, scenario.source
    assert [call.plain() for call in graph_run.calls] == [call.plain() for call in direct_calls]


@settings(max_examples=budget("source_graph_memory"))
@given(scenarios())
def test_graph_on_the_memory_store_behaves_like_the_source(scenario: Scenario) -> None:
    check_equivalent(scenario, "memory://")


@settings(max_examples=budget("source_graph_sqlite"))
@given(scenarios())
def test_graph_on_sqlite_behaves_like_the_source(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_equivalent(scenario, f"sqlite:///{Path(directory) / 'vrb.db'}")
