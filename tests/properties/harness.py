"""Compile generated scenarios with vrb-compile and run them on the real worker and stores.

* :func:`compile_scenario` writes the scenario's module under a per-process
  directory on ``sys.path``, imports it (registering its steps and workflow),
  checks it - zero errors required - and lowers it, all through
  :func:`vrb_compile.build.compile_paths`.
* :func:`drive` serves one run with a :class:`runtime.Worker` on a
  :class:`runtime.testing.ManualClock` until it ends or waits forever: when the
  run waits, it moves the clock to whichever comes first, the next signal's
  arrival (and sends it) or the run's ``wake_at`` (a signal arriving at the
  wake-up moment is sent first). A signal due after the run's k-th blocking
  wait is due once the log holds that wait's ``wait_created``. No test here
  sleeps on wall time.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runtime import Client, Worker
from runtime.events import Event, WaitCreatedEvent
from runtime.graphs import GraphLibrary
from runtime.stores.base import Store
from runtime.testing import ManualClock
from tests.direct_executor import SCRIPT, Call, Outcome
from tests.strategies import Mailbox, Scenario, Wait
from vrb_compile.api import CheckConfig
from vrb_compile.build import compile_paths
from vrb_compile.ir.models import Graph

__all__ = [
    "RunRecord",
    "compile_scenario",
    "drive",
    "new_worker",
    "run_on_worker",
    "send_arrived",
    "settle_clock",
    "start_run",
]

_ROOT = Path(tempfile.mkdtemp(prefix="vrb-properties-"))
sys.path.insert(0, str(_ROOT))
_GRAPHS: dict[str, Graph] = {}

FAST = {"poll_interval": 0.05, "heartbeat_interval": 10.0, "lease_timeout": 30.0}


def compile_scenario(scenario: Scenario) -> Graph:
    """Import the scenario's module and compile its workflow (cached per module).

    Raises:
        AssertionError: The checker reported an error (a generator bug or a false positive).
    """
    found = _GRAPHS.get(scenario.module)
    if found is not None:
        return found
    path = _ROOT / f"{scenario.module}.py"
    path.write_text(scenario.source, encoding="utf-8")
    importlib.invalidate_caches()
    importlib.import_module(scenario.module)
    result = compile_paths([path], CheckConfig(jobs=1), cwd=_ROOT)
    errors = [d for d in result.check.diagnostics if d.severity.value == "error"]
    assert not errors, (
        "vrb-compile check rejected a generated program:\n"
        + "\n".join(f"{d.line}:{d.column} {d.code} {d.message}" for d in errors)
        + "\n"
        + _numbered(scenario.source)
    )
    (graph,) = result.graphs
    _GRAPHS[scenario.module] = graph
    return graph


def _numbered(source: str) -> str:
    return "\n".join(f"{n:3} {line}" for n, line in enumerate(source.splitlines(), 1))


def new_worker(client: Client, graph: Graph, clock: ManualClock, **options: Any) -> Worker:
    """A worker serving ``graph``, retrying only durably (every backoff gives the run back)."""
    library = GraphLibrary()
    library.add(graph)
    return Worker(client, library, clock=clock, inline_retry_max=0.0, **{**FAST, **options})


async def settle_clock(clock: ManualClock, moment: datetime) -> None:
    """Move the manual clock forward to ``moment`` (never back)."""
    seconds = (moment - clock()).total_seconds()
    if seconds > 0:
        clock.advance(seconds)


async def drive(
    client: Client,
    worker: Worker,
    clock: ManualClock,
    run_id: str,
    mailbox: Mailbox,
) -> Outcome:
    """Serve the run until it ends or waits forever; return how it ended.

    ``mailbox`` holds the signals not sent yet; it records those sent, so a
    second drive after a crash goes on where the first stopped.
    """
    name = worker.library.names()
    for _ in range(500):
        await worker.run_until_idle(*name)
        parked = [
            outcome for run, outcome in worker.outcomes if run == run_id and outcome == "parked"
        ]
        assert not parked, f"the worker parked run {run_id}: its walk diverged from its log"
        run = await client.store.get_run(run_id)
        if run.status == "completed":
            return Outcome("completed", run.result)
        if run.status == "failed":
            assert run.error is not None
            return Outcome("failed", {"type": run.error.type, "message": run.error.message})
        assert run.status == "waiting", run
        due = await _due(client, run_id, mailbox)
        if due and (run.wake_at is None or due[0] <= run.wake_at):
            await settle_clock(clock, due[0])
            await send_arrived(client, clock, run_id, mailbox)
        elif run.wake_at is not None:
            await settle_clock(clock, run.wake_at)
        else:
            return Outcome("waiting", sorted(run.wait_signals))
    raise AssertionError(f"run {run_id} still going after 500 rounds")


async def _timeline(client: Client, run_id: str) -> tuple[datetime, list[Wait]]:
    """The run's creation time, and the blocking signal waits it began.

    A blocking wait is one the worker gave the run back for: it logged ``wait_created``.
    """
    history = await client.store.history(run_id)
    start = history[0].at

    def seconds(moment: datetime) -> float:
        return (moment - start).total_seconds()

    waits = [
        Wait(
            seconds(event.at),
            None if event.payload.until is None else seconds(event.payload.until),
            event.payload.signal,
        )
        for event in history
        if isinstance(event, WaitCreatedEvent) and event.payload.signal is not None
    ]
    return start, waits


async def _due(client: Client, run_id: str, mailbox: Mailbox) -> list[datetime]:
    """When each signal not sent yet is due, as far as the run's log tells, in order."""
    start, waits = await _timeline(client, run_id)
    return [start + timedelta(seconds=at) for at, _, _ in mailbox.due(waits)]


async def send_arrived(client: Client, clock: ManualClock, run_id: str, mailbox: Mailbox) -> None:
    """Send the signals due by the clock's time, in order."""
    start, waits = await _timeline(client, run_id)
    now = (clock() - start).total_seconds()
    for arrival, index, name in mailbox.due(waits):
        if arrival > now:
            break
        await client.workflow.send_signal(run_id, name, mailbox.take(index))


@dataclass
class RunRecord:
    """What a worker run of a scenario produced."""

    outcome: Outcome
    log: list[Call]
    """The script's log: attempts, their outcomes, rollbacks."""
    history: list[Event]
    run_id: str


async def start_run(client: Client, scenario: Scenario, clock: ManualClock) -> tuple[str, Mailbox]:
    """Trigger the scenario's run, send the signals arriving at once; the run and the rest."""
    # One run id per scenario: ctx.random() is seeded by it, so every run of a scenario
    # (interrupted or not, replayed or not) draws the same values.
    handle = await client.workflow.trigger(
        scenario.workflow_name, [scenario.input], run_id=f"run-{scenario.module}"
    )
    mailbox = Mailbox(scenario.signals)
    await send_arrived(client, clock, handle.run_id, mailbox)
    return handle.run_id, mailbox


async def run_on_worker(
    scenario: Scenario, graph: Graph, store: Store, clock: ManualClock
) -> RunRecord:
    """Run the scenario once, uninterrupted, on ``store`` (whose clock is ``clock``)."""
    SCRIPT.use(scenario)
    client = Client(store)
    run_id, mailbox = await start_run(client, scenario, clock)
    worker = new_worker(client, graph, clock)
    outcome = await drive(client, worker, clock, run_id, mailbox)
    history = await client.workflow.history(run_id)
    return RunRecord(outcome, list(SCRIPT.log), history, run_id)
