"""Property 3: a run interrupted at any store call and resumed ends like one never interrupted.

A store wrapper kills the worker around each of its writes, for every one of
them: right before or right after each ``append`` and each ``renew_lease`` (a
heartbeat the harness makes each step attempt take after it acted, so the
attempt is cut short with its effect done), and right after each ``claim`` that
took the run (the worker dies holding a lease it never used). The dead worker
stays dead: its parallel branches cannot write after it died. Its lease is taken
with a timeout that lapses at once, so a fresh worker takes the run over at the
same moment of the manual clock: the resumed run sees the same timeline
(timers, retry times, signal arrivals) as the uninterrupted one.

The resumed run must then

* end with the same outcome;
* leave the same log, payloads included (``run_started`` names another worker
  when the first one died before writing it): only the ``step_started`` the
  resumed worker writes again for each attempt that was in flight is left out,
  and the events of concurrent ``parallel``/map branches are compared each
  branch key on its own (which branch commits first is scheduling);
* run its rollbacks in the saga's order given its own completion order
  (:func:`tests.properties.saga.saga_view` on the log);
* never run again a step attempt or a rollback whose outcome was committed: the
  resumed worker runs exactly the attempts and rollbacks it logs after the crash;
* call the same steps and rollbacks as the uninterrupted run, once the attempt
  (or rollback) in flight at the crash is counted once.

Some workflows have a ``max_events`` breaker: the resumed run must trip it where
the uninterrupted one did (a crash with an operation under way, inside a
parallel node or after the trip was committed changes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import given, settings

import runtime.worker
from runtime import Client, StepContext
from runtime.events import Event
from runtime.stores import open_store
from runtime.stores.base import Store
from runtime.testing import ManualClock
from runtime.worker_run import RunExecutor
from tests.direct_executor import SCRIPT, Call, Outcome
from tests.strategies import Scenario, scenarios

from . import budget
from .harness import compile_scenario, drive, new_worker, start_run
from .saga import history_timeline, saga_view

_LAPSED = 1e-7
"""The lease timeout the workers claim with: below a microsecond, so a lease lapses at once.

Only a takeover fences a worker out, so the one worker of a run keeps writing
under its lapsed lease; after a crash, the next worker takes the run at once.
"""
_QUIET = {"lease_timeout": 3600.0, "heartbeat_interval": 3600.0}
"""No heartbeat on wall time: the only renewals are the scripted ones."""


class _Crash(BaseException):
    """The worker process died."""


_EXECUTORS: dict[str, RunExecutor] = {}


class _Registered(RunExecutor):
    """A run executor the scripted heartbeat can find by run id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _EXECUTORS[self.run_id] = self


async def _heartbeat(ctx: StepContext) -> None:
    await _EXECUTORS[ctx.run_id].heartbeat()


@contextlib.contextmanager
def _beating() -> Iterator[None]:
    with mock.patch.object(runtime.worker, "RunExecutor", _Registered):
        try:
            yield
        finally:
            _EXECUTORS.clear()


