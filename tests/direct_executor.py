"""Run a workflow's SOURCE function directly, with scripted steps: the oracle of the properties.

:class:`DirectRun` calls the workflow function itself (no compiler, no graph,
no store) under a :class:`~runtime.WorkflowContext`, and takes over every step
call through :data:`runtime.sdk.STEP_EXECUTOR`. It implements the semantics of
SPEC section 6 as plainly as possible:

* a step is attempted up to ``retries + 1`` times (``NonRetryableError`` stops
  at once), waiting its backoff delay on a virtual clock between attempts;
* when a step fails for good, the rollbacks of every completed, not yet
  compensated step run in reverse completion order (a failing rollback does not
  stop the others), then ``StepFailed(step, cause, compensated)`` is raised into
  the body; inside ``ctx.parallel`` or a map, the saga waits until the sibling
  branches are done, so it compensates them too, and when several branches fail
  the body gets the failure of the first in branch order (the worker's documented
  choice: every branch runs to its end before failures count);
* an exception escaping the body compensates what is left, then fails the run;
* signals arrive at their scenario time on the virtual clock (see
  :mod:`tests.strategies`) and are taken FIFO per name: a wait takes one that
  arrived before it (buffered), else moves the clock through the arrivals due by
  its timeout until one of its name comes, else times out at the deadline (with
  a timeout) or leaves the run waiting forever (without one);
* ``ctx.sleep`` and backoffs only move the virtual clock.

What the steps and rollbacks do comes from :data:`SCRIPT`, which the generated
step functions also call when a worker runs them, so both executors see the same
behaviour and :attr:`Script.log` records the same kind of trace: each attempt,
its outcome (returned, or failed for good) and each rollback, in order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runtime import NonRetryableError, SignalTimeout, StepContext, StepFailed, WorkflowContext
from runtime.sdk import STEP_EXECUTOR, Step, get_workflow
from tests.strategies import Mailbox, Scenario, Wait

__all__ = ["SCRIPT", "Call", "DirectRun", "Outcome", "Script", "group_of", "run_direct"]


@dataclass(frozen=True)
class Call:
    """One entry of the script's log: a step attempt and its outcome, or a rollback.

    Attributes:
        kind: ``"step"`` (an attempt begins), ``"done"`` (it returned),
            ``"failed"`` (it raised, and that was the step's last attempt) or
            ``"rollback"``.
        step: The step's attribute name (``s0``...).
        value: The step's argument, or the output a rollback undoes.
        detail: The attempt number; the output (``done``); the error a rollback
            was given (type: message).
        key: The event key of a step attempt under a worker (its idempotency key
            without the run id; ``None`` directly).
        group: Which ``parallel``/map node instance a branch attempt belongs to
            (the key's node part under a worker; a counter directly); ``None``
            outside branches.
    """

    kind: str
    step: str
    value: Any
    detail: Any
    key: str | None = None
    group: str | None = None

    @property
    def branch(self) -> bool:
        """Made inside a ``parallel`` or map branch."""
        return self.group is not None

    def plain(self) -> tuple[str, str, Any, Any]:
        """The entry without the key and group (the direct executor has no keys)."""
        return (self.kind, self.step, self.value, self.detail)


def group_of(key: str) -> str | None:
    """The parallel/map node instance of a branch key (``n4@1#2`` -> ``n4@1``); ``None`` otherwise."""
    node, branch, _ = key.partition("#")
    return node if branch else None


class Script:
    """The scripted behaviour of the generated steps, and the record of what they did."""

    def __init__(self) -> None:
        self.scenario: Scenario | None = None
        self.log: list[Call] = []
        """Every attempt, its outcome and every rollback, in the order they happened."""
        self.stop: type[BaseException] | None = None
        """When set, any step or rollback raises it instead of acting (replay checks)."""
        self.beat: Callable[[StepContext], Awaitable[None]] | None = None
        """When set, awaited by each attempt under a worker after it acted (a heartbeat)."""

    @property
    def calls(self) -> list[Call]:
        """The attempts and rollbacks (the log without outcomes)."""
        return [call for call in self.log if call.kind in ("step", "rollback")]

    def use(self, scenario: Scenario) -> None:
        """Script ``scenario``'s steps and forget earlier calls."""
        self.scenario = scenario
        self.log = []
        self.stop = None
        self.beat = None

    def attempt(self, name: str, x: int, attempt: int, key: str | None, group: str | None) -> int:
        """One attempt of step ``name`` on ``x``: record it, then return or raise as scripted."""
        if self.stop is not None:
            raise self.stop(f"step {name} would run")
        assert self.scenario is not None, "no scenario scripted"
        self.log.append(Call("step", name, x, attempt, key, group))
        plan = self.scenario.plan(name)
        try:
            output = plan.attempt(x, attempt)
        except Exception:
            if plan.final(x, attempt):
                self.log.append(Call("failed", name, x, attempt, key, group))
            raise
        self.log.append(Call("done", name, x, output, key, group))
        return output

    async def step(self, ctx: StepContext, name: str, x: int) -> int:
        """The body of a generated step function under a worker."""
        # The idempotency key is ``<run id>:<event key>``: the log's key is what replay matches.
        key = ctx.idempotency_key.rpartition(":")[2]
        try:
            return self.attempt(name, x, ctx.attempt, key, group_of(key))
        finally:
            if self.beat is not None:
                await self.beat(ctx)

    async def rollback(self, name: str, error: BaseException, output: int) -> None:
        """The body of a generated rollback function."""
        if self.stop is not None:
            raise self.stop(f"rollback of {name} would run")
        assert self.scenario is not None, "no scenario scripted"
        self.log.append(Call("rollback", name, output, f"{type(error).__name__}: {error}"))
        self.scenario.plan(name).undo(output)


SCRIPT = Script()
"""The one script the generated modules' steps call."""


@dataclass(frozen=True)
class Outcome:
    """How a run ended.

    Attributes:
        status: ``completed``, ``failed`` or ``waiting`` (forever, for a signal).
        value: The result; the error as ``{"type", "message"}``; or the awaited signal names.
    """

    status: str
    value: Any


class _Stuck(BaseException):
    """The body waits for a signal that will never come."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class _Completion:
    step: Step
    output: Any
    rolled: bool = False


@dataclass
class DirectRun:
    """One direct run of a scenario's workflow (see the module docstring)."""

    scenario: Scenario
    clock: float = 0.0
    completions: list[_Completion] = field(default_factory=list)
    inbox: dict[str, deque[Any]] = field(default_factory=lambda: defaultdict(deque))
    mailbox: Mailbox = field(init=False)
    _waits: list[Wait] = field(default_factory=list)
    _inflight: int = 0
    _entered: int = 0
    _failed: list[int] = field(default_factory=list)
    _sleepers: list[float] = field(default_factory=list)
    _groups: dict[asyncio.Task[Any], str] = field(default_factory=dict)
    stuck: asyncio.Future[str] = field(init=False)
    _body: asyncio.Future[Any] | None = None
    _main: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ steps

    def _group(self) -> str | None:
        """The parallel/map instance the current task is a branch of (``None``: the body)."""
        task = asyncio.current_task()
        if task is self._body or task is None:
            return None
        group = self._groups.get(task)
        if group is None:
            # The first branch of a new gather to call: its siblings are the other live
            # tasks (every branch of an earlier gather has ended).
            group = f"g{len(set(self._groups.values()))}"
            for other in asyncio.all_tasks():
                if other not in (self._body, self._main) and not other.done():
                    self._groups.setdefault(other, group)
        return group

    async def call_step(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Attempt the step as scripted, retrying, and run the saga if it fails for good."""
        (x,) = args
        name = step.name.rpartition(".")[2]
        group = self._group()
        self._entered += 1
        entry = self._entered
        self._inflight += 1
        try:
            attempt = 1
            while True:
                try:
                    output = SCRIPT.attempt(name, x, attempt, None, group)
                except Exception as error:
                    if isinstance(error, NonRetryableError) or attempt > step.retries:
                        cause: Exception = error
                        break
                    await self._wait_until(self.clock + step.backoff.delay(attempt))
                    attempt += 1
                    continue
                self.completions.append(_Completion(step, output))
                return output
        finally:
            self._inflight -= 1
        # Sibling branches of a parallel or map finish first: their completions count too.
        # Then the failing branch that comes first in branch order raises first (so it is
        # the one the body sees), compensating; any later one finds nothing left to undo.
        self._failed.append(entry)
        await asyncio.sleep(0)
        while self._inflight or min(self._failed) != entry:
            await asyncio.sleep(0)
        self._failed.remove(entry)
        raise StepFailed(step.name, cause, await self.compensate(cause))

    async def _wait_until(self, moment: float) -> None:
        # Virtual time: it moves to the earliest wake-up once every branch in flight sleeps.
        self._sleepers.append(moment)
        try:
            while self.clock < moment:
                await asyncio.sleep(0)
                if self.clock < moment and len(self._sleepers) >= self._inflight:
                    self.clock = min(self._sleepers)
        finally:
            self._sleepers.remove(moment)

    async def compensate(self, error: BaseException) -> list[str]:
        """Roll back completed, uncompensated steps in reverse completion order."""
        done: list[str] = []
        for completion in reversed(self.completions):
            rollback = completion.step.rollback_fn
            if completion.rolled or rollback is None:
                continue
            completion.rolled = True
            try:
                await rollback(error, completion.output)
            except Exception:
                continue
            done.append(completion.step.name)
        return done

    # ------------------------------------------------------------------ the context backend

    async def sleep(self, seconds: float) -> None:
        if self.stuck.done():
            raise _Stuck("sleep")
        self.clock += seconds

    def _arrive(self, moment: float) -> None:
        """Put every signal arrived by ``moment`` in the inbox, in the order they are due."""
        for arrival, index, name in self.mailbox.due(self._waits):
            if arrival > moment:
                break
            self.inbox[name].append(self.mailbox.take(index))

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        self._arrive(self.clock)
        if not self.inbox[name]:
            # A blocking wait: signals may be due relative to when it began.
            deadline = None if timeout is None else self.clock + timeout
            self._waits.append(Wait(self.clock, deadline, name))
            for arrival, _, _ in self.mailbox.due(self._waits):
                if deadline is not None and arrival > deadline:
                    break
                self.clock = max(self.clock, arrival)
                self._arrive(self.clock)
                if self.inbox[name]:
                    break
            if not self.inbox[name] and deadline is not None:
                self.clock = deadline
                raise SignalTimeout(name, timeout)
        if self.inbox[name]:
            return self.inbox[name].popleft()
        # The durable run gives its worker back here for good and nothing after this
        # point happens there; so here the body blocks, and is then cancelled with every
        # step and wait refusing to act while `finally` blocks unwind it.
        SCRIPT.stop = _Stuck
        if not self.stuck.done():
            self.stuck.set_result(name)
            await asyncio.Future()
        raise _Stuck(name)

    async def parallel(self, branches: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
        return list(await asyncio.gather(*(branch() for branch in branches)))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock, UTC)

    def random(self) -> float:
        raise NotImplementedError("generated programs draw no random values")

    def uuid4(self) -> uuid.UUID:
        raise NotImplementedError("generated programs draw no uuids")

    # ------------------------------------------------------------------ the run

    async def run(self) -> Outcome:
        """Call the workflow function and report how it ended."""
        self.mailbox = Mailbox(self.scenario.signals)
        self._arrive(0.0)
        flow = get_workflow(self.scenario.workflow_name)
        assert flow.fn is not None
        context = WorkflowContext("direct", flow.name, self)
        self.stuck = asyncio.get_running_loop().create_future()
        self._main = asyncio.current_task()
        token = STEP_EXECUTOR.set(self)
        try:
            body = self._body = asyncio.ensure_future(flow.fn(context, self.scenario.input))
        finally:
            STEP_EXECUTOR.reset(token)
        await asyncio.wait([body, self.stuck], return_when=asyncio.FIRST_COMPLETED)
        if self.stuck.done():
            body.cancel()
            await asyncio.gather(body, return_exceptions=True)
            return Outcome("waiting", [self.stuck.result()])
        try:
            result = body.result()
        except Exception as error:
            await self.compensate(error)
            return Outcome("failed", {"type": type(error).__name__, "message": str(error)})
        return Outcome("completed", result)


def run_direct(scenario: Scenario) -> tuple[Outcome, list[Call]]:
    """Run ``scenario`` directly (its module already imported); return the outcome and its log."""
    SCRIPT.use(scenario)
    outcome = asyncio.run(DirectRun(scenario).run())
    return outcome, list(SCRIPT.log)
