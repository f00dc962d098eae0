"""The worker: claim -> replay -> execute -> append, with leases, heartbeats and shutdown.

A :class:`Worker` serves registered workflows: it claims due runs from the
store (up to ``max_concurrency`` at once), rebuilds each from its history, and
walks it until it completes, fails, or must wait (a sleep, a signal, a long
retry backoff), at which point the run is given back to the store and holds no
worker. Every claim is fenced by a lease that heartbeats renew; a worker that
dies leaves a lease that lapses, and another worker takes the run over and
resumes it by replay.

Decisions
---------
* **Pinning**: a run is pinned to a graph version by its first claim (the
  ``run_started`` event and the run's ``graph_hash``), not by ``trigger``, so a
  client needs no graphs. A worker lacking a run's version gives it back (due
  again after ``retry_delay``) and logs why, once per run.
* **Non-determinism**: a walk that diverges from the history *parks* the run:
  it stays ``waiting`` with nothing changed, due again after ``park_interval``
  (so a worker with the right version can finish it), and the worker logs the
  :class:`~runtime.NondeterminismError` at ERROR level.
* **Quarantine**: a worker that dies takes down every run it was executing, and
  only one of them may be to blame. So a run taken over
  :data:`QUARANTINE_AFTER` times is next executed *alone*: only by a worker with
  nothing else in flight, which claims nothing else until it is done (and so
  from then on: each later claim of it, resumed or recovered), and marks
  the execution quarantined in the store (:meth:`~runtime.stores.Store.quarantine`),
  so the death of that worker is counted against that run
  (:attr:`~runtime.stores.RunRecord.quarantine_deaths`). A busy worker that
  claims such a run gives it back at once, due before every run that became due
  since (so the next worker with a free slot takes it), and claims nothing new
  until its own runs end or another worker took that run: runs that keep every
  worker busy cannot starve it.
* **Poison runs**: a run whose worker died more than ``max_recoveries`` times
  while executing it alone ends ``failed`` with a ``PoisonRun`` error, after
  compensation, instead of crash-looping every worker in turn. Deaths of a
  worker it shared with other runs are not counted: a healthy run that shared
  workers with a poison run is never failed as poison. Its body is not
  walked again. Its outstanding rollbacks run once more, except one the log
  shows begun (``rollback_started``) without an outcome, which a worker died in:
  that one is recorded ``rollback_failed`` (``RollbackInterrupted``) without
  running, named in the run's error; the others run and the run ends. As with DBOS's
  ``max_recovery_attempts``, the limit bounds how often user code can kill a
  worker; rather than a dead-letter state, the run ends ``failed`` with the
  rollback it did not finish on record, for an operator to check by hand.
* **Retries**: delays up to ``inline_retry_max`` seconds are slept in-process;
  longer ones give the run back until the retry time.
* **A cap for every run**: a workflow without ``max_events`` is stopped at
  ``default_max_events`` events (:data:`DEFAULT_MAX_EVENTS`, 50,000), as
  ``max_events`` would stop it: compensated, then ``failed`` with
  :class:`~runtime.errors.MaxEventsExceeded` saying how to raise the cap. A
  loop that never ends (``while True: await ctx.sleep("1s")``) grew the store
  without bound, about 0.45 MB a second for one with no step, with nothing but
  a cancel to stop it. Temporal's own cap is 51,200 events; like it, the cap is
  the worker's safety net, and ``max_events`` on the workflow (checked by
  ``vrb-compile``, VRB305) is the deliberate choice. ``None`` removes it.
* **Values' size**: a step output, a rollback output or a result larger than
  the store's ``max_payload_bytes`` is refused as a value that is not JSON is
  (the step fails for good, the run fails), before anything is written.
* **Shutdown**: :meth:`Worker.stop` (and SIGTERM under :meth:`Worker.run_forever`)
  stops claiming, lets in-flight steps finish, and gives each run back at its
  next checkpoint, due at once for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ._codec_store import CodecStore
from ._store_clock import StoreClock
from ._worker_options import check_worker_count, check_worker_seconds
from .codec import PayloadCodec
from .errors import CodecError, ConfigurationError
from .events import ErrorInfo, EventDraft, RunCancelledPayload, StepCompletedEvent
from .graphs import GraphKey, GraphLibrary
from .sdk import get_workflow
from .stores.base import Claim, LeaseLost, RunUpdate, Store
from .worker_run import RunExecutor, RunSettings

if TYPE_CHECKING:
    from .client import Client

__all__ = ["DEFAULT_MAX_EVENTS", "QUARANTINE_AFTER", "Worker"]

QUARANTINE_AFTER = 2
"""Takeovers after which a run is executed alone (quarantined): one death may be bad luck."""

DEFAULT_MAX_EVENTS = 50_000
"""The events a run of a workflow without ``max_events`` may record (see the module docstring).

