"""Small helpers of :mod:`runtime.worker_run`: the saga on resume, backoffs, a run's input.

:func:`join_saga` adds the steps the log completed to the saga when a resumed
walk stops at a node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vrb_compile.ir.models import BackoffOptions

from .durations import Backoff
from .interpreter import Journal

__all__ = ["Completion", "backoff_of", "join_saga", "split_input"]


@dataclass
class Completion:
    seq: int
    key: str
    step: str
    output: Any


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
