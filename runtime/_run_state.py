"""What a worker passes to each run it executes, and what an executor has rebuilt of one.

Kept apart from :mod:`runtime.worker_run` so the executor's module holds behaviour only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._store_clock import StoreClock
from .interpreter import WalkState

__all__ = ["RunSettings", "RunState"]


@dataclass(frozen=True)
class RunSettings:
    """What a worker passes to each run it executes.

    ``clock`` is the store's time (:class:`~runtime._store_clock.StoreClock`):
    every time the executor stores or compares with a stored one is read from it,
    and each append teaches it.
    """

    worker_id: str
    inline_retry_max: float
    clock: StoreClock
    stopping: Callable[[], bool]
    retry_delay: float = 5.0
    """Seconds before a run given back because a value did not decode is due again."""
    default_max_events: int | None = None
    """The cap of events for a workflow without ``max_events`` (``None``: none)."""
    max_payload_bytes: int | None = None
    """The store's bound on one value (a step's output, a result); ``None``: none."""


@dataclass(frozen=True)
class RunState:
    """What an executor has rebuilt of its run at one moment (see :meth:`RunExecutor.snapshot`).

    Attributes:
        next_seq: The seq the next recorded event gets; ``next_seq - 1``, less the
            attempts started again after a crash, is the event count the
            ``max_events`` breaker checks.
        position: The seq of the latest step, wait or signal result the walk has
            passed: ``ctx.now()`` is that event's commit time.
        now: What ``ctx.now()`` answers there, or ``None`` while the event at
            ``position`` has not committed and the body has not asked (it gets
            its time when it first does).
        saga: ``(seq, key, step, output)`` of each completed step whose
            rollback this claim has neither run nor found recorded, in
            completion order.
        rolled: Keys whose rollback this claim has run or found recorded.
        cancel_requested: Cancellation is known to have been requested.
        walk: The walk's state, ``None`` before the walk begins.
    """

    next_seq: int
    position: int
    now: datetime | None
    saga: tuple[tuple[int, str, str, Any], ...]
    rolled: frozenset[str]
    cancel_requested: bool
    walk: WalkState | None
