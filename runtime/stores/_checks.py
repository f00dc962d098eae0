"""The stores' door: every argument a store method takes is checked here, once, for all backends.

Each backend calls these before it touches its data, so the three stores refuse
the same calls with the same errors: identifiers by the one rule of
:mod:`runtime._identifiers`, values by :mod:`runtime._json_values` (JSON the
store reads back, and at most :attr:`StoreLimits.max_payload_bytes` as stored),
numbers by type and range. A refusal is a :class:`~runtime.errors.VrbError`
(a :class:`~runtime.errors.ConfigurationError` for a bad argument, which is a
``ValueError``; :class:`~runtime.events.NotJSONError`, a ``TypeError``, for a
value that is not JSON), one line, the value cut: never a driver's error, an
``OverflowError`` or a ``RecursionError``.

Bounds
------
:class:`StoreLimits` holds the store's bounds, set by keyword (``open_store(url,
limits=StoreLimits(...))``, each store's ``limits=``) or in the store URL
(``?max_payload_bytes=N&max_buffered_signals=N``, every backend, ``memory://``
included):

* ``max_payload_bytes`` (default 2 MiB, Temporal's blob limit): one value as
  stored - a run's input, a signal's payload, a step's output, a result. A
  worker refuses a larger step output or result as it refuses one that is not
  JSON (the step fails for good); a store refuses a larger trigger or signal.
* ``max_buffered_signals`` (default 10,000, Temporal's signals per execution):
  signals sent to one run that it has not taken yet. A run that takes its
  signals never reaches it; signals sent to a run that never waits for them
  pile up, and each one is read back on every replay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._identifiers import check_identifier
from .._json_values import MAX_PAYLOAD_BYTES, RESERVED_KEY, ensure_json, ensure_size
from ..errors import ConfigurationError, shown
from ..events import EventDraft
from .base import RUN_STATUSES, Lease, RunUpdate

__all__ = [
    "DEFAULT_LIMITS",
    "LIMIT_OPTIONS",
    "MAX_BUFFERED_SIGNALS",
    "MAX_LEASE_TIMEOUT",
    "MAX_SEQ",
    "StoreLimits",
    "check_claim_args",
    "check_drafts",
    "check_history_args",
    "check_lease",
    "check_list_args",
    "check_run_args",
    "check_run_id",
    "check_signal_args",
    "check_stored",
    "check_workflow_filter",
    "limits_from_options",
]

MAX_BUFFERED_SIGNALS = 10_000
"""The default bound on signals buffered for one run (see the module docstring)."""

MAX_LEASE_TIMEOUT = 86_400.0
"""The longest lease a claim may ask for, in seconds (a day: a lease is renewed, not long)."""

MAX_SEQ = 2**63 - 1
"""The largest seq (and ``after_seq``) a store takes: a signed 64-bit integer."""

_EVENT_SLACK = 64 * 1024
"""Bytes an event's own fields (its step name, key, error type...) may add to its value."""

_MAX_OPTION = 2**31 - 1

LIMIT_OPTIONS = ("max_payload_bytes", "max_buffered_signals")
"""The store URL options that set :class:`StoreLimits`, in every backend."""


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """A store's bounds (see the module docstring); ``None`` for no bound.

    Attributes:
        max_payload_bytes: The largest value, in bytes of UTF-8 JSON as stored.
        max_buffered_signals: The most signals one run may have buffered, not yet taken.
    """

    max_payload_bytes: int | None = MAX_PAYLOAD_BYTES
    max_buffered_signals: int | None = MAX_BUFFERED_SIGNALS

    def __post_init__(self) -> None:
        for name in LIMIT_OPTIONS:
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 < value <= _MAX_OPTION
            ):
                raise ConfigurationError(
                    f"StoreLimits {name} must be None or an int from 1 to {_MAX_OPTION}, "
                    f"got {shown(value)}"
                )


DEFAULT_LIMITS = StoreLimits()


def limits_from_options(options: Mapping[str, str], where: str) -> StoreLimits:
    """The :class:`StoreLimits` a store URL's options ask for (the others are ignored).

    Args:
        options: The URL's query options, name to value.
        where: The URL as a message may show it.

    Raises:
        ConfigurationError: A limit option is not a positive integer.
    """
    values: dict[str, int] = {}
    for name in LIMIT_OPTIONS:
        raw = options.get(name)
        if raw is None:
            continue
        text = raw.strip().replace("_", "")
        if not text.isdecimal() or not text.isascii() or not 0 < int(text) <= _MAX_OPTION:
            raise ConfigurationError(
                f"store URL {where!r}: {name} must be an integer from 1 to {_MAX_OPTION}, "
                f"not {shown(raw)}"
            )
        values[name] = int(text)
    return StoreLimits(**values) if values else DEFAULT_LIMITS


# --------------------------------------------------------------------------- identifiers


def check_run_id(run_id: object) -> str:
    """A run id by the identifier rule (:mod:`runtime._identifiers`)."""
    return check_identifier(run_id, "run id")


def check_workflow_filter(workflow_name: object) -> None:
    """A ``workflow_name`` filter: ``None`` or a workflow name."""
    if workflow_name is not None:
        check_identifier(workflow_name, "workflow name")


