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
* signals are taken FIFO per name from an inbox filled phase by phase (see
  :mod:`tests.strategies`); a wait with nothing left to release times out (with
  a timeout) or leaves the run waiting forever (without one);
* ``ctx.sleep`` and backoffs only move the virtual clock.

What the steps and rollbacks do comes from :data:`SCRIPT`, which the generated
step functions also call when a worker runs them, so both executors see the same
behaviour and :attr:`Script.calls` records the same kind of trace.
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
from tests.strategies import Scenario

__all__ = ["SCRIPT", "DirectRun", "Outcome", "Script", "run_direct"]


@dataclass(frozen=True)
class Call:
    """One step attempt or rollback, as the script saw it.

    Attributes:
        kind: ``"step"`` or ``"rollback"``.
        step: The step's attribute name (``s0``...).
        value: The step's argument, or the output a rollback undoes.
        detail: The attempt number, or the error a rollback was given (type: message).
        key: The idempotency key of a step attempt under a worker (``None`` directly).
        branch: A step attempt made inside a ``parallel`` or map branch.
    """

    kind: str
    step: str
    value: Any
    detail: Any
    key: str | None = None
    branch: bool = False

    def plain(self) -> tuple[str, str, Any, Any]:
        """The call without the key (the direct executor has none)."""
        return (self.kind, self.step, self.value, self.detail)


class Script:
    """The scripted behaviour of the generated steps, and the record of what they did."""

    def __init__(self) -> None:
        self.scenario: Scenario | None = None
        self.calls: list[Call] = []
        self.stop: type[BaseException] | None = None
        """When set, any step or rollback raises it instead of acting (replay checks)."""

    def use(self, scenario: Scenario) -> None:
        """Script ``scenario``'s steps and forget earlier calls."""
        self.scenario = scenario
        self.calls = []
        self.stop = None

    def attempt(self, name: str, x: int, attempt: int, key: str | None, branch: bool) -> int:
        """One attempt of step ``name`` on ``x``: record it, then return or raise as scripted."""
        if self.stop is not None:
            raise self.stop(f"step {name} would run")
        assert self.scenario is not None, "no scenario scripted"
        self.calls.append(Call("step", name, x, attempt, key, branch))
        return self.scenario.plan(name).attempt(x, attempt)

    async def step(self, ctx: StepContext, name: str, x: int) -> int:
        """The body of a generated step function under a worker."""
        key = ctx.idempotency_key
        return self.attempt(name, x, ctx.attempt, key, "#" in key)

    async def rollback(self, name: str, error: BaseException, output: int) -> None:
        """The body of a generated rollback function."""
        if self.stop is not None:
            raise self.stop(f"rollback of {name} would run")
        assert self.scenario is not None, "no scenario scripted"
        self.calls.append(Call("rollback", name, output, f"{type(error).__name__}: {error}"))
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
    phases: deque[tuple[tuple[str, int], ...]] = field(default_factory=deque)
    _inflight: int = 0
    _entered: int = 0
    _failed: list[int] = field(default_factory=list)
    _sleepers: list[float] = field(default_factory=list)
    stuck: asyncio.Future[str] = field(init=False)
    _body: asyncio.Future[Any] | None = None

    # ------------------------------------------------------------------ steps

    async def call_step(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Attempt the step as scripted, retrying, and run the saga if it fails for good."""
        (x,) = args
        name = step.name.rpartition(".")[2]
        self._entered += 1
        entry = self._entered
        self._inflight += 1
        try:
            attempt = 1
            while True:
                try:
                    # Branches of ctx.parallel and asyncio.gather run as tasks of their own.
                    branch = asyncio.current_task() is not self._body
                    output = SCRIPT.attempt(name, x, attempt, None, branch)
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

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        while not self.inbox[name] and self.phases:
            self._release()
        if self.inbox[name]:
            return self.inbox[name].popleft()
        if timeout is None:
            # The durable run gives its worker back here for good and nothing after this
            # point happens there; so here the body blocks, and is then cancelled with every
            # step and wait refusing to act while `finally` blocks unwind it.
            SCRIPT.stop = _Stuck
            if not self.stuck.done():
                self.stuck.set_result(name)
                await asyncio.Future()
            raise _Stuck(name)
        self.clock += timeout
        raise SignalTimeout(name, timeout)

    async def parallel(self, branches: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
        return list(await asyncio.gather(*(branch() for branch in branches)))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock, UTC)

    def random(self) -> float:
        raise NotImplementedError("generated programs draw no random values")

    def uuid4(self) -> uuid.UUID:
        raise NotImplementedError("generated programs draw no uuids")

    def _release(self) -> None:
        for name, payload in self.phases.popleft():
            self.inbox[name].append(payload)

    # ------------------------------------------------------------------ the run

    async def run(self) -> Outcome:
        """Call the workflow function and report how it ended."""
        self.phases = deque(self.scenario.phases)
        if self.phases:
            self._release()
        flow = get_workflow(self.scenario.workflow_name)
        assert flow.fn is not None
        context = WorkflowContext("direct", flow.name, self)
        self.stuck = asyncio.get_running_loop().create_future()
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
    """Run ``scenario`` directly (its module already imported); return the outcome and calls."""
    SCRIPT.use(scenario)
    outcome = asyncio.run(DirectRun(scenario).run())
    return outcome, list(SCRIPT.calls)
