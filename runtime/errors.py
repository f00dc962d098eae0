"""Errors raised by the runtime.

Every exception the runtime raises on purpose derives from :class:`VrbError`::

    VrbError
    +-- ConfigurationError (ValueError)    bad step/workflow options, durations, store URLs
    +-- RegistrationError (ValueError)     two different definitions under one name
    +-- StepFailed                         a step failed for good (retries exhausted)
    +-- NonRetryableError                  raised by a step to skip its remaining retries
    +-- SignalTimeout (TimeoutError)       a signal wait ran out
    +-- WorkflowFailed                     a run ended failed or cancelled (client side)
    +-- RunNotFound (LookupError)          no run with that id
    +-- RunFinished                        the run already ended
    +-- NondeterminismError                replay diverged from the recorded history
    +-- CircuitBreakerTripped              a run hit one of its limits
    |   +-- MaxEventsExceeded              ... ``max_events``
    |   +-- ExecutionTimeout               ... ``execution_timeout``
    +-- LimitExceeded (ValueError)         a value or a run went past one of the store's bounds
    |   +-- PayloadTooLarge                ... a value's JSON is over ``max_payload_bytes``
    |   +-- TooManySignals                 ... a run has ``max_buffered_signals`` signals waiting
    +-- CodecError                         a payload codec cannot encode or decode a value
        +-- MissingKeyError (LookupError)  ... it is encrypted with a key the codec lacks
        +-- CorruptValueError (ValueError) ... it was altered, moved or is malformed
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CircuitBreakerTripped",
    "CodecError",
    "ConfigurationError",
    "CorruptValueError",
    "ExecutionTimeout",
    "LimitExceeded",
    "MaxEventsExceeded",
    "MissingKeyError",
    "NonRetryableError",
    "NondeterminismError",
    "PayloadTooLarge",
    "RegistrationError",
    "RunFinished",
    "RunNotFound",
    "SignalTimeout",
    "StepFailed",
    "TooManySignals",
    "VrbError",
    "WorkflowFailed",
]


class VrbError(Exception):
    """Root of every error the runtime raises on purpose."""


class ConfigurationError(VrbError, ValueError):
    """An option, duration or URL given to the runtime is not valid."""


class RegistrationError(VrbError, ValueError):
    """Two different steps or workflows were registered under the same name."""


class StepFailed(VrbError):
    """A step failed for good: its retries are exhausted or it raised NonRetryableError.

    Raised into the workflow body after the saga has compensated completed steps,
    so the body may catch it and return a result of its own.

    Attributes:
        step: The name of the step that failed.
        cause: The error of its last attempt.
        compensated: Names of the steps whose rollbacks ran, in the order they ran.
    """

    def __init__(
        self, step: str, cause: BaseException | None = None, compensated: list[str] | None = None
    ) -> None:
        self.step = step
        self.cause = cause
        self.compensated: list[str] = list(compensated or [])
        detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        super().__init__(f"step {step!r} failed{detail}")


class NonRetryableError(VrbError):
    """Raise inside a step to fail it at once, skipping any remaining retries."""


class SignalTimeout(VrbError, TimeoutError):
    """A ``wait_for_signal`` with a timeout ran out before the signal arrived.

    Attributes:
        signal: The name of the signal that was awaited.
        timeout: The timeout in seconds.
    """

    def __init__(self, signal: str, timeout: float) -> None:
        self.signal = signal
        self.timeout = timeout
        super().__init__(f"signal {signal!r} did not arrive within {timeout:g}s")


class WorkflowFailed(VrbError):
    """A run ended ``failed`` or ``cancelled``; raised by ``Client.workflow.result``.

    Attributes:
        run_id: The run that failed.
        status: ``"failed"`` or ``"cancelled"``.
        error: The recorded error as ``{"type": ..., "message": ...}``.
    """

    def __init__(self, run_id: str, status: str, error: dict[str, Any] | None) -> None:
        self.run_id = run_id
        self.status = status
        self.error: dict[str, Any] = dict(error or {})
        kind = self.error.get("type", "Error")
        message = self.error.get("message", "")
        super().__init__(f"run {run_id} ended {status}: {kind}: {message}".rstrip(": "))


class RunNotFound(VrbError, LookupError):
    """No run has this id in the store."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {shown(run_id)}")


