"""Property 2: replaying any prefix of a run's log rebuilds the state the live run had there.

A live run of a generated scenario reports, right before it records each event,
the state of its :class:`runtime.worker_run.RunExecutor`
(:meth:`~runtime.worker_run.RunExecutor.snapshot`): where the walk stands (node,
durable operations visited, loop counters and items left, every frame's
variables and handled exception, the result), the saga stack (completed steps
not compensated, in order), the rollbacks run, the next seq (what the
``max_events`` breaker counts) and the position ``ctx.now()`` reads its time
from. That state is what a worker must rebuild from the log alone.

Then, for every prefix of the final log, a fresh worker gets a fresh store
holding exactly that prefix (copied event by event through the store protocol,
with the same seqs and commit times) and is stopped when it records its first
event: its state there must equal the live run's state when it recorded the
event with the same seq, and the event must be the same, except where they may
legitimately differ:

* a step attempt that was in flight at the end of the prefix (started, with no
  outcome) runs again under the same attempt number, so the replay records a new
  ``step_started`` where the live run recorded the attempt's outcome - the state
  before that event must still be the same;
* ``run_started`` names the worker that started the run;
* while the branches of a parallel or map node run, which sibling has finished
  (or been replayed) when another records depends on how their store calls
  interleave: the saga entries of those branches and the position are left out
  there, and compared at the events after the node;
* ``ctx.now()``: a result the live executor recorded but has not committed yet
  gets its time only when the body asks, so the live answer is taken from the
  final log at its position, and the replay's answer (from the history it read)
  must be that time. Programs that read ``ctx.now()`` (through an alias) put the
  value in their variables, which are compared as they are.

Signals the live run got right after the prefix ends (before the worker did
anything else) are part of the prefix; later ones are sent to the replay as the
harness sent them to the live run, each when the manual clock reaches its
arrival time. A prefix that is the whole log of a run waiting forever must
replay to the same wait and record nothing. Some workflows have a ``max_events``
breaker: a replay must trip it where the live run did.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import given, settings

import runtime.worker
from runtime import Client
from runtime.events import (
    Event,
    EventDraft,
    Payload,
    SignalConsumedEvent,
    SignalReceivedEvent,
    StepStartedEvent,
)
from runtime.interpreter import StepCall
from runtime.stores import open_store
from runtime.stores.base import Lease, RunRecord, RunUpdate, Store
from runtime.testing import ManualClock
from runtime.worker_run import RunExecutor, RunState
from tests.direct_executor import SCRIPT, Outcome
from tests.strategies import Mailbox, Scenario, scenarios
from vrb_compile.ir.models import Graph

from . import budget
from .harness import compile_scenario, drive, new_worker, settle_clock, start_run

Watch = Callable[["_Watched", Payload, str | None], None]
_WATCH: list[Watch] = []


class _Watched(RunExecutor):
    """A run executor that shows its state to the test right before each event it records."""

    branches: frozenset[str] = frozenset()
    """The keys of the parallel branches running now, if any."""

    def record(self, payload: Payload, key: str | None = None) -> int:
        for watch in _WATCH:
            watch(self, payload, key)
        return super().record(payload, key)

    async def run_parallel(self, calls: Sequence[StepCall]) -> list[Any]:
        self.branches = frozenset(call.key for call in calls)
        try:
            return await super().run_parallel(calls)
        finally:
            self.branches = frozenset()


@contextlib.contextmanager
def _watching(watch: Watch) -> Iterator[None]:
    _WATCH.append(watch)
    try:
        with mock.patch.object(runtime.worker, "RunExecutor", _Watched):
            yield
    finally:
        _WATCH.remove(watch)


class _Stop(BaseException):
    """The replaying worker has recorded its first event: nothing more is needed of it."""


@dataclass(frozen=True)
class _Seen:
    """One recorded event and the state of its executor right before it was recorded."""

    seq: int
    event: tuple[str, str | None, dict[str, Any]]
    state: dict[str, Any]
    position: int | None


def _event(payload: Payload, key: str | None) -> tuple[str, str | None, dict[str, Any]]:
    return (payload.TYPE, key, payload.model_dump(mode="json"))


def _plain(value: Any) -> Any:
    """A comparable copy of a value of the walk (taken at once: the walk goes on mutating it)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, BaseException):
        # Replay rebuilds recorded errors as new objects: same type name, message and fields.
        fields = {name: _plain(field) for name, field in sorted(vars(value).items())}
        return {"error": type(value).__name__, "message": str(value), **fields}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(name): _plain(item) for name, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return f"<{type(value).__name__}>"


