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
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from runtime.stores import open_store
from runtime.testing import ManualClock
from tests.direct_executor import Call, run_direct
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
    assert modulo_interleaving(graph_run.calls) == modulo_interleaving(direct_calls)


def modulo_interleaving(calls: list[Call]) -> list[Any]:
    """The calls in order, except where concurrent branches were running.

    Which of several branches due at the same moment calls its step first is
    scheduling (a worker's branches each commit before calling; the direct run's
    tasks do not), and so is the order the saga then undoes them in. So each
    maximal stretch of branch attempts and rollbacks that holds a branch attempt
    is compared as a multiset; everything else keeps its order.
    """
    canonical: list[Any] = []
    stretch: list[Call] = []

    def close() -> None:
        if any(call.branch for call in stretch):
            canonical.append(sorted(Counter(call.plain() for call in stretch).items(), key=repr))
        else:
            canonical.extend(call.plain() for call in stretch)
        stretch.clear()

    for call in calls:
        if call.branch or call.kind == "rollback":
            stretch.append(call)
        else:
            close()
            canonical.append(call.plain())
    close()
    return canonical


@settings(max_examples=budget("source_graph_memory"))
@given(scenarios())
def test_graph_on_the_memory_store_behaves_like_the_source(scenario: Scenario) -> None:
    check_equivalent(scenario, "memory://")


@settings(max_examples=budget("source_graph_sqlite"))
@given(scenarios())
def test_graph_on_sqlite_behaves_like_the_source(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_equivalent(scenario, f"sqlite:///{Path(directory) / 'vrb.db'}")
