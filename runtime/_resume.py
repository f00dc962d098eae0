"""Breakers on resume, and small helpers of :mod:`runtime.worker_run`.

A resumed walk must give each breaker check the answer the live run gave:
:func:`under_way` reads from the journal whether the worker that logged a
node's latest events had passed its checkpoint, and :func:`join_saga` adds the
steps the log completed to the saga when the walk stops at a node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vrb_compile.ir.models import BackoffOptions

from .durations import Backoff
from .events import Event, StepRetryingEvent, StepStartedEvent
from .interpreter import Journal

__all__ = ["Completion", "backoff_of", "join_saga", "split_input", "under_way"]


@dataclass
class Completion:
    seq: int
    key: str
    step: str
    output: Any


def under_way(journal: Journal, keys: Sequence[str], inline_retry_max: float) -> bool:
    """The worker that logged these steps' latest events had passed this checkpoint.

    A resumed walk then gives the check the answer the live run gave (it went
    on), whatever those events add to the count. That worker was past it when
    an attempt is in flight, when a ``parallel``/map node has branches not yet
    started (they all start in the claim that reaches the node), when a retry
    was due (or slept in-process) while the node's steps kept logging, and when
    a wait was due as it was created. Otherwise the run was given back at this
    node, and the claim that resumes it checks the breaker again, as this one does.
    """
    wanted = set(keys)
    last: dict[str, Event] = {}
    for event in journal.events:
        if event.key in wanted and event.type.startswith("step_"):
            last[event.key] = event
    if not last:
        # A wait due when it was created completed in the same claim.
        waits = [journal.waits.get(key) for key in keys]
        return any(
            wait is not None and wait.payload.until is not None and wait.payload.until <= wait.at
            for wait in waits
        )
    if len(last) < len(wanted):
        return True
    latest = max(event.at for event in last.values())
    for event in last.values():
        if isinstance(event, StepStartedEvent):
            return True
        if isinstance(event, StepRetryingEvent):
            retry_at = event.payload.retry_at
            inline = (retry_at - event.at).total_seconds() <= inline_retry_max
            if inline or retry_at <= latest:
                return True
    return False


def join_saga(journal: Journal, completions: list[Completion], keys: Sequence[str]) -> None:
    """Add the steps among ``keys`` the log completed to ``completions`` (the walk stops here)."""
    known = {completion.key for completion in completions}
    for key in keys:
        record = journal.steps.get(key)
        if record is not None and record.outcome == "completed" and key not in known:
            completions.append(Completion(record.result_seq, key, record.step, record.output))


def backoff_of(options: BackoffOptions) -> Backoff:
    return Backoff(options.initial, options.factor, options.max)


def split_input(value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A run's input: a list of positional arguments, or a dict of keyword arguments."""
    if value is None:
        return (), {}
    if isinstance(value, list):
        return tuple(value), {}
    if isinstance(value, dict):
        return (), dict(value)
    return (value,), {}