class RunFinished(VrbError):
    """The run already ended, so it takes no more signals or cancellation."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} already ended ({status})")


class NondeterminismError(VrbError):
    """Replaying a run diverged from its recorded history; the run is parked.

    Attributes:
        run_id: The run whose replay diverged.
        step: The step key where the walk and the log disagree.
        expected: What the graph walk wanted to do there.
        recorded: What the history recorded there.
    """

    def __init__(self, run_id: str, step: str, expected: str, recorded: str) -> None:
        self.run_id = run_id
        self.step = step
        self.expected = expected
        self.recorded = recorded
        super().__init__(
            f"run {run_id} diverged from its history at {step}: the graph expects "
            f"{expected}, the history recorded {recorded}; the run is parked until its "
            "original graph version is deployed"
        )


class CircuitBreakerTripped(VrbError):
    """A run hit one of its circuit breakers and was stopped after compensation."""


class MaxEventsExceeded(CircuitBreakerTripped):
    """The run's event log reached its ``max_events`` limit, or the worker's default cap.

    Attributes:
        limit: The number of events.
        default: The workflow sets no ``max_events``: the limit is the worker's
            ``default_max_events``.
    """

    def __init__(self, limit: int, *, default: bool = False) -> None:
        self.limit = limit
        self.default = default
        if default:
            message = (
                f"the run reached {limit} events, the worker's cap for workflows without "
                "max_events; set max_events on the workflow, or raise the cap with "
                "Worker(default_max_events=N) or vrb worker --default-max-events N"
            )
        else:
            message = f"the run reached its limit of {limit} events (max_events)"
        super().__init__(message)


class ExecutionTimeout(CircuitBreakerTripped):
    """The run ran longer than its ``execution_timeout``, waits included."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        super().__init__(f"the run exceeded its execution timeout of {limit:g}s")


class LimitExceeded(VrbError, ValueError):
    """A value or a run went past one of the store's bounds; nothing was written.

    Attributes:
        limit: The bound (bytes, signals).
        option: The store option that sets it (``max_payload_bytes``...).
    """

    def __init__(self, message: str, limit: int, option: str) -> None:
        self.limit = limit
        self.option = option
        super().__init__(message)


class PayloadTooLarge(LimitExceeded):
    """A value's JSON is larger than the store's ``max_payload_bytes``.

    Attributes:
        what: Which value (``"args of workflow 'order'"``).
        size: Its size in bytes of UTF-8 JSON (at least this many, when it was
            refused before being measured whole).
    """

    def __init__(self, what: str, size: int, limit: int, *, exact: bool = True) -> None:
        self.what = what
        self.size = size
        measured = "" if exact else "at least "
        super().__init__(
            f"{what} is {measured}{_bytes(size)} of JSON, more than the {_bytes(limit)} a value may be "
            "(max_payload_bytes); keep large data outside the run and pass a reference to it, "
            "or raise the limit with ?max_payload_bytes=N in the store URL",
            limit,
            "max_payload_bytes",
        )


class TooManySignals(LimitExceeded):
    """The run already has ``max_buffered_signals`` signals that it has not taken yet.

    Attributes:
        run_id: The run.
        name: The signal refused.
    """

    def __init__(self, run_id: str, name: str, limit: int) -> None:
        self.run_id = run_id
        self.name = name
        super().__init__(
            f"run {shown(run_id)} refused signal {shown(name)}: it has {limit} signals "
            "buffered that it has not taken, the most a run may hold (max_buffered_signals); "
            "let it take them first, or raise the limit with ?max_buffered_signals=N in the "
            "store URL",
            limit,
            "max_buffered_signals",
        )


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: what a message says of a user's id or name.

    A message is one line of bounded length: an id of a megabyte is shown by
    its start and its length.
    """
    try:
        text = repr(value)
    except Exception as error:
        return f"<{type(value).__name__} whose repr() raised {type(error).__name__}>"
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[: limit - 3] + "..." + size


def _bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB ({size} bytes)"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB ({size} bytes)"
    return f"{size} bytes"


class CodecError(VrbError):
    """A payload codec could not encode or decode a stored value; nothing was decoded.

    Attributes:
        where: Which value: its run, and its field (``"input"``, ``"step_completed.output"``...).
    """

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        super().__init__(message)


class MissingKeyError(CodecError, LookupError):
    """A value is encrypted with a key the codec does not hold.

    Attributes:
        key_id: The id of the key the value was encrypted with.
        held: The ids of the keys the codec holds, newest first.
    """

    def __init__(self, where: str, key_id: str, held: tuple[str, ...]) -> None:
        self.key_id = key_id
        self.held = held
        super().__init__(
            f"{where} is encrypted with key {key_id!r}, which this codec does not hold (it "
            f"holds {', '.join(repr(k) for k in held)}); add key {key_id!r} to the codec's keys, "
            "after the newest: a key must stay until no stored value uses it",
            where,
        )


class CorruptValueError(CodecError, ValueError):
    """A stored value is not one the codec wrote: altered, corrupted, moved, or malformed."""
