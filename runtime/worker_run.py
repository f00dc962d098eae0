"""One claimed run: replay its history through the walker, execute what is new, record it.

:class:`RunExecutor` is the walker's host (:class:`runtime.interpreter.Host`)
for one claim. It owns the clock, the store writes, step attempts and retries,
sagas, breakers and the decision to give the run back.

Commits
-------
Events are *recorded* into a pending batch with their sequence numbers known in
advance (seqs are contiguous per run) and *flushed* before anything with an
effect outside the worker happens: a step's ``step_started`` commits together
with the previous step's ``step_completed``, so a step costs one commit.
Rollback outcomes and signal consumptions commit at once.

Decisions (documented in the worker's docstring too)
----------------------------------------------------
* Retries: a delay up to ``inline_retry_max`` seconds is slept in-process,
  holding the lease; a longer one records ``step_retrying`` and gives the run
  back until ``retry_at`` (a durable backoff: no worker is held).
* An attempt cut short by a crash runs again under the same attempt number (it
  does not use up a retry; a run that keeps killing workers is caught by the
  poison-run limit instead). A rollback cut short by a crash runs again too,
  except when the run is failed as poison: a rollback the log shows begun
  (``rollback_started``) without an outcome is then recorded ``rollback_failed``
  and never run again (see :meth:`RunExecutor.fail_from_log`).
* A workflow without ``max_events`` is capped at the worker's
  ``default_max_events`` the same way (its trip says which cap it was).
* Breakers on resume: the ``max_events`` decision at a checkpoint is a pure
  function of the log. A checkpoint whose operation already has an event passed
  (see :meth:`RunExecutor._passed`); an attempt started again after a crash
  counts once; a trip the log holds is never recorded again: the run goes on
  compensating.
* ``ctx.now()`` is the time of the latest step, wait or signal result the walk
  has passed (the run's creation time before any): the log's time, so replay sees
  the same one. This claim knows the time of every event it wrote (each append
  returns its commit time); a result not yet committed gets its time when the
  body first asks, and is stored with it. ``ctx.random()``/``uuid4()`` are seeded
  by the run id.
* A signal waited inside a step parks the run as a body wait does: the attempt
  is abandoned at its wait and the run holds no worker; when the signal (or the
  wait's timeout) makes the run due, the step runs again from its start under
  the ``step_started`` it has (a re-run is not a new attempt), and the wait,
  recorded under ``<step key>/<name>/<n>``, returns the recorded payload.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from vrb_compile.ir.models import Graph

from ._interrupts import LoopInterrupts
from ._json_values import ensure_user_json
from ._resume import Completion as _Completion
from ._resume import backoff_of, join_saga, split_input
from ._run_state import RunSettings, RunState
from ._run_waits import RunWaits
from ._step_backend import StepBackend as _StepBackend
from .context import StepContext
from .errors import (
    ExecutionTimeout,
    MaxEventsExceeded,
    NondeterminismError,
    NonRetryableError,
    PayloadTooLarge,
    WorkflowFailed,
)
from .events import (
    CircuitBreakerTrippedPayload,
    ErrorInfo,
    Event,
    EventDraft,
    NotJSONError,
    Payload,
    RollbackCompletedPayload,
    RollbackFailedPayload,
    RollbackStartedPayload,
    RunCompletedPayload,
    RunFailedPayload,
    RunStartedPayload,
    StepCompletedPayload,
    StepFailedPayload,
    StepRetryingPayload,
    StepStartedPayload,
)
from .interpreter import (
    BodyFailed,
    Cancelled,
    ControlFlow,
    Diverged,
    Journal,
    StepCall,
    StepFailure,
    Suspend,
    Tripped,
    Walker,
)
from .replayed_errors import rebuild_error
from .sdk import Step, Workflow, get_step
from .stores.base import (
    CANCELLED_ERROR,
    CANCELLED_EVENT,
    Claim,
    LeaseLost,
    RunUpdate,
    Store,
)

__all__ = [
    "LeaseGone",
    "RunExecutor",
    "RunSettings",
    "RunState",
]

log = logging.getLogger("runtime.worker")


_ABANDONED = "BranchAbandoned"
"""The error type of a branch recorded failed because a sibling failed (no module: not a class)."""


class LeaseGone(ControlFlow):
    """The worker lost its lease on the run: stop at once, write nothing more."""


class RunExecutor(LoopInterrupts, RunWaits):
    """Executes one claimed run until it completes, fails, waits or is given back.

    Args:
        store: The store the run lives in.
        claim: The claim (run record and lease).
        graph: The graph version the run is pinned to.
        history: The run's events, read after the claim.
        flow: The registered workflow (for the class of a class-style body).
        settings: The worker's settings.
    """

    def __init__(
        self,
        store: Store,
        claim: Claim,
        graph: Graph,
        history: Sequence[Event],
        flow: Workflow,
        settings: RunSettings,
    ) -> None:
        self.store = store
        self.run = claim.run
        self.lease = claim.lease
        self.graph = graph
        self.flow = flow
        self.settings = settings
        self.run_id = claim.run.run_id
        self.workflow_name = claim.run.workflow_name
        self.journal = Journal.from_history(history)
        self.next_seq = (history[-1].seq if history else claim.run.last_seq) + 1
        self.pending: list[EventDraft] = []
        self.cancel_requested = claim.run.cancel_requested
        self.lost = False
        self._lock = asyncio.Lock()
        # Branches of one parallel/map node may wait for the same signal name: the
        # oldest unconsumed one goes to one of them, and is consumed before another looks.
        self._signals = asyncio.Lock()
        self._pin: str | None = graph.hash if claim.run.graph_hash is None else None
        self._completions: list[_Completion] = []
        self._rolled: set[str] = set()
        # The time of every event the walk can pass: read with the history, then
        # learnt from each append (its commit time, or the time a draft carries).
        self._times: dict[int, datetime] = {event.seq: event.at for event in history}
        self._last_at = max(self._times.values(), default=claim.run.created_at)
        self._position = 1
        self._restarts = self.journal.restarts
        self._steps: dict[str, Step] = {}
        # Step-level waits settled in this claim (the journal holds those of earlier ones).
        self._taken: dict[str, Any] = {}
        # The attempt each step invocation of this claim is at (a parked one included).
        self._attempts: dict[str, int] = {}
        self._timed_out: set[str] = set()
        self.instance: Any = flow.cls() if flow.cls is not None else None
        self.walker: Walker | None = None
        started = claim.run.started_at or claim.run.created_at
        limit = graph.workflow.execution_timeout
        self.deadline = None if limit is None else started + timedelta(seconds=limit)

    def snapshot(self) -> RunState:
        """The run's state as this executor has rebuilt it, for tests and diagnostics."""
        return RunState(
            next_seq=self.next_seq,
            position=self._position,
            now=self._time_at_position(),
            saga=tuple(
                (c.seq, c.key, c.step, c.output)
                for c in sorted(self._completions, key=lambda c: c.seq)
                if c.key not in self._rolled
            ),
            rolled=frozenset(self._rolled),
            cancel_requested=self.cancel_requested,
            walk=None if self.walker is None else self.walker.state(),
        )

    # ------------------------------------------------------------------ recording

    def record(self, payload: Payload, key: str | None = None) -> int:
        """Add an event to the pending batch; return the seq it will get."""
        self.pending.append(EventDraft(payload, key))
        seq = self.next_seq
        self.next_seq += 1
        return seq

    async def flush(
        self,
        *,
        status: Any = None,
        result: Any = None,
        error: ErrorInfo | None = None,
        wake_at: datetime | None = None,
        wait_signals: Sequence[str] = (),
        consume: Sequence[int] = (),
    ) -> None:
        """Commit the pending batch (and a status change) in one fenced append.

        A store that could not be reached raises a store error that is also a
        :class:`ConnectionError` (the append may or may not have committed, and
        repeating it is safe). The lease may still be ours then: the run is kept
        and the same append asked again, with pauses growing to a second, until
        the store answers: the append lands, or :class:`LeaseLost` says the lease
        is gone. A stopping worker stops asking once the lease has lapsed. Any
        other store error stops the run: the lease lapses and another claim
        resumes it from what was committed.
        """
        async with self._lock:
            if self.lost:
                raise LeaseGone("lease lost")
            if not self.pending and status is None and not consume and self._pin is None:
                return
            batch = self.pending
            self.pending = []
            update = RunUpdate(
                status=status,
                result=result,
                error=error,
                wake_at=wake_at,
                wait_signals=tuple(wait_signals),
                graph_hash=self._pin,
            )
            failures = 0
            pause = 0.05
            while True:
                try:
                    if failures:
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, 1.0)
                    sent = self.settings.clock.local()
                    outcome = await self.store.append(
                        self.lease, batch, update=update, consume_signals=consume
                    )
                    break
                except LeaseLost as lost:
                    self.lost = True
                    log.warning("%s", lost)
                    raise LeaseGone(str(lost)) from None
                except ConnectionError as error:
                    # Giving the run up would run the steps this batch completes again.
                    failures += 1
                    if self.settings.stopping() and self.settings.clock() >= self.lease.expires_at:
                        self.lost = True  # and a later claim resumes the run
                        log.error(
                            "run %s: stopping with the store unreachable: %s", self.run_id, error
                        )
                        raise LeaseGone(str(error)) from error
                    if failures == 1:
                        log.warning("run %s: store unreachable, retrying: %s", self.run_id, error)
                except Exception as error:
                    # A store failure is not the workflow's: stop executing (the lease
                    # lapses and another claim resumes the run from what was committed).
                    self.lost = True
                    log.error("run %s: the store refused an append: %s", self.run_id, error)
                    raise LeaseGone(str(error)) from error
                except BaseException:
                    self.lost = True
                    raise
            if failures:
                log.info("run %s: the append went through after %d failures", self.run_id, failures)
            self.settings.clock.observe(outcome.at, sent, self.settings.clock.local())
            self._pin = None
            first = outcome.last_seq - len(batch) + 1
            for seq, draft in enumerate(batch, start=first):
                self._times[seq] = outcome.at if draft.at is None else draft.at
            self._last_at = max(self._last_at, outcome.at)
            if outcome.lease is not None:
                self.lease = outcome.lease
            self.cancel_requested = self.cancel_requested or outcome.cancel_requested

    async def heartbeat(self) -> None:
        """Renew the lease (the worker calls this periodically while the run executes).

        Raises:
            StoreError: The store could not be reached; the lease may still be held.
        """
        async with self._lock:
            if self.lost:
                return
            try:
                renewal = await self.store.renew_lease(self.lease)
            except LeaseLost as lost:
                self.lost = True
                log.warning("%s", lost)
                return
            self.lease = renewal.lease
            self.cancel_requested = self.cancel_requested or renewal.cancel_requested

    # ------------------------------------------------------------------ the run

    async def execute(self) -> str:
        """Walk the run; return what became of it (for logs and tests)."""
        if not any(event.type == "run_started" for event in self.journal.events):
            self.record(
                RunStartedPayload(worker_id=self.settings.worker_id, graph_hash=self.graph.hash)
            )
        args, kwargs = split_input(self.run.input)
        walker = self.walker = Walker(
            self.graph,
            self,
            self.journal,
            module=self.graph.source.module,
            args=args,
            kwargs=kwargs,
            instance=self.instance,
        )
        try:
            try:
                result = await walker.run()
                ensure_user_json(
                    result,
                    f"result of workflow {self.workflow_name!r}",
                    max_bytes=self.settings.max_payload_bytes,
                )
            except (NotJSONError, PayloadTooLarge) as error:
                raise BodyFailed(error) from None
        except LeaseGone:
            return "lease lost"
        except Suspend as suspend:
            return await self._suspend(suspend)
        except Cancelled:
            return await self._cancel()
        except Tripped as tripped:
            return await self._trip(tripped)
        except BodyFailed as failed:
            return await self._fail(failed.error)
        except Diverged as diverged:
            return await self.park(diverged.error)
        self.record(RunCompletedPayload(result=result))
        return await self._end("completed", result=result)

    async def _end(self, status: str, *, result: Any = None, error: ErrorInfo | None = None) -> str:
        try:
            await self.flush(status=status, result=result, error=error)
        except LeaseGone:
            return "lease lost"
        return status

    async def _suspend(self, suspend: Suspend) -> str:
        for draft in suspend.events:
            self.pending.append(draft)
            self.next_seq += 1
        wake_at = suspend.wake_at
        if self.deadline is not None and (wake_at is None or wake_at > self.deadline):
            wake_at = self.deadline
        try:
            await self.flush(status="waiting", wake_at=wake_at, wait_signals=suspend.signals)
        except LeaseGone:
            return "lease lost"
        return "waiting"

    async def _cancel(self) -> str:
        error = WorkflowFailed(
            self.run_id, "cancelled", {"type": "Cancelled", "message": "cancellation requested"}
        )
        try:
            await self.compensate(error)
        except LeaseGone:
            return "lease lost"
        # The same event and error request_cancel writes for a run that never started.
        self.record(CANCELLED_EVENT.payload)
        return await self._end("cancelled", error=CANCELLED_ERROR)

    async def _trip(self, tripped: Tripped) -> str:
        error: BaseException
        if tripped.breaker == "max_events":
            default = self.graph.workflow.max_events is None
            error = MaxEventsExceeded(int(tripped.limit), default=default)
        else:
            error = ExecutionTimeout(tripped.limit)
        if self.journal.tripped is None:
            self.record(CircuitBreakerTrippedPayload(breaker=tripped.breaker, limit=tripped.limit))
        return await self._fail(error)

    async def _fail(self, error: BaseException) -> str:
        try:
            await self.compensate(error)
        except LeaseGone:
            return "lease lost"
        # A run's error is what users read ({"type", "message"}): nothing replays it.
        info = ErrorInfo.from_exception(error, detail=False)
        self.record(RunFailedPayload(error=info))
        return await self._end("failed", error=info)

    async def fail_from_log(self, info: ErrorInfo) -> str:
        """End the run failed without walking it, compensating every step the log completed.

        The worker uses this for a poison run. Rollbacks run in reverse
        completion order, the log's recorded outcomes skipped. A rollback the log
        shows begun without an outcome was running when a worker died: it is not
        run again but recorded ``rollback_failed`` (``RollbackInterrupted``) and
        named in the run's error, for a rollback that kills its worker would
        otherwise be retried by every takeover and the run would never end. A
        rollback that never began runs.

        Args:
            info: The run's error.
        """
        for key, record in self.journal.steps.items():
            if record.outcome == "completed":
                self._completions.append(
                    _Completion(record.result_seq, key, record.step, record.output)
                )
        interrupted = [
            completion
            for completion in sorted(self._completions, key=lambda c: c.seq, reverse=True)
            if completion.key in self.journal.rollbacks_started
            and completion.key not in self.journal.rolled_back
        ]
        for completion in interrupted:
            self._rolled.add(completion.key)
            reason = (
                f"the rollback of step {completion.step!r} was running when a worker died, "
                "and is not run again; check by hand whether the step's effect was undone"
            )
            self.record(
                RollbackFailedPayload(
                    step=completion.step,
                    error=ErrorInfo(type="RollbackInterrupted", message=reason),
                ),
                completion.key,
            )
            info = info.model_copy(update={"message": f"{info.message}; {reason}"})
        return await self._fail(rebuild_error(info))

    async def park(self, error: NondeterminismError, *, retry_in: float = 300.0) -> str:
        """Give a run back that this worker must not advance, due again in ``retry_in`` s.

        A parked run stays ``waiting``: nothing it recorded is touched, and a
        worker with the right graph version can finish it later.
        """
        log.error("%s", error)
        self.pending.clear()
        wake_at = self.settings.clock() + timedelta(seconds=retry_in)
        try:
            await self.flush(status="waiting", wake_at=wake_at)
        except LeaseGone:
            return "lease lost"
        return "parked"

    # ------------------------------------------------------------------ host: checks

    def _settled(self, key: str) -> bool:
        record = self.journal.steps.get(key)
        if record is not None and record.outcome in ("completed", "failed"):
            return True
        return key in self.journal.waits_completed or key in self.journal.consumed

    async def checkpoint(self, keys: Sequence[str]) -> None:
        """Stop here if the run must stop; replayed operations are never stopped.

        A run stopping at a ``parallel``/map node some of whose branches completed
        (in an earlier claim) compensates those branches too: they join the saga here.
        """
        if keys and all(self._settled(key) for key in keys):
            return
        if self.lost:
            raise LeaseGone("lease lost")
        tripped = self.journal.tripped
        if tripped is not None:
            # A breaker tripped here before the worker that recorded it died: the walk
            # stops where it did, and the run goes on compensating.
            self._join_saga(keys)
            raise Tripped(tripped.payload.breaker, tripped.payload.limit)
        if self.cancel_requested:
            self._join_saga(keys)
            raise Cancelled("cancel")
        limit = self.graph.workflow.max_events or self.settings.default_max_events
        if limit is not None and self._event_count() >= limit and not self._passed(keys):
            self._join_saga(keys)
            raise Tripped("max_events", limit)
        if self.deadline is not None and self.settings.clock() >= self.deadline:
            self._join_saga(keys)
            raise Tripped("execution_timeout", self.graph.workflow.execution_timeout or 0.0)
        if self.settings.stopping():
            # The worker is shutting down: give the run back, due at once.
            raise Suspend([], self.settings.clock())

    def _event_count(self) -> int:
        """The events ``max_events`` counts: an attempt started again after a crash is one."""
        return self.next_seq - 1 - self._restarts

    def _passed(self, keys: Sequence[str]) -> bool:
        """A claim before this one got past this checkpoint: the log holds an event of ``keys``.

        The ``max_events`` decision is then the one that claim made (go on),
        read from the log, not made again with the events added since: every
        operation records an event before it acts, so a claim that passed the
        checkpoint and acted left one, and a claim that left none did nothing
        that a new decision could contradict.
        """
        return any(self.journal.mentions(key) for key in keys)

    def _join_saga(self, keys: Sequence[str]) -> None:
        """See :func:`runtime._resume.join_saga`."""
        join_saga(self.journal, self._completions, keys)

    # ------------------------------------------------------------------ host: steps

    def _step(self, name: str) -> Step:
        found = self._steps.get(name)
        if found is None:
            found = get_step(name)
            cls = self.flow.cls
            if cls is not None and any(value is found for value in vars(cls).values()):
                # A class-style step is a method: bind it to the run's instance.
                found = found.__get__(self.instance, cls)
            self._steps[name] = found
        return found

    def _advance(self, seq: int) -> None:
        self._position = max(self._position, seq)

    async def run_step(self, call: StepCall) -> Any:
        """See :meth:`Host.run_step`."""
        record = self.journal.steps.get(call.key)
        if record is not None and record.outcome == "completed":
            self._advance(record.result_seq)
            self._completions.append(
                _Completion(record.result_seq, call.key, call.step, record.output)
            )
            return record.output
        if record is not None and record.outcome == "failed":
            self._advance(record.result_seq)
            assert record.error is not None
            raise StepFailure(call.step, rebuild_error(record.error))
        ref = self.graph.step_ref(call.step)
        step = self._step(call.step)
        backoff = step.backoff if ref.backoff is None else backoff_of(ref.backoff)
        attempt = 1
        # An attempt abandoned at a signal wait inside it runs again under its own start.
        resumed = record is not None and record.outcome is None and self.journal.parked(call.key)
        if record is not None:
            attempt = record.last_attempt
            if record.outcome is None and not resumed:
                # The attempt in flight when its worker died starts again: counted once.
                self._restarts += 1
            if record.outcome == "retrying":
                attempt += 1
                assert record.retry_at is not None
                await self._wait_retry(record.retry_at)
        while True:
            if not resumed:
                self.record(StepStartedPayload(step=call.step, attempt=attempt), call.key)
            resumed = False
            self._attempts[call.key] = attempt
            await self.flush()
            try:
                output = await self._attempt(step, call, attempt, ref.timeout)
                ensure_user_json(
                    output,
                    f"output of step {call.step!r}",
                    max_bytes=self.settings.max_payload_bytes,
                )
            except (ControlFlow, asyncio.CancelledError):
                raise
            except Exception as error:
                info = ErrorInfo.from_exception(error)
                refused = NonRetryableError | NotJSONError | PayloadTooLarge
                final = isinstance(error, refused) or attempt > ref.retries
                if final:
                    seq = self.record(
                        StepFailedPayload(step=call.step, attempt=attempt, error=info), call.key
                    )
                    self._advance(seq)
                    raise StepFailure(call.step, error) from None
                retry_at = self.settings.clock() + timedelta(seconds=backoff.delay(attempt))
                self.record(
                    StepRetryingPayload(
                        step=call.step, attempt=attempt, error=info, retry_at=retry_at
                    ),
                    call.key,
                )
                attempt += 1
                # A sync attempt that timed out may still run in its thread, and a durable
                # backoff hands the run to any worker: it returns first.
                await step.previous_attempt_returned(
                    f"{self.run_id}:{call.key}",
                    attempt,
                    deadline=self.deadline,
                    clock=self.settings.clock,
                )
                await self._wait_retry(retry_at, flush=True)
                continue
            seq = self.record(
                StepCompletedPayload(step=call.step, output=output, attempt=attempt), call.key
            )
            self._advance(seq)
            self._completions.append(_Completion(seq, call.key, call.step, output))
            return output

    async def _wait_retry(self, retry_at: datetime, *, flush: bool = False) -> None:
        remaining = (retry_at - self.settings.clock()).total_seconds()
        if remaining <= 0:
            return
        if remaining > self.settings.inline_retry_max:
            raise Suspend([], retry_at)
        if flush:
            await self.flush()
        await asyncio.sleep(remaining)

    async def _attempt(
        self, step: Step, call: StepCall, attempt: int, timeout: float | None
    ) -> Any:
        # A sync attempt of this call that timed out may still run in its thread: it
        # returns before this attempt starts, and before this attempt's timeout counts.
        await step.previous_attempt_returned(
            f"{self.run_id}:{call.key}", attempt, deadline=self.deadline, clock=self.settings.clock
        )
        limit = timeout
        by_breaker = False
        if self.deadline is not None:
            remaining = max(0.0, (self.deadline - self.settings.clock()).total_seconds())
            if limit is None or remaining < limit:
                limit, by_breaker = remaining, True
        # The event key is unique only within the run ("n1" in every run): an
        # external service deduplicating on it would merge two runs' requests.
        context = StepContext(
            self.run_id,
            call.step,
            attempt,
            f"{self.run_id}:{call.key}",
            _StepBackend(call.key, self.step_signal, self.settings.clock),
        )
        try:
            async with asyncio.timeout(limit) as scope:
                return await step.invoke(call.args, call.kwargs, context)
        except TimeoutError:
            if not scope.expired():
                raise
            if by_breaker:
                raise Tripped(
                    "execution_timeout", self.graph.workflow.execution_timeout or 0.0
                ) from None
            # The builtin type, so run errors and rebuilt causes read "TimeoutError".
            raise TimeoutError(
                f"step {call.step!r} attempt {attempt} timed out after {timeout:g}s"
            ) from None

    async def run_parallel(self, calls: Sequence[StepCall]) -> list[Any]:
        """See :meth:`Host.run_parallel`: every branch runs to its end before failures count."""
        outcomes = await asyncio.gather(
            *(self.run_step(call) for call in calls), return_exceptions=True
        )
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for error in errors:
            if not isinstance(error, Exception | ControlFlow):
                raise error  # the process is going down (cancellation, exit)
        for kind in (LeaseGone, Diverged, Tripped, Cancelled):
            for error in errors:
                if isinstance(error, kind):
                    raise error
        suspends = [error for error in errors if isinstance(error, Suspend)]
        # In branch order, a branch abandoned in an earlier claim after the failure that
        # abandoned it: the node raises that failure, as the live run did.
        failed = [(c, o) for c, o in zip(calls, outcomes, strict=True) if isinstance(o, Exception)]
        failures = [o for c, o in sorted(failed, key=lambda pair: self._abandoned(pair[0].key))]
        if failures and suspends:
            # A branch failed for good while others wait for a signal that may never
            # come: the node fails now, and each waiting branch is settled failed so a
            # replay sees the same (a branch in a retry backoff still runs to its end).
            for call, outcome in zip(calls, outcomes, strict=True):
                if isinstance(outcome, Suspend) and outcome.signals:
                    self._abandon(call, failures[0])
            suspends = [s for s in suspends if not s.signals]
        if suspends:
            raise Suspend.merge(suspends)
        if failures:
            raise failures[0]
        return list(outcomes)

    def _abandoned(self, key: str) -> bool:
        """The log records the branch ``key`` failed only because a sibling did."""
        record = self.journal.steps.get(key)
        return record is not None and record.error is not None and record.error.type == _ABANDONED

    def _abandon(self, call: StepCall, failure: Exception) -> None:
        """Record a branch parked at a signal wait failed: a sibling failed for good."""
        sibling = failure.step if isinstance(failure, StepFailure) else type(failure).__name__
        error = ErrorInfo(
            type=_ABANDONED,
            message=(
                f"step {call.step!r} was waiting for a signal when its sibling {sibling!r} "
                "failed for good; the parallel node failed without it"
            ),
        )
        attempt = self._attempts.get(call.key, 1)
        self._advance(
            self.record(StepFailedPayload(step=call.step, attempt=attempt, error=error), call.key)
        )

    # ------------------------------------------------------------------ host: sagas

    async def compensate(self, error: BaseException) -> list[str]:
        """See :meth:`Host.compensate`: reverse completion order, each outcome committed."""
        done: list[str] = []
        for completion in sorted(self._completions, key=lambda c: c.seq, reverse=True):
            if completion.key in self._rolled:
                continue
            step = self._step(completion.step)
            if step.rollback_fn is None:
                continue
            self._rolled.add(completion.key)
            recorded = self.journal.rolled_back.get(completion.key)
            if recorded is not None:
                if recorded == "rollback_completed":
                    done.append(completion.step)
                continue
            # What led here (the step's failure) and the rollback's start are durable
            # before it acts: a crash from here on leaves a start without an outcome.
            self.record(RollbackStartedPayload(step=completion.step), completion.key)
            await self.flush()
            try:
                output = step.rollback_fn(error, completion.output)
                if inspect.isawaitable(output):
                    output = await output
            except Exception as failure:
                log.warning(
                    "rollback of step %r in run %s failed: %s",
                    completion.step,
                    self.run_id,
                    failure,
                )
                self.record(
                    RollbackFailedPayload(
                        step=completion.step, error=ErrorInfo.from_exception(failure)
                    ),
                    completion.key,
                )
            else:
                try:
                    ensure_user_json(
                        output, "rollback output", max_bytes=self.settings.max_payload_bytes
                    )
                except (NotJSONError, PayloadTooLarge):
                    output = None
                self.record(
                    RollbackCompletedPayload(step=completion.step, output=output), completion.key
                )
                done.append(completion.step)
            await self.flush()
        return done