def _state(executor: _Watched) -> tuple[dict[str, Any], int | None]:
    """The executor's state as comparable data, and its position (for ``ctx.now()``)."""
    snapshot: RunState = executor.snapshot()
    walk: dict[str, Any] | None = None
    if snapshot.walk is not None:
        state = snapshot.walk
        module = vars(importlib.import_module(executor.graph.source.module))
        # A frame's namespace starts as a copy of the module's globals: the variables
        # are the names bound since (the context is one of them, shown by its type).
        frames = [
            {
                name: _plain(value)
                for name, value in sorted(frame.items())
                if not (name in module and module[name] is value)
            }
            for frame in state.frames
        ]
        walk = {
            "node": state.node,
            "visited": state.visited,
            "counters": dict(state.counters),
            "remaining": dict(state.remaining),
            "frames": frames,
            "errors": _plain(list(state.errors)),
            "result": _plain(state.result),
        }
    saga = list(snapshot.saga)
    position: int | None = snapshot.position
    if executor.branches:
        # While the branches of a parallel or map node run, which sibling has been
        # replayed or has finished when one of them records depends on how their store
        # calls interleave, not on the log: their completions (and the position they
        # move) are compared once the node is done. ctx.now() cannot be read meanwhile.
        saga = [item for item in saga if item[1] not in executor.branches]
        position = None
    state_data = {
        "next_seq": snapshot.next_seq,
        "now": None if position is None or snapshot.now is None else snapshot.now.isoformat(),
        "saga": _plain(saga),
        "rolled": sorted(snapshot.rolled),
        "cancel_requested": snapshot.cancel_requested,
        "walk": walk,
    }
    return state_data, position


def _seen(executor: _Watched, payload: Payload, key: str | None) -> _Seen:
    state, position = _state(executor)
    return _Seen(executor.next_seq, _event(payload, key), state, position)


# --------------------------------------------------------------------------- the live run


@dataclass
class _Live:
    run: RunRecord
    history: list[Event]
    seen: dict[int, _Seen]
    outcome: Outcome
    sent: list[int]
    """The scenario's signals (indexes) in the order the harness sent them."""


async def _live(scenario: Scenario, graph: Graph, url: str) -> _Live:
    clock = ManualClock()
    store = open_store(url, clock=clock)
    try:
        SCRIPT.use(scenario)
        client = Client(store)
        run_id, mailbox = await start_run(client, scenario, clock)
        seen: list[_Seen] = []
        with _watching(lambda executor, payload, key: seen.append(_seen(executor, payload, key))):
            worker = new_worker(client, graph, clock)
            outcome = await drive(client, worker, clock, run_id, mailbox)
        history = await store.history(run_id)
        run = await store.get_run(run_id)
    finally:
        await store.close()
    by_seq = {item.seq: item for item in seen}
    # Every event the worker recorded is in the log as recorded, and nothing else is.
    assert len(by_seq) == len(seen), "two events were recorded under one seq"
    for event in history:
        if event.type in ("run_created", "signal_received"):
            assert event.seq not in by_seq
            continue
        assert by_seq[event.seq].event == (event.type, event.key, _dump(event)), event.seq
    # A result not committed yet has no time until the body asks: use the log's times.
    times = {event.seq: event.at for event in history}
    for item in seen:
        if item.position is not None:
            item.state["now"] = times[item.position].isoformat()
    return _Live(run, history, by_seq, outcome, mailbox.sent)


def _dump(event: Event) -> dict[str, Any]:
    dumped: dict[str, Any] = event.payload.model_dump(mode="json")
    return dumped


# --------------------------------------------------------------------------- a replay


async def _copy_prefix(store: Store, clock: ManualClock, live: _Live, end: int) -> None:
    """Write ``live.history[:end]`` into ``store``: same seqs, payloads and commit times."""
    run = live.run
    await settle_clock(clock, live.history[0].at)
    await store.create_run(run.run_id, run.workflow_name, run.input)
    lease: Lease | None = None
    for event in live.history[1:end]:
        await settle_clock(clock, event.at)
        if isinstance(event, SignalReceivedEvent):
            sent = await store.send_signal(run.run_id, event.payload.name, event.payload.payload)
            assert sent.seq == event.seq
            continue
        if lease is None:
            (claim,) = await store.claim("copier", lease_timeout=3600.0)
            lease = claim.lease
        update = RunUpdate(graph_hash=run.graph_hash) if event.type == "run_started" else None
        consume = [event.payload.signal_seq] if isinstance(event, SignalConsumedEvent) else []
        draft = EventDraft(event.payload, event.key)
        appended = await store.append(lease, [draft], update=update, consume_signals=consume)
        assert appended.last_seq == event.seq
        assert appended.lease is not None
        lease = appended.lease
    if lease is not None:
        # Given back due at once: the replaying worker claims it as a resumed run.
        await store.release(lease)


