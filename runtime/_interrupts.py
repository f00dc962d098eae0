"""Pauses in the middle of a run's loops: other tasks and threads get a turn, and the run may stop.

A loop whose body awaits nothing reaches no durable operation, so the
executor's checkpoints (:meth:`runtime.worker_run.RunExecutor.checkpoint`)
never see it, and evaluating it never gives the event loop back. The walker
calls its host's :meth:`~runtime.interpreter.Host.pause` every few loop turns;
:class:`LoopInterrupts` implements it for the executor.

Decisions
---------
* A pause yields to the event loop (the worker's other runs, its lease
  heartbeats, a stop on SIGTERM go on). After :data:`SLICE` seconds of looping
  it sleeps for :data:`GIL_WINDOW` instead: a zero sleep gives the event loop a
  turn but hardly ever the GIL to a thread (the SQLite store's, a ``def``
  step's), each of whose bytecodes waits for it. On a loaded host, renewing a
  lease on SQLite beside a spinning run took up to a second without, at most
  about 0.1 s with.
* Only what stops a run whatever its log says stops it here: its lease lost,
  cancellation, the execution deadline passed, the worker stopping. The
  ``max_events`` decision counted from the log stays at checkpoints (counted
  here, it would stop a resumed run before the checkpoint where the live run
  tripped); the walker's own loop budget covers a loop that records nothing.
* A trip the log holds is not raised by itself here, for the same reason: the
  walk goes on to the checkpoint where it happened. When cancellation or the
  deadline stops the walk here anyway, the recorded trip is what it reports,
  as a checkpoint would.
* While the walk replays (the log holds operations after this point), only a
  lost lease or the worker stopping stops it: a claim before this one went past.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from vrb_compile.ir.models import Graph

from ._run_state import RunSettings
from .interpreter import Cancelled, Journal, Suspend, Tripped

__all__ = ["GIL_WINDOW", "SLICE", "LoopInterrupts"]

#: Seconds of looping between two pauses that sleep for real (at most 5% of the time).
SLICE = 0.02

#: Seconds such a pause sleeps (an epoll wait is counted in whole milliseconds).
GIL_WINDOW = 0.001


class LoopInterrupts:
    """:meth:`~runtime.interpreter.Host.pause` for the run executor (a mixin).

    Attributes:
        lost: The lease is lost.
        cancel_requested: Cancellation was requested.
        deadline: When ``execution_timeout`` trips (``None``: no breaker).
        journal: The run's history as read at claim time.
        graph: The graph the run is pinned to.
        settings: The worker's settings (its clock, whether it is stopping).
    """

    lost: bool
    cancel_requested: bool
    deadline: datetime | None
    journal: Journal
    graph: Graph
    settings: RunSettings
    _slice_start: float | None = None

    async def pause(self, *, replaying: bool) -> None:
        """Yield, then raise a control signal if the run must stop here (module docstring).

        Args:
            replaying: The history records durable operations after this point.
        """
        now = time.monotonic()
        if self._slice_start is None:
            self._slice_start = now
        if now - self._slice_start >= SLICE:
            await asyncio.sleep(GIL_WINDOW)
            self._slice_start = time.monotonic()
        else:
            await asyncio.sleep(0)
        self.check_interrupts(replaying=replaying)

    def check_interrupts(self, *, replaying: bool) -> None:
        """Raise a control signal if the run must stop here (see the module docstring).

        Args:
            replaying: The history records durable operations after this point.

        Raises:
            LeaseGone: The lease is lost (another worker may own the run).
            Tripped: The execution deadline passed, or a trip the log holds.
            Cancelled: Cancellation was requested.
            Suspend: The worker is stopping: the run is given back, due at once.
        """
        if self.lost:
            # Imported here: worker_run defines it and imports this module.
            from .worker_run import LeaseGone

            raise LeaseGone("lease lost")
        if not replaying:
            late = self.deadline is not None and self.settings.clock() >= self.deadline
            if self.cancel_requested or late:
                tripped = self.journal.tripped
                if tripped is not None:
                    raise Tripped(tripped.payload.breaker, tripped.payload.limit)
                if self.cancel_requested:
                    raise Cancelled("cancel")
                raise Tripped("execution_timeout", self.graph.workflow.execution_timeout or 0.0)
        if self.settings.stopping():
            raise Suspend([], self.settings.clock())
