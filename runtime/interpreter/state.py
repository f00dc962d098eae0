"""Run state the interpreter keeps: the journal (the history indexed by key) and control signals.

The journal is built once from a run's history when a worker claims it; the
walk then reads recorded outcomes from it instead of calling steps again, so a
live run never replays per step.

Step keys
---------
Every durable operation of a walk has a deterministic key: the node id, then
``@`` and the iteration counter of each enclosing loop (outermost first, joined
by ``.``), then ``#`` and the branch index inside a ``parallel`` / ``map`` node::

    n3          a step outside loops
    n7@2        the third iteration of the loop around n7
    n9@0.4#1    branch 1 of a parallel node inside two loops

A signal taken inside a step body gets ``<step key>/<signal>/<n>`` (the n-th wait
for that name in that invocation). Keys are the events' ``key``; a step's
``idempotency_key`` is ``<run_id>:<key>``, unique across runs too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..events import (
    CircuitBreakerTrippedEvent,
    ErrorInfo,
    Event,
    EventDraft,
    RollbackCompletedEvent,
    RollbackFailedEvent,
    RollbackStartedEvent,
    SignalConsumedEvent,
    StepStartedEvent,
    WaitCompletedEvent,
    WaitCreatedEvent,
)

__all__ = [
    "Cancelled",
    "ControlFlow",
    "Journal",
    "StepRecord",
    "Suspend",
    "Tripped",
    "step_key",
]


def step_key(node_id: str, counters: Sequence[int], branch: int | None = None) -> str:
    """The deterministic key of one invocation (see the module docstring)."""
    key = node_id
    if counters:
        key += "@" + ".".join(str(counter) for counter in counters)
    if branch is not None:
        key += f"#{branch}"
    return key


@dataclass
class StepRecord:
    """What the history holds about one step key.

    Attributes:
        step: The step name recorded in its first ``step_started``.
        last_attempt: The highest attempt started (0 if none).
        outcome: ``"completed"``, ``"failed"``, ``"retrying"`` or ``None`` (an
            attempt was started and never finished: its worker died).
        output: The output of a completed step.
        error: The error of a failed or retrying attempt.
        retry_at: When a retrying step may run its next attempt.
        result_seq: The seq of the ``step_completed`` / ``step_failed`` event.
    """

    step: str
    last_attempt: int = 0
    outcome: str | None = None
    output: Any = None
    error: ErrorInfo | None = None
    retry_at: datetime | None = None
    result_seq: int = 0


@dataclass
class Journal:
    """A run's history, indexed for the walk.

    Attributes:
        events: The history as read at claim time.
        steps: Per step key, what happened to it.
        waits: Per key, the ``wait_created`` event (sleeps and signal waits).
        waits_completed: Per key, the seq of its ``wait_completed`` event.
        consumed: Per key, the ``signal_consumed`` event.
        rolled_back: Keys whose rollback ran (completed or failed), with the event type.
        rollbacks_started: Keys whose rollback began (``rollback_started``): one
            not in :attr:`rolled_back` was cut short by its worker's death.
        order: Node keys in the order the history first mentions them; the walk
            must visit them in the same order.
        tripped: The ``circuit_breaker_tripped`` event, if a breaker tripped: the run
            is then compensating, and the trip is never recorded again.
        restarts: How many ``step_started`` events start again an attempt in flight
            when its worker died (the same key and attempt, no outcome between).
        latest: Per step key, the latest event of the step or of a signal wait
            inside it (``<key>/<signal>/<n>``).
    """

    events: list[Event] = field(default_factory=list)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    waits: dict[str, WaitCreatedEvent] = field(default_factory=dict)
    waits_completed: dict[str, int] = field(default_factory=dict)
    consumed: dict[str, SignalConsumedEvent] = field(default_factory=dict)
    rolled_back: dict[str, str] = field(default_factory=dict)
    rollbacks_started: set[str] = field(default_factory=set)
    order: list[str] = field(default_factory=list)
    order_steps: dict[str, str] = field(default_factory=dict)
    tripped: CircuitBreakerTrippedEvent | None = None
    restarts: int = 0
    latest: dict[str, Event] = field(default_factory=dict)

    @classmethod
    def from_history(cls, events: Sequence[Event]) -> Journal:
        """Index ``events`` (one pass, in seq order)."""
        journal = cls(events=list(events))
        seen: set[str] = set()
        for event in events:
            key = event.key
            if (
                key is not None
                and "/" not in key
                and key not in seen
                and event.type
                in (
                    "step_started",
                    "wait_created",
                    "signal_consumed",
                )
            ):
                seen.add(key)
                journal.order.append(key)
                if isinstance(event, StepStartedEvent):
                    journal.order_steps[key] = event.payload.step
            journal.apply(event)
        return journal

    def parked(self, key: str) -> bool:
        """Step ``key``'s latest attempt gave the run back at a signal wait inside it.

        A wait inside a step records ``wait_created`` in the same commit that
        parks the run, so when that is the step's latest event the attempt did
        not die: it was abandoned there, and runs again under the same start.
        """
        latest = self.latest.get(key)
        return isinstance(latest, WaitCreatedEvent) and latest.key != key

    def mentions(self, key: str) -> bool:
        """The history holds an event of the operation ``key`` (of any kind)."""
        return (
            key in self.steps
            or key in self.waits
            or key in self.waits_completed
            or key in self.consumed
        )

    def apply(self, event: Event) -> None:
        """Fold one event into the index."""
        if isinstance(event, CircuitBreakerTrippedEvent):
            self.tripped = self.tripped or event
        key = event.key
        if key is None:
            return
        self.latest[key.partition("/")[0]] = event
        kind = event.type
        if kind.startswith("step_"):
            payload: Any = event.payload
            record = self.steps.get(key)
            if record is None:
                record = self.steps[key] = StepRecord(payload.step)
            if kind == "step_started":
                if record.outcome is None and payload.attempt == record.last_attempt:
                    self.restarts += 1
                record.last_attempt = max(record.last_attempt, payload.attempt)
                record.outcome = None
            elif kind == "step_completed":
                record.outcome = "completed"
                record.output = payload.output
                record.result_seq = event.seq
            elif kind == "step_failed":
                record.outcome = "failed"
                record.error = payload.error
                record.result_seq = event.seq
            else:
                record.outcome = "retrying"
                record.error = payload.error
                record.retry_at = payload.retry_at
                record.last_attempt = max(record.last_attempt, payload.attempt)
        elif isinstance(event, WaitCreatedEvent):
            self.waits.setdefault(key, event)
        elif isinstance(event, WaitCompletedEvent):
            self.waits_completed[key] = event.seq
        elif isinstance(event, SignalConsumedEvent):
            self.consumed[key] = event
        elif isinstance(event, RollbackStartedEvent):
            self.rollbacks_started.add(key)
        elif isinstance(event, RollbackCompletedEvent | RollbackFailedEvent):
            self.rolled_back[key] = event.type


class ControlFlow(BaseException):
    """Base of the interpreter's internal control signals.

    They derive from ``BaseException`` so that neither a workflow body's
    ``except Exception`` (followed through ``error`` edges) nor a step can
    swallow them.
    """


class Suspend(ControlFlow):
    """The run must give its worker back until ``wake_at`` or one of ``signals`` arrives.

    Attributes:
        events: Events to append with the suspension (``wait_created`` ...).
        wake_at: When the run becomes due by time, or ``None``.
        signals: Signal names that make it due.
    """

    def __init__(
        self,
        events: Sequence[EventDraft] = (),
        wake_at: datetime | None = None,
        signals: Sequence[str] = (),
    ) -> None:
        super().__init__("suspend")
        self.events = list(events)
        self.wake_at = wake_at
        self.signals = list(signals)

    @staticmethod
    def merge(suspends: Sequence[Suspend]) -> Suspend:
        """One suspension for several parallel branches: the earliest wake-up wins."""
        wakes = [s.wake_at for s in suspends if s.wake_at is not None]
        return Suspend(
            [event for s in suspends for event in s.events],
            min(wakes) if wakes else None,
            sorted({name for s in suspends for name in s.signals}),
        )


class Cancelled(ControlFlow):
    """Cancellation was requested: stop at this checkpoint, compensate, end cancelled."""


class Tripped(ControlFlow):
    """A circuit breaker tripped.

    Attributes:
        breaker: ``"max_events"`` or ``"execution_timeout"``.
        limit: The limit hit (events or seconds).
    """

    def __init__(self, breaker: str, limit: float) -> None:
        super().__init__(breaker)
        self.breaker = breaker
        self.limit = limit