About 10 MB of log at a typical 200 bytes an event, all of it read back at every
claim; Temporal ends a workflow at 51,200 events.
"""

log = logging.getLogger("runtime.worker")

_heap_frozen = False


def _freeze_startup_heap() -> None:
    # What is alive once a worker has loaded its graphs (imported modules,
    # compiled graphs) lives as long as the process. Left in the collector's
    # generations it is rescanned by every full collection, and decoding a long
    # history allocates enough to trigger many: freezing it made resuming a
    # 10,000-event run about 1.45x cheaper in CPU (process time of a fresh worker
    # resuming benchmarks/runtime_flows.py's bench-replay run).
    # Once per process; cyclic garbage is collected first so none is frozen.
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


def _now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """Runs workflows durably from a store.

    Args:
        client: The :class:`~runtime.Client` whose store the worker serves.
        graphs: A ``vrb-compile build`` output directory; ``None`` compiles the
            registered workflows in-process (development); or a prepared
            :class:`~runtime.graphs.GraphLibrary`.
        poll_interval: Seconds between polls for due runs when idle.
        max_concurrency: Runs executed at once.
        heartbeat_interval: Seconds between lease renewals of an executing run
            (at most a third of ``lease_timeout``, so a live lease never lapses).
        retry_delay: Seconds before a run this worker cannot serve (its graph
            version is missing) is due again.
        lease_timeout: Seconds a claim lasts without renewal.
        worker_id: This worker's id in leases and events (default: random).
        max_recoveries: Deaths of a worker executing the run alone (quarantined)
            that a run may cause; the next takeover fails it as poison.
        inline_retry_max: Longest retry delay slept in-process, in seconds.
        park_interval: Seconds before a parked (diverged) run is due again.
        cancel_grace: Seconds a cancelled run pinned to a graph version this
            worker lacks is left to workers that have it before this one ends it
            ``cancelled`` without compensation (default: two leases, by which a
            live worker would have taken it).
        graph_key: The key every file of ``graphs`` must be signed with (see
            :class:`~runtime.graphs.GraphLibrary`; default ``VRB_GRAPH_KEY``).
        codec: The payload codec that decodes and encodes the runs' values
            (:mod:`runtime.codec`); default: the client's. Without one, a run
            holding encoded values is left untouched for a worker that has it.
        default_max_events: The events a run of a workflow without
            ``max_events`` may record before it is stopped, compensated and
            failed with :class:`~runtime.errors.MaxEventsExceeded`
            (:data:`DEFAULT_MAX_EVENTS`); ``None`` for no cap.

    Raises:
        ConfigurationError: An option is out of range. Durations and counts have
            one range each, the same as ``vrb worker``'s (``lease_timeout`` 0.1 s
            to 1 day, ``poll_interval`` 0.01 s to 1 hour, ``max_concurrency`` 1
            to 10,000...; each refusal names it; see :mod:`runtime._worker_options`).
    """

    def __init__(
        self,
        client: Client,
        graphs: str | os.PathLike[str] | GraphLibrary | None = None,
        poll_interval: float = 1.0,
        max_concurrency: int = 5,
        heartbeat_interval: float = 30,
        retry_delay: float = 5,
        lease_timeout: float = 30,
        *,
        worker_id: str | None = None,
        max_recoveries: int = 5,
        inline_retry_max: float = 1.0,
        park_interval: float = 300.0,
        cancel_grace: float | None = None,
        graph_key: GraphKey | str | bytes | None = None,
        codec: PayloadCodec | None = None,
        clock: Callable[[], datetime] = _now,
        default_max_events: int | None = DEFAULT_MAX_EVENTS,
    ) -> None:
        # Every duration and count in its range (runtime._worker_options: why each).
        poll_interval = check_worker_seconds("poll_interval", poll_interval)
        heartbeat_interval = check_worker_seconds("heartbeat_interval", heartbeat_interval)
        retry_delay = check_worker_seconds("retry_delay", retry_delay)
        lease_timeout = check_worker_seconds("lease_timeout", lease_timeout)
        inline_retry_max = check_worker_seconds("inline_retry_max", inline_retry_max)
        park_interval = check_worker_seconds("park_interval", park_interval)
        if cancel_grace is not None:
            cancel_grace = check_worker_seconds("cancel_grace", cancel_grace)
        max_concurrency = check_worker_count("max_concurrency", max_concurrency)
        max_recoveries = check_worker_count("max_recoveries", max_recoveries)
        if default_max_events is not None and (
            isinstance(default_max_events, bool)
            or not isinstance(default_max_events, int)
            or default_max_events < 1
        ):
            raise ConfigurationError(
                f"Worker default_max_events must be None or a positive int, "
                f"got {default_max_events!r}"
            )
        self.client = client
        self.codec = client.codec if codec is None else codec
        """The payload codec of the runs' values (the client's unless one was given)."""
        # Through the codec, or a guard that refuses encoded values without one.
        self._store: Store = CodecStore(
            client._raw_store, self.codec, decline_delay=float(retry_delay)
        )
        self.library = (
            graphs if isinstance(graphs, GraphLibrary) else GraphLibrary(graphs, key=graph_key)
        )
        self.poll_interval = float(poll_interval)
        self.max_concurrency = max_concurrency
        self.heartbeat_interval = float(heartbeat_interval)
        self.retry_delay = float(retry_delay)
        self.lease_timeout = float(lease_timeout)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.max_recoveries = max_recoveries
        self.park_interval = park_interval
        self.cancel_grace = 2 * self.lease_timeout if cancel_grace is None else cancel_grace
        self.clock = StoreClock(clock)
        """The store's time, read off ``clock`` (see :class:`runtime._store_clock.StoreClock`)."""
        self.settings = RunSettings(
            worker_id=self.worker_id,
            inline_retry_max=inline_retry_max,
            clock=self.clock,
            stopping=lambda: self._stopping,
            retry_delay=self.retry_delay,
            default_max_events=default_max_events,
            max_payload_bytes=getattr(
                getattr(client._raw_store, "limits", None), "max_payload_bytes", None
            ),
        )
        self._stopping = False
        self._stopped = asyncio.Event()
        # Set when a run's task ends: a worker at max_concurrency claims again at
        # once instead of sleeping out its poll interval while runs are due.
        self._slot_freed = asyncio.Event()
        self._active: dict[str, asyncio.Task[str]] = {}
        # Runs this worker leaves to the others until a time (its clock): cancelled
        # runs pinned to a graph version it lacks, due at once for a worker that has it.
        self._passed_over: dict[str, datetime] = {}
        # When this worker first declined each such run (see _decline_cancelled).
        self._cancel_declined: dict[str, datetime] = {}
        # The run this worker executes alone (quarantined): it claims nothing else meanwhile.
        self._quarantined: str | None = None
        # A run waiting for quarantine that this worker gave back while busy: it
        # claims nothing new until its runs end (then it takes it) or another took it.
        self._awaited: str | None = None
        self._names: list[str] = []
        self._declined: set[tuple[str, str]] = set()
        self.outcomes: list[tuple[str, str]] = []
        """``(run_id, outcome)`` of every execution, oldest first (for logs and tests)."""

    @property
    def store(self) -> Store:
        """The store the worker serves, through its codec (see :mod:`runtime._codec_store`)."""
        return self._store

    async def start(self, *names: str) -> None:
        """Serve the workflows ``names`` (all registered when none) until :meth:`stop`.

        Raises:
            ConfigurationError: A workflow is unknown or its graph cannot be used.
        """
        self._names = self.library.load(names)
        _freeze_startup_heap()
        log.info(
            "worker %s serving %s (graphs ready in %.2f s)",
            self.worker_id,
            ", ".join(self._names),
            self.library.load_seconds,
        )
        try:
            while not self._stopping:
                self._slot_freed.clear()
                free = self.max_concurrency - len(self._active)
                claims: list[Claim] = []
                if free > 0 and self._quarantined is None and not await self._awaiting():
                    try:
                        claims = await self._triage(await self._claim(free))
                    except Exception as error:  # a busy or unreachable store: retry later
                        log.error("worker %s could not claim runs: %s", self.worker_id, error)
                for claim in claims:
                    task = asyncio.create_task(self._serve(claim))
                    self._active[claim.run.run_id] = task
                    task.add_done_callback(self._forget(claim.run.run_id))
                if not claims:
                    wakers = {
                        asyncio.create_task(self.store.wait_for_work(self.poll_interval)),
                        asyncio.create_task(self._stopped.wait()),
                        asyncio.create_task(self._slot_freed.wait()),
                    }
                    await asyncio.wait(wakers, return_when=asyncio.FIRST_COMPLETED)
                    for waker in wakers:
                        waker.cancel()
        finally:
            self._stopping = True
            if self._active:
                await asyncio.gather(*self._active.values(), return_exceptions=True)
            # Reset here, not on entry: a stop() that comes before this start()
            # begins (its task created, not yet run) must not be forgotten.
            self._stopping = False
            self._stopped.clear()

    def _forget(self, run_id: str) -> Callable[[asyncio.Task[str]], None]:
        def forget(task: asyncio.Task[str]) -> None:
            if self._active.get(run_id) is task:
                del self._active[run_id]
                if self._quarantined == run_id:
                    self._quarantined = None
                self._slot_freed.set()

        return forget

    async def stop(self) -> None:
        """Stop claiming; in-flight steps finish and their runs are given back at the next checkpoint.

        A stop requested before :meth:`start` begins makes that start return at once.
        """
        self._stopping = True
        self._stopped.set()
        if self._active:
            await asyncio.gather(*list(self._active.values()), return_exceptions=True)

    async def run_forever(self, *names: str) -> None:
        """:meth:`start`, stopping gracefully on SIGTERM or SIGINT (a process's main worker)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(self.stop()))
        try:
            await self.start(*names)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    async def run_until_idle(self, *names: str, timeout: float = 30.0) -> None:
        """Serve until no run is due, none is executing and none will be due by time soon.

        For tests and scripts: it returns once a poll finds nothing to do.

        Raises:
            TimeoutError: Work was still going on after ``timeout`` seconds.
        """
        self._names = self.library.load(names)
        _freeze_startup_heap()
        async with asyncio.timeout(timeout):
            while True:
                claims = await self._triage(await self._claim(self.max_concurrency))
                if not claims:
                    return
                try:
                    await asyncio.gather(*(self._serve(claim) for claim in claims))
                finally:
                    self._quarantined = None

    def _suspect(self, claim: Claim) -> bool:
        """Whether ``claim`` is of a run to execute alone (see the module's Quarantine)."""
        return (
            # "resumed" too: a run given back to wait for quarantine comes back so, and
            # once a run has been taken over that often it keeps running alone.
            claim.reason != "new" and claim.run.recoveries >= QUARANTINE_AFTER
        )

    async def _triage(self, claims: list[Claim]) -> list[Claim]:
        """The claims to execute; the others are given back, due at once.

        A run to quarantine is kept only by a worker with nothing in flight, and
        then alone. Given back, it is due at its creation time, before the runs that
        became due since, so the next claim (this worker's once idle, or another's)
        takes it.
        """
        suspects = [claim for claim in claims if self._suspect(claim)]
        if not suspects:
            return claims
        kept = None if self._active else suspects[0]
        if kept is None:
            self._awaited = suspects[0].run.run_id
        else:
            self._quarantined = kept.run.run_id
        served: list[Claim] = []
        for claim in claims:
            if claim is kept or (kept is None and claim not in suspects):
                served.append(claim)
                continue
            wake_at = claim.run.created_at if claim in suspects else None
            try:
                await self.store.release(claim.lease, wake_at=wake_at)
            except Exception as error:  # its lease lapses and another worker takes it
                log.warning("run %s: could not give it back: %s", claim.run.run_id, error)
        if kept is not None:
            log.info(
                "run %s was taken over %d times: executing it alone (quarantined)",
                kept.run.run_id,
                kept.run.recoveries,
            )
        return served

    async def _awaiting(self) -> bool:
        """Whether this worker holds back from claiming for a run waiting for quarantine."""
        if self._awaited is None:
            return False
        if not self._active:
            self._awaited = None  # idle now: the next claim takes it, if still due
            return False
        try:
            run = await self.store.get_run(self._awaited)
        except Exception:  # gone, or the store is unreachable: claim as usual
            self._awaited = None
            return False
        if run.status != "waiting":
            self._awaited = None  # another worker took it (or it ended)
        return self._awaited is not None

    async def _claim(self, limit: int) -> list[Claim]:
        sent = self.clock.local()
        for run_id, until in list(self._passed_over.items()):
            if until <= sent:
                del self._passed_over[run_id]
        # Never its own runs in flight: a lease that lapsed while this worker still
        # executes the run (its heartbeats could not reach the store) is still good
        # for its writes unless another worker took the run, and this one must not
        # compete with itself for it.
        claims = await self.store.claim(
            self.worker_id,
            workflow_names=self._names,
            lease_timeout=self.lease_timeout,
            limit=limit,
            exclude=[*self._passed_over, *self._active],
        )
        if claims:
            # A claim sets the run's updated_at to the store's now: a sample of its clock.
            self.clock.observe(claims[0].run.updated_at, sent, self.clock.local())
        return claims

    # ------------------------------------------------------------------ one run

    async def _serve(self, claim: Claim) -> str:
        run = claim.run
        try:
            outcome = await self._execute(claim)
        except CodecError as error:
            # Its values do not decode here (a key this worker lacks): left untouched.
            log.error(
                "run %s: %s; given back, due again in %gs", run.run_id, error, self.retry_delay
            )
            outcome = "undecodable"
            with contextlib.suppress(Exception):
                await self.store.release(
                    claim.lease, wake_at=self.clock() + timedelta(seconds=self.retry_delay)
                )
        except Exception:
            log.exception("run %s: unexpected error in the worker", run.run_id)
            outcome = "worker error"
            with contextlib.suppress(Exception):
                await self.store.release(
                    claim.lease, wake_at=self.clock() + timedelta(seconds=self.retry_delay)
                )
        self.outcomes.append((run.run_id, outcome))
        log.info("run %s (%s): %s", run.run_id, run.workflow_name, outcome)
        return outcome

    async def _execute(self, claim: Claim) -> str:
        run = claim.run
        graph = (
            self.library.latest(run.workflow_name)
            if run.graph_hash is None
            else self.library.version(run.workflow_name, run.graph_hash)
        )
        if graph is None:
            assert run.graph_hash is not None
            if run.cancel_requested:
                return await self._decline_cancelled(claim)
            if (run.run_id, run.graph_hash) not in self._declined:
                self._declined.add((run.run_id, run.graph_hash))
                log.warning(
                    "run %s is pinned to graph %s of workflow %r, which this worker does not "
                    "have; leaving it for a worker that does (deploy that version under versions/)",
                    run.run_id,
                    run.graph_hash[:12],
                    run.workflow_name,
                )
            await self.store.release(
                claim.lease, wake_at=self.clock() + timedelta(seconds=self.retry_delay)
            )
            return "declined"
        if self._quarantined == run.run_id:
            try:
                await self.store.quarantine(claim.lease)
            except LeaseLost:
                return "lease lost"
        history = await self.store.history(run.run_id)
        executor = RunExecutor(
            self.store, claim, graph, history, get_workflow(run.workflow_name), self.settings
        )
        poison = claim.reason == "recovered" and run.quarantine_deaths > self.max_recoveries
        # A poison run's rollbacks may take long too: keep its lease while they run.
        beat = asyncio.create_task(self._heartbeat(executor))
        try:
            if poison:
                return await self._poison(executor)
            return await executor.execute()
        finally:
            beat.cancel()

    async def _decline_cancelled(self, claim: Claim) -> str:
        """A cancelled run pinned to a graph version this worker lacks.

        Its cancellation keeps it due at once, so given back as any declined run
        it would come straight back to this worker, over and over. It is left to
        the others for ``retry_delay`` instead (claims pass it over), and a worker
        with its version takes it and compensates. When none has in
        :attr:`cancel_grace` seconds, none is live: it ends ``cancelled`` here
        without compensation (rollbacks need the graph), the steps it leaves
        uncompensated named in its error.
        """
        run = claim.run
        now = self.clock.local()
        first = self._cancel_declined.setdefault(run.run_id, now)
        if (now - first).total_seconds() < self.cancel_grace:
            self._passed_over[run.run_id] = now + timedelta(seconds=self.retry_delay)
            await self.store.release(claim.lease)
            return "declined"
        del self._cancel_declined[run.run_id]
        history = await self.store.history(run.run_id)
        rolled = {e.key for e in history if e.type in ("rollback_completed", "rollback_failed")}
        left = [
            e.payload.step
            for e in history
            if isinstance(e, StepCompletedEvent) and e.key not in rolled
        ]
        assert run.graph_hash is not None
        message = (
            f"cancellation requested; no worker with graph {run.graph_hash[:12]} of workflow "
            f"{run.workflow_name!r} took the run in {self.cancel_grace:g}s, so it ended "
            "without compensation (rollbacks need the graph); "
            + (
                "completed steps not compensated: " + ", ".join(left)
                if left
                else "no step had completed"
            )
        )
        log.warning("run %s: %s", run.run_id, message)
        error = ErrorInfo(type="Cancelled", message=message)
        await self.store.append(
            claim.lease,
            [EventDraft(RunCancelledPayload(reason=message))],
            update=RunUpdate(status="cancelled", error=error),
        )
        return "cancelled"

    async def _heartbeat(self, executor: RunExecutor) -> None:
        # Never let the lease run out between beats, whatever the settings say.
        period = min(self.heartbeat_interval, self.lease_timeout / 3)
        delay = period
        while not executor.lost:
            await asyncio.sleep(delay)
            try:
                await executor.heartbeat()
            except Exception as error:
                # A store error is not a lost lease: beat again soon, and go on until
                # the store answers (a renewal then says whether the lease is still ours).
                log.warning("run %s: could not renew its lease: %s", executor.run_id, error)
                delay = min(period, max(delay / 2, 0.05))
            else:
                delay = period

    async def _poison(self, executor: RunExecutor) -> str:
        run = executor.run
        message = (
            f"the run's worker died {run.quarantine_deaths} times while executing it alone "
            f"(limit {self.max_recoveries}, taken over {run.recoveries} times in all); "
            "it is failed so it stops killing workers"
        )
        log.error("run %s: %s", executor.run_id, message)
        return await executor.fail_from_log(ErrorInfo(type="PoisonRun", message=message))
