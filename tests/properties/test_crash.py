"""Property 3: a run interrupted at any commit and resumed ends like one never interrupted.

The machinery is the interruption tests' (tests/runtime/test_interruptions.py):
a store wrapper kills the worker right before or right after its N-th append,
for every N; here the dead worker also stays dead (its parallel branches cannot
write after it died). A fresh worker resumes the run once the lease has lapsed
(the clock is manual: it is moved past the lease of a run left running). The resumed run must end with
the same outcome and the same log - event types and keys, concurrent branches
compared each on its own (their interleaving is scheduling); ``step_started`` and
``run_started`` are left out, as an attempt cut short by the crash starts again -
and no step or rollback whose completion was committed before the crash may run
again.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from runtime import Client
from runtime.stores import open_store
from runtime.stores.base import Store
from runtime.testing import ManualClock
from tests.direct_executor import SCRIPT, Call
from tests.runtime.test_interruptions import _Crash, _CrashingStore, _log
from tests.strategies import Scenario, scenarios

from . import budget
from .harness import FAST, RunRecord, compile_scenario, drive, new_worker, start_run


class _DyingStore(_CrashingStore):
    """Once the worker died at its N-th append, every later append dies too."""

    def __init__(self, store: Store, crash_at: int, after: bool) -> None:
        super().__init__(store, crash_at, after)
        self.dead = False

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        if self.dead:
            raise _Crash
        try:
            return await super().append(*args, **kwargs)
        except _Crash:
            self.dead = True
            raise


async def _baseline(scenario: Scenario, url: str) -> tuple[RunRecord, int]:
    graph = compile_scenario(scenario)
    clock = ManualClock()
    store = open_store(url, clock=clock)
    counting = _CrashingStore(store, crash_at=0, after=True)
    SCRIPT.use(scenario)
    client = Client(counting)  # type: ignore[arg-type]
    run_id = await start_run(client, scenario)
    outcome = await drive(
        client, new_worker(client, graph, clock), clock, run_id, list(scenario.phases[1:])
    )
    history = await store.history(run_id)
    await store.close()
    return RunRecord(outcome, list(SCRIPT.calls), history, run_id), counting.appends


def _branchwise(history: list[Any]) -> tuple[list[Any], dict[str, list[Any]]]:
    """The log modulo the interleaving of concurrent ``parallel``/``map`` branches.

    Branches run concurrently, so which one commits first is scheduling, not
    semantics: a resumed run (whose clock moved past the lease, making every
    pending retry due at once) may interleave them differently. Everything
    outside branches must keep its order; each branch key keeps its own.
    """
    outside: list[Any] = []
    branches: dict[str, list[Any]] = {}
    for kind, key in _log(history):
        if key is not None and "#" in key:
            branches.setdefault(key, []).append(kind)
        else:
            outside.append((kind, key))
    return outside, branches


def _rollbacks(calls: list[Call]) -> Counter[tuple[Any, ...]]:
    return Counter(call.plain() for call in calls if call.kind == "rollback")


async def _crash_and_resume(
    scenario: Scenario, url: str, crash_at: int, after: bool, baseline: RunRecord
) -> None:
    graph = compile_scenario(scenario)
    clock = ManualClock()
    store = open_store(url, clock=clock)
    try:
        SCRIPT.use(scenario)
        dying = Client(_DyingStore(store, crash_at, after))  # type: ignore[arg-type]
        run_id = await start_run(dying, scenario)
        pending = list(scenario.phases[1:])
        try:
            await drive(dying, new_worker(dying, graph, clock), clock, run_id, pending)
        except _Crash:
            pass
        else:
            raise AssertionError(f"the worker never reached append {crash_at}")
        durable = await store.history(run_id)
        executed = len(SCRIPT.calls)
        if (await store.get_run(run_id)).status == "running":
            # The dead worker's lease must lapse; a run it gave back needs no takeover (and
            # moving the clock would fire its timers early, which no crash does).
            clock.advance(FAST["lease_timeout"] + 1)
        resumed = Client(store)
        outcome = await drive(resumed, new_worker(resumed, graph, clock), clock, run_id, pending)
        where = f"crash {'after' if after else 'before'} append {crash_at}"
        assert outcome == baseline.outcome, where
        assert _branchwise(await store.history(run_id)) == _branchwise(baseline.history), where
        completed = {e.key for e in durable if e.type == "step_completed"}
        again = [c for c in SCRIPT.calls[executed:] if c.kind == "step" and c.key in completed]
        assert not again, f"{where}: completed steps ran again: {again}"
        # A rollback's outcome commits as soon as it ran: only the one in flight may rerun.
        extra = _rollbacks(SCRIPT.calls) - _rollbacks(baseline.calls)
        assert sum(extra.values()) <= 1, f"{where}: rollbacks ran again: {extra}"
    finally:
        await store.close()


def check_crash_equivalence(scenario: Scenario, url: str) -> None:
    """Crash before and after every append of the scenario's run; each resume must agree."""

    async def main() -> None:
        baseline, appends = await _baseline(scenario, url + ".base" if url != "memory://" else url)
        for crash_at in range(1, appends + 1):
            for after in (False, True):
                target = url if url == "memory://" else f"{url}.{crash_at}.{int(after)}"
                await _crash_and_resume(scenario, target, crash_at, after, baseline)

    asyncio.run(main())


@settings(max_examples=budget("crash"))
@given(scenarios())
def test_a_run_crashed_at_any_commit_resumes_to_the_same_end_on_memory(scenario: Scenario) -> None:
    check_crash_equivalence(scenario, "memory://")


@settings(max_examples=budget("crash_sqlite"))
@given(scenarios())
def test_a_run_crashed_at_any_commit_resumes_to_the_same_end_on_sqlite(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_crash_equivalence(scenario, f"sqlite:///{Path(directory) / 'vrb.db'}")