class _DyingStore:
    """Delegates to a real store; the worker dies around its ``at``-th write.

    Writes are numbered in order: ``append``, ``renew_lease``, and ``claim``
    when it took a run. Once dead, every call raises.
    """

    def __init__(self, store: Store, at: int = 0, after: bool = False) -> None:
        self._store = store
        self._at = at
        self._after = after
        self.writes: list[str] = []
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise _Crash
            return attr(*args, **kwargs)

        return guarded

    def _die(self) -> None:
        self.dead = True
        raise _Crash

    async def _write(self, kind: str, call: Callable[[], Any]) -> Any:
        if self.dead:
            raise _Crash
        self.writes.append(kind)
        number = len(self.writes)
        if number == self._at and not self._after:
            self._die()
        result = await call()
        if number == self._at:
            self._die()
        return result

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write("append", lambda: self._store.append(*args, **kwargs))

    async def renew_lease(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write("renew", lambda: self._store.renew_lease(*args, **kwargs))

    async def claim(self, worker_id: str, **kwargs: Any) -> Any:
        if self.dead:
            raise _Crash
        claims = await self._store.claim(worker_id, **{**kwargs, "lease_timeout": _LAPSED})
        if claims:
            self.writes.append("claim")
            if len(self.writes) == self._at:
                self._die()
        return claims


@dataclass
class _Baseline:
    outcome: Outcome
    log: list[Call]
    history: list[Event]
    writes: list[str]
    """The kinds of the run's writes, in order (where it can be crashed)."""


async def _baseline(scenario: Scenario, url: str) -> _Baseline:
    graph = compile_scenario(scenario)
    clock = ManualClock()
    store = open_store(url, clock=clock)
    try:
        with _beating():
            counting = _DyingStore(store)
            SCRIPT.use(scenario)
            SCRIPT.beat = _heartbeat
            client = Client(counting)  # type: ignore[arg-type]
            run_id, mailbox = await start_run(client, scenario, clock)
            worker = new_worker(client, graph, clock, **_QUIET)
            outcome = await drive(client, worker, clock, run_id, mailbox)
            history = await store.history(run_id)
    finally:
        await store.close()
    return _Baseline(outcome, list(SCRIPT.log), history, counting.writes)


# --------------------------------------------------------------------------- comparing logs


def _in_flight(durable: Sequence[Event]) -> dict[str, int]:
    """Step keys whose latest attempt was started and has no outcome, with that attempt."""
    started: dict[str, int] = {}
    for event in durable:
        if event.type == "step_started":
            started[event.key or ""] = event.payload.attempt  # type: ignore[union-attr]
        elif event.type in ("step_completed", "step_retrying", "step_failed"):
            started.pop(event.key or "", None)
    return started


def _entries(history: Sequence[Event], again: dict[str, int] | None = None) -> list[Any]:
    """The log as ``(type, key, payload)``, without commit times or ``run_started``'s worker.

    ``again``: attempts started again after a crash (key -> attempt); the second
    ``step_started`` of each is left out (as is a rollback's second
    ``rollback_started``), and a ``signal_consumed`` names the
    signal it took by its position in what is left, not by its seq.
    """
    left = dict(again or {})
    seen: set[str] = set()
    rollbacks: set[str] = set()
    kept: list[Event] = []
    for event in history:
        key = event.key or ""
        if event.type == "rollback_started":
            # A run begins each rollback once; a second start is the one in flight at
            # the crash beginning again.
            if key in rollbacks:
                continue
            rollbacks.add(key)
        if event.type == "step_started" and left.get(key) == event.payload.attempt:  # type: ignore[union-attr]
            if key in seen:
                del left[key]
                continue
            seen.add(key)
        kept.append(event)
    position = {event.seq: index for index, event in enumerate(kept, 1)}
    entries: list[Any] = []
    for event in kept:
        payload = event.payload.model_dump(mode="json")
        if event.type == "run_started":
            payload["worker_id"] = None
        elif event.type == "signal_consumed":
            payload["signal_seq"] = position[payload["signal_seq"]]
        entries.append((event.type, event.key, payload))
    return entries


def _branchwise(entries: list[Any]) -> tuple[list[Any], dict[str, list[Any]]]:
    """The log modulo the interleaving of concurrent ``parallel``/map branches.

    Everything outside branches keeps its order; each branch key keeps its own.
    """
    outside: list[Any] = []
    branches: dict[str, list[Any]] = {}
    for entry in entries:
        key = entry[1]
        if key is not None and "#" in key:
            branches.setdefault(key, []).append(entry)
        else:
            outside.append(entry)
    return outside, branches


def _rollbacks_logged(history: Sequence[Event], since: int = 0) -> list[tuple[str, Any]]:
    """``(step, output undone)`` of each rollback outcome in ``history[since:]``, in order."""
    timeline = history_timeline(history, since)
    return [(call.step, call.value) for call in timeline if call.kind == "rollback"]


def _without_rerun(
    dying: list[Call], resumed: list[Call], again: dict[str, int], rollbacks_committed: int
) -> list[Call]:
    """The dying worker's log without what the resumed worker ran again.

    That is the attempt in flight at the crash (with its outcome, if it had one)
    and a rollback that ran without its outcome being committed.
    """
    rerun = {(call.key, call.detail) for call in resumed if call.kind == "step"}
    kept: list[Call] = []
    skip_outcome: str | None = None
    rollbacks = 0
    for call in dying:
        if skip_outcome is not None:
            key, skip_outcome = skip_outcome, None
            if call.kind in ("done", "failed") and call.key == key:
                continue
        if call.kind == "step" and again.get(call.key or "") == call.detail:
            assert (call.key, call.detail) in rerun, f"the attempt in flight {call} never ran again"
            skip_outcome = call.key
            continue
        if call.kind == "rollback":
            rollbacks += 1
            if rollbacks > rollbacks_committed:
                # Its outcome was not committed: it ran again (checked by the caller).
                continue
        kept.append(call)
    assert rollbacks <= rollbacks_committed + 1, "rollbacks ran after the one in flight"
    return kept


# --------------------------------------------------------------------------- one crash


@dataclass
class Crashed:
    """A run crashed once and resumed by a fresh worker.

    Attributes:
        outcome: How the resumed run ended.
        durable: The log when the worker died.
        history: The log at the end.
        dying_log: The script's log of the worker that died.
        resumed_log: The script's log of the worker that resumed the run.
    """

    outcome: Outcome
    durable: list[Event]
    history: list[Event]
    dying_log: list[Call]
    resumed_log: list[Call]


async def crash_and_resume(scenario: Scenario, url: str, at: int, after: bool) -> Crashed | None:
    """Run ``scenario`` on ``url`` dying around write ``at``, then resume it to its end.

    Returns ``None`` when the run ended without making that many writes.
    """
    graph = compile_scenario(scenario)
    clock = ManualClock()
    store = open_store(url, clock=clock)
    try:
        with _beating():
            SCRIPT.use(scenario)
            SCRIPT.beat = _heartbeat
            dying = Client(_DyingStore(store, at, after))  # type: ignore[arg-type]
            run_id, mailbox = await start_run(dying, scenario, clock)
            try:
                dead = new_worker(dying, graph, clock, **_QUIET)
                await drive(dying, dead, clock, run_id, mailbox)
            except _Crash:
                pass
            else:
                return None
            durable = await store.history(run_id)
            dying_log = list(SCRIPT.log)
            SCRIPT.log.clear()
            resumed = Client(store)
            worker = new_worker(resumed, graph, clock, **_QUIET)
            outcome = await drive(resumed, worker, clock, run_id, mailbox)
            history = await store.history(run_id)
            return Crashed(outcome, durable, history, dying_log, list(SCRIPT.log))
    finally:
        await store.close()


async def _check_crash(
    scenario: Scenario, url: str, at: int, after: bool, baseline: _Baseline
) -> None:
    where = f"crash {'after' if after else 'before'} write {at} ({baseline.writes[at - 1]})"
    crashed = await crash_and_resume(scenario, url, at, after)
    if crashed is None:
        # Concurrent branches may share a commit or not: such a run can make fewer writes.
        assert scenario_has_branches(baseline.history), f"{where}: never reached"
        return
    outcome, durable, history = crashed.outcome, crashed.durable, crashed.history
    again = _in_flight(durable)
    failed = outcome.status == "failed"
    assert outcome == baseline.outcome, where
    entries = _entries(history, again)
    assert _branchwise(entries) == _branchwise(_entries(baseline.history)), where
    saga_view(history_timeline(history), scenario, failed=failed, where=f"{where}, log")
    # The resumed worker ran exactly the attempts and rollbacks it logged: nothing whose
    # outcome was committed before the crash.
    after_crash = history[len(durable) :]
    # A step that waits for a signal in its body acts only once its wait returns: an
    # attempt parked at the wait acted not, and its re-run logs no new start.
    waiting = {
        e.key
        for e in history
        if e.type == "step_started" and scenario.plan(e.payload.step).wait is not None  # type: ignore[union-attr]
    }
    started = Counter(
        (e.key, e.payload.attempt)  # type: ignore[union-attr]
        for e in after_crash
        if e.type == "step_started" and e.key not in waiting
    )
    resumed_log = crashed.resumed_log
    ran = Counter(
        (call.key, call.detail)
        for call in resumed_log
        if call.kind == "step" and call.key not in waiting
    )
    assert ran == started, f"{where}: attempts run {ran}, logged {started}"
    settled = {e.key for e in durable if e.type in ("step_completed", "step_failed")}
    again_run = [call.key for call in resumed_log if call.kind == "step" and call.key in settled]
    assert not again_run, f"{where}: steps settled before the crash ran again: {again_run}"
    undone = [(call.step, call.value) for call in resumed_log if call.kind == "rollback"]
    logged = _rollbacks_logged(history, len(durable))
    assert undone == logged, f"{where}: rollbacks run {undone}, logged {logged}"
    # Counting the attempt (or rollback) in flight once, both runs made the same calls.
    committed = len(_rollbacks_logged(durable))
    combined = _without_rerun(crashed.dying_log, resumed_log, again, committed) + resumed_log
    view = saga_view(combined, scenario, failed=failed, where=f"{where}, calls")
    assert view == saga_view(baseline.log, scenario, failed=failed, where="baseline"), where


def scenario_has_branches(history: Sequence[Event]) -> bool:
    """The run had concurrent branches (keys with ``#``)."""
    return any(event.key is not None and "#" in event.key for event in history)


def check_crash_equivalence(scenario: Scenario, url: str) -> None:
    """Crash around every write of the scenario's run; each resume must agree."""

    def fresh(name: str) -> str:
        return url if url == "memory://" else f"{url}.{name}"

    async def main() -> None:
        baseline = await _baseline(scenario, fresh("base"))
        failed = baseline.outcome.status == "failed"
        view = history_timeline(baseline.history)
        saga_view(view, scenario, failed=failed, where="baseline log")
        for at, kind in enumerate(baseline.writes, 1):
            for after in (False, True) if kind != "claim" else (True,):
                await _check_crash(scenario, fresh(f"{at}.{int(after)}"), at, after, baseline)

    asyncio.run(main())


@settings(max_examples=budget("crash"))
@given(scenarios(worker_only=True))
def test_a_run_crashed_at_any_write_resumes_to_the_same_end_on_memory(scenario: Scenario) -> None:
    check_crash_equivalence(scenario, "memory://")


@settings(max_examples=budget("crash_sqlite"))
@given(scenarios(worker_only=True))
def test_a_run_crashed_at_any_write_resumes_to_the_same_end_on_sqlite(scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_crash_equivalence(scenario, f"sqlite:///{Path(directory) / 'vrb.db'}")