async def _replay(
    scenario: Scenario, graph: Graph, live: _Live, end: int, url: str
) -> _Seen | Outcome:
    """Replay ``live.history[:end]`` on a fresh store; the first event recorded, with its state.

    Returns the outcome instead when the replay ends without recording anything.
    """
    clock = ManualClock()
    store = open_store(url, clock=clock)
    try:
        await _copy_prefix(store, clock, live, end)
        sent = sum(1 for event in live.history[:end] if isinstance(event, SignalReceivedEvent))
        # The signals the live run had been sent by then, in the order it was.
        mailbox = Mailbox(scenario.signals, live.sent[:sent])
        first: list[_Seen] = []

        def stop(executor: _Watched, payload: Payload, key: str | None) -> None:
            if not first:
                first.append(_seen(executor, payload, key))
            raise _Stop

        SCRIPT.use(scenario)
        client = Client(store)
        with _watching(stop):
            try:
                return await drive(
                    client, new_worker(client, graph, clock), clock, live.run.run_id, mailbox
                )
            except _Stop:
                return first[0]
    finally:
        await store.close()


def _in_flight(history: list[Event], key: str | None) -> int | None:
    """The attempt of step ``key`` started and never finished in ``history``, if any."""
    attempt: int | None = None
    for event in history:
        if event.key == key and event.type.startswith("step_"):
            attempt = event.payload.attempt if isinstance(event, StepStartedEvent) else None
    return attempt


def _same_event(
    replayed: tuple[str, str | None, dict[str, Any]],
    recorded: tuple[str, str | None, dict[str, Any]],
    prefix: list[Event],
) -> bool:
    kind, key, payload = replayed
    if kind == "run_started" == recorded[0]:
        # Names the worker that started the run: the replay's is another one.
        return {**payload, "worker_id": None} == {**recorded[2], "worker_id": None}
    if replayed == recorded:
        return True
    # The attempt in flight when the prefix ends runs again under the same number.
    if kind == "step_started":
        return payload["attempt"] == _in_flight(prefix, key)
    # So does the rollback in flight (begun, no outcome): it begins again.
    return kind == "rollback_started" and _rollback_in_flight(prefix, key)


def _rollback_in_flight(history: list[Event], key: str | None) -> bool:
    """The rollback of step ``key`` began and never ended in ``history``."""
    begun = False
    for event in history:
        if event.key == key and event.type.startswith("rollback_"):
            begun = event.type == "rollback_started"
    return begun


def check_replay_equivalence(scenario: Scenario, url: Callable[[str], str]) -> None:
    """Replay every prefix of the scenario's log; each must rebuild the live state there.

    ``url(name)`` is the URL of an empty store for the live run or for one replay.
    """
    graph = compile_scenario(scenario)

    async def main() -> None:
        live = await _live(scenario, graph, url("live"))
        history = live.history
        last = len(history) if live.run.status == "waiting" else len(history) - 1
        done: set[int] = set()
        for cut in range(1, last + 1):
            end = cut
            # Signals sent right after the cut, before the worker acted again, go with it.
            while end < len(history) and isinstance(history[end], SignalReceivedEvent):
                end += 1
            if end in done:
                continue
            done.add(end)
            replayed = await _replay(scenario, graph, live, end, url(f"prefix-{end}"))
            where = f"replay of events 1..{cut} (of {len(history)})"
            if end == len(history):
                assert replayed == live.outcome, f"{where}: recorded {replayed}"
                continue
            assert isinstance(replayed, _Seen), f"{where} ended {replayed} without recording"
            assert replayed.seq == end + 1, f"{where}: recorded seq {replayed.seq}"
            recorded = live.seen[replayed.seq]
            prefix = history[:end]
            assert _same_event(replayed.event, recorded.event, prefix), (
                f"{where}: recorded {replayed.event}, the live run {recorded.event}"
            )
            assert replayed.position == recorded.position, where
            assert replayed.state == recorded.state, where

    asyncio.run(main())


@settings(max_examples=budget("replay"))
@given(scenarios(worker_only=True))
def test_replaying_any_prefix_of_the_log_rebuilds_the_live_state_on_memory(
    scenario: Scenario,
) -> None:
    check_replay_equivalence(scenario, lambda name: "memory://")


@settings(max_examples=budget("replay_sqlite"))
@given(scenarios(worker_only=True))
def test_replaying_any_prefix_of_the_log_rebuilds_the_live_state_on_sqlite(
    scenario: Scenario,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        # Durability against power loss is not what this property is about: no fsync per commit.
        check_replay_equivalence(
            scenario, lambda name: f"sqlite:///{Path(directory) / name}.db?synchronous=normal"
        )