def check_run_args(run_id: Any, workflow_name: Any, input: Any) -> None:
    """Validate ``create_run`` arguments the same way in every backend."""
    check_identifier(run_id, "run id")
    check_identifier(workflow_name, "workflow name")
    ensure_json(input, f"input of workflow {shown(workflow_name)}")


def check_signal_args(name: Any, payload: Any, run_id: Any = None) -> None:
    """Validate ``send_signal`` arguments the same way in every backend."""
    if run_id is not None:
        check_identifier(run_id, "run id")
    check_identifier(name, "signal name")
    ensure_json(payload, f"payload of signal {shown(name)}")


def _int_in(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an int from {low} to {high}, got {shown(value)}")
    return value


def check_list_args(status: Any, limit: Any, workflow_name: Any = None) -> None:
    """Validate ``list_runs`` arguments the same way in every backend."""
    if status is not None and (not isinstance(status, str) or status not in RUN_STATUSES):
        raise ConfigurationError(
            f"unknown run status {shown(status)}; use one of {', '.join(RUN_STATUSES)}"
        )
    _int_in(limit, "limit", 1, 1000)
    check_workflow_filter(workflow_name)


def check_history_args(run_id: Any, after_seq: Any, limit: Any) -> None:
    """Validate ``history`` arguments: a run id, ``after_seq >= 0``, ``limit`` ``None`` or >= 1."""
    check_identifier(run_id, "run id")
    _int_in(after_seq, "after_seq", 0, MAX_SEQ)
    if limit is not None:
        _int_in(limit, "history limit", 1, MAX_SEQ)


def check_claim_args(
    worker_id: Any,
    lease_timeout: Any,
    limit: Any,
    workflow_names: Any = None,
    exclude: Any = (),
) -> None:
    """Validate ``claim`` arguments the same way in every backend."""
    check_identifier(worker_id, "worker id")
    if isinstance(lease_timeout, bool) or not isinstance(lease_timeout, int | float):
        raise ConfigurationError(f"lease_timeout must be seconds, got {shown(lease_timeout)}")
    if not (math.isfinite(lease_timeout) and 0 < lease_timeout <= MAX_LEASE_TIMEOUT):
        raise ConfigurationError(
            f"lease_timeout must be positive and at most {MAX_LEASE_TIMEOUT:g} seconds "
            f"(a day), got {lease_timeout!r}"
        )
    _int_in(limit, "claim limit", 1, 1000)
    for names, kind in ((workflow_names, "workflow name"), (exclude, "run id")):
        if names is None:
            continue
        if isinstance(names, str | bytes) or not isinstance(names, Sequence | set | frozenset):
            raise ConfigurationError(f"claim takes a list of each {kind}, not {shown(names)}")
        for name in names:
            check_identifier(name, kind)


# --------------------------------------------------------------------------- values


def check_stored(limits: StoreLimits, text: str, what: str, value: Any = None) -> None:
    """A value as stored (its JSON ``text``) within ``max_payload_bytes``.

    The bound is on the value itself, before any payload codec: a value that
    is a codec's envelope (``value``) may be up to twice the bound plus
    :data:`_EVENT_SLACK` (an envelope holds its plaintext in base64 and a few
    fields), since the codec's wrapper checked its plaintext already.

    Raises:
        PayloadTooLarge: It is larger.
    """
    bound = limits.max_payload_bytes
    if bound is not None and type(value) is dict and isinstance(value.get(RESERVED_KEY), str):
        bound = 2 * bound + _EVENT_SLACK
    ensure_size(text, what, bound)


def check_lease(lease: object) -> None:
    """A :class:`~runtime.stores.Lease`, as a claim returned it."""
    if not isinstance(lease, Lease):
        raise ConfigurationError(f"a lease must be a Lease that claim returned, not {shown(lease)}")


def check_drafts(
    limits: StoreLimits,
    drafts: Sequence[EventDraft],
    update: RunUpdate | None,
    consume: Sequence[int] = (),
) -> None:
    """Appended events and a run update within the store's bounds.

    An event holds one user value, perhaps as a codec's envelope, and fields of
    its own (a step name, a key, an error), so it may be twice the value bound
    plus :data:`_EVENT_SLACK`: the worker checks the values themselves, before
    any codec, when it records them (this is the guard against other writers).

    Raises:
        ConfigurationError: ``drafts`` is not a sequence of drafts, ``update``
            not a :class:`RunUpdate`, or ``consume`` not a sequence of seqs.
        PayloadTooLarge: An event's payload is larger.
    """
    if isinstance(drafts, str | bytes) or not isinstance(drafts, Sequence):
        raise ConfigurationError(f"append takes a list of EventDraft, not {shown(drafts)}")
    if update is not None and not isinstance(update, RunUpdate):
        raise ConfigurationError(f"append's update must be a RunUpdate, not {shown(update)}")
    if isinstance(consume, str | bytes) or not isinstance(consume, Sequence):
        raise ConfigurationError(f"consume_signals must be a list of seqs, not {shown(consume)}")
    for seq in consume:
        _int_in(seq, "a signal seq", 1, MAX_SEQ)
    bound = limits.max_payload_bytes
    for draft in drafts:
        if not isinstance(draft, EventDraft):
            raise ConfigurationError(f"append takes EventDraft objects, not {shown(draft)}")
        if bound is not None:
            ensure_size(draft.payload_json, f"the {draft.type} event", 2 * bound + _EVENT_SLACK)
