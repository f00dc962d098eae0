"""The event log vocabulary: what a run's append-only history is made of.

Every event has a per-run ``seq`` (1-based, gapless), a ``type``, a ``key`` (the
step invocation key, WDK's correlation id; ``None`` for run-level events), a
``payload`` whose fields depend on the type, and ``at`` (UTC). ``Event`` is the
discriminated union of the seventeen event models, keyed on ``type``.

Payloads, by type (the key column says what ``key`` holds):

=========================  ========  ==============================================
type                       key       payload
=========================  ========  ==============================================
run_created                None      workflow, input (JSON)
run_started                None      worker_id, graph_hash
step_started               step key  step, attempt
step_completed             step key  step, output (JSON), attempt
step_retrying              step key  step, attempt (the one that failed), error, retry_at
step_failed                step key  step, attempt, error
wait_created               wait key  until (None: no deadline), signal (None: a sleep)
wait_completed             wait key  outcome ("elapsed" or "signal")
signal_received            None      name, payload (JSON); written by ``send_signal``
signal_consumed            wait key  name, payload (JSON), signal_seq
rollback_started           step key  step (committed before the rollback acts)
rollback_completed         step key  step, output (JSON, the rollback's return value)
rollback_failed            step key  step, error
circuit_breaker_tripped    None      breaker ("max_events" or "execution_timeout"), limit
run_completed              None      result (JSON)
run_failed                 None      error
run_cancelled              None      reason (str or None)
=========================  ========  ==============================================

``error`` is ``{"type": ..., "message": ...}`` (:class:`ErrorInfo`); the errors of
steps and rollbacks add the class's ``module`` and ``qualname``, its ``args`` and
JSON attributes (``attrs``), so a replay can rebuild the same exception.

Writers build an :class:`EventDraft` from a payload model; the store gives it its
``seq`` and ``at`` when it commits. Building a draft checks that every value is
JSON (dicts with str keys, lists, str, int, finite float, bool, None) that the
stores' reader takes back (ints of at most :data:`MAX_JSON_INT_DIGITS` digits,
strs UTF-8 can encode, nesting at most :data:`MAX_JSON_DEPTH` deep) and raises
:class:`NotJSONError` otherwise, so a stored event always reads back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)
from pydantic_core import PydanticSerializationError

from ._json_values import (
    MAX_JSON_DEPTH,
    MAX_JSON_INT_DIGITS,
    NotJSONError,
    ensure_json,
    find_problem,
    json_size,
    storable_text,
)

__all__ = [
    "EVENT_TYPES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT_DIGITS",
    "CircuitBreakerTrippedEvent",
    "CircuitBreakerTrippedPayload",
    "ErrorInfo",
    "Event",
    "EventDraft",
    "EventType",
    "NotJSONError",
    "Payload",
    "RollbackCompletedEvent",
    "RollbackCompletedPayload",
    "RollbackFailedEvent",
    "RollbackFailedPayload",
    "RollbackStartedEvent",
    "RollbackStartedPayload",
    "RunCancelledEvent",
    "RunCancelledPayload",
    "RunCompletedEvent",
    "RunCompletedPayload",
    "RunCreatedEvent",
    "RunCreatedPayload",
    "RunFailedEvent",
    "RunFailedPayload",
    "RunStartedEvent",
    "RunStartedPayload",
    "SignalConsumedEvent",
    "SignalConsumedPayload",
    "SignalReceivedEvent",
    "SignalReceivedPayload",
    "StepCompletedEvent",
    "StepCompletedPayload",
    "StepFailedEvent",
    "StepFailedPayload",
    "StepRetryingEvent",
    "StepRetryingPayload",
    "StepStartedEvent",
    "StepStartedPayload",
    "WaitCompletedEvent",
    "WaitCompletedPayload",
    "WaitCreatedEvent",
    "WaitCreatedPayload",
    "dumps_json",
    "ensure_json",
    "parse_events",
]

EventType = Literal[
    "run_created",
    "run_started",
    "step_started",
    "step_completed",
    "step_retrying",
    "step_failed",
    "wait_created",
    "wait_completed",
    "signal_received",
    "signal_consumed",
    "rollback_started",
    "rollback_completed",
    "rollback_failed",
    "circuit_breaker_tripped",
    "run_completed",
    "run_failed",
    "run_cancelled",
]

EVENT_TYPES: tuple[EventType, ...] = EventType.__args__  # type: ignore[attr-defined]
"""Every event type, in the order of the table above."""


# --------------------------------------------------------------------------- JSON values
# The checks themselves live in runtime._json_values, re-exported here.


def dumps_json(value: Any) -> str:
    """Serialise a checked JSON value compactly (the stores' storage format)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------- payloads


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes in events must be timezone-aware (UTC)")
    return value.astimezone(UTC)


UTCDateTime: TypeAlias = Annotated[datetime, AfterValidator(_utc)]
JSONValue: TypeAlias = Any
"""A JSON value; checked when a draft is built, trusted when read back from a store."""


class ErrorInfo(BaseModel):
    """A recorded error: its type name and message, and what replay needs to rebuild it.

    ``type`` and ``message`` are what runs and users see. The other fields let a
    replay hand the workflow body an exception of the same class with the same
    ``args`` and attributes as the live one (see
    :func:`runtime.replayed_errors.rebuild_error`); they are ``None`` in logs written
    before they existed, for run-level errors, and where the value was not JSON.
    ``None`` fields are left out of the stored JSON, so an error without them is
    stored as ``{"type": ..., "message": ...}`` exactly as before.

    Attributes:
        type: The exception's class name (``"CardDeclined"``).
        message: ``str()`` of the exception.
        module: The module defining the class (``"shop.payments"``).
        qualname: The class's qualified name in that module.
        args: The exception's ``args``, when all of them are JSON values.
        attrs: The exception's instance attributes (its ``__dict__``) whose
            values are JSON; others are not recorded.
        encoded: Set when a payload codec (:mod:`runtime.codec`) encoded the
            error: its envelope of ``message``, ``args`` and ``attrs``, which are
            then left out (``message`` only says the error is encrypted).
            ``type``, ``module`` and ``qualname`` stay readable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    message: str
    module: str | None = None
    qualname: str | None = None
    args: list[JSONValue] | None = None
    attrs: dict[str, JSONValue] | None = None
    encoded: dict[str, JSONValue] | None = None

    @classmethod
    def from_exception(cls, error: BaseException, *, detail: bool = True) -> ErrorInfo:
        """Describe ``error``: its class name and message, and with ``detail`` how to rebuild it.

        Args:
            error: The exception.
            detail: Also record its class's module and qualname, its JSON ``args``
                and its JSON attributes (for errors replay rebuilds: a step's).
        """
        kind = type(error)
        message = _message_of(error)
        if not detail:
            return cls(type=kind.__name__, message=message)
        # What the store could not read back is left out, as what is not JSON is.
        args: list[Any] | None = list(error.args)
        if not _detail_storable(args):
            args = None
        attrs: dict[str, Any] | None = {
            name: value
            for name, value in getattr(error, "__dict__", {}).items()
            if isinstance(name, str) and find_problem(name) is None and find_problem(value) is None
        }
        if attrs and not _detail_storable(attrs):
            attrs = None
        return cls(
            type=kind.__name__,
            message=message,
            module=kind.__module__,
            qualname=kind.__qualname__,
            args=args,
            attrs=attrs or None,
        )

    def brief(self) -> dict[str, str]:
        """``{"type": ..., "message": ...}``: what a run's error shows (``RunInfo.error``)."""
        return {"type": self.type, "message": self.message}

    @model_serializer(mode="wrap")
    def _leave_out_missing_detail(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in _DETAIL:
                if name in data and data[name] is None:
                    del data[name]
        return data


_DETAIL = ("module", "qualname", "args", "attrs", "encoded")

MAX_ERROR_MESSAGE = 8192
"""The longest error message recorded, in characters; a longer one is cut (its length said)."""

_MAX_DETAIL_BYTES = 64 * 1024
"""Error args or attributes whose JSON is longer are left out, as unstorable ones are."""


def _detail_storable(value: Any) -> bool:
    return find_problem(value) is None and json_size(value) <= _MAX_DETAIL_BYTES


def _message_of(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception as failure:
        # ValueError(10**5000) cannot say what it is; the step's failure must still be recorded.
        return f"<{type(error).__name__}: its str() raised {type(failure).__name__}>"
    if len(text) > MAX_ERROR_MESSAGE:
        # A step's error is stored, replayed and shown by every tool: a bounded value.
        text = f"{text[: MAX_ERROR_MESSAGE - 40]}... ({len(text)} characters in all)"
    # A lone surrogate (text decoded with surrogateescape, say) would make the error unstorable.
    return storable_text(text)


class Payload(BaseModel):
    """Base of the payload models; ``TYPE`` is the event type the payload belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[EventType]
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ()
    """The fields holding user values, checked to be JSON when a draft is built."""


class RunCreatedPayload(Payload):
    """The run was triggered: its workflow name and its input."""

    TYPE: ClassVar[EventType] = "run_created"
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("input",)
    workflow: str
    input: JSONValue


class RunStartedPayload(Payload):
    """A worker started the run for the first time, on this graph version."""

    TYPE: ClassVar[EventType] = "run_started"
    worker_id: str
    graph_hash: str | None = None


class StepStartedPayload(Payload):
    """An attempt of a step began (written in the commit of the event before it)."""

    TYPE: ClassVar[EventType] = "step_started"
    step: str
    attempt: int = Field(ge=1)


class StepCompletedPayload(Payload):
    """A step attempt succeeded; ``output`` is what replay feeds back."""

    TYPE: ClassVar[EventType] = "step_completed"
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("output",)
    step: str
    output: JSONValue = None
    attempt: int = Field(ge=1)


class StepRetryingPayload(Payload):
    """Attempt ``attempt`` failed and the step will run again at ``retry_at``."""

    TYPE: ClassVar[EventType] = "step_retrying"
    step: str
    attempt: int = Field(ge=1)
    error: ErrorInfo
    retry_at: UTCDateTime


class StepFailedPayload(Payload):
    """The step failed for good: retries exhausted or a non-retryable error."""

    TYPE: ClassVar[EventType] = "step_failed"
    step: str
    attempt: int = Field(ge=1)
    error: ErrorInfo


class WaitCreatedPayload(Payload):
    """The run began a durable wait: a sleep (``signal`` None) or a signal wait."""

    TYPE: ClassVar[EventType] = "wait_created"
    until: UTCDateTime | None = None
    signal: str | None = None


class WaitCompletedPayload(Payload):
    """A wait ended: its deadline passed (``elapsed``) or its signal came (``signal``)."""

    TYPE: ClassVar[EventType] = "wait_completed"
    outcome: Literal["elapsed", "signal"] = "elapsed"


class SignalReceivedPayload(Payload):
    """A signal arrived and was buffered; the event's ``seq`` identifies the signal."""

    TYPE: ClassVar[EventType] = "signal_received"
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("payload",)
    name: str
    payload: JSONValue = None


class SignalConsumedPayload(Payload):
    """A wait took the signal recorded at ``signal_seq`` (FIFO per name)."""

    TYPE: ClassVar[EventType] = "signal_consumed"
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("payload",)
    name: str
    payload: JSONValue = None
    signal_seq: int = Field(ge=1)


class RollbackStartedPayload(Payload):
    """The rollback of the step with this event's key is about to run.

    Committed before the rollback acts, so a rollback cut short by a crash is
    seen in the log (a start without an outcome), never inferred.
    """

    TYPE: ClassVar[EventType] = "rollback_started"
    step: str


class RollbackCompletedPayload(Payload):
    """The rollback of the step with this event's key ran; it never runs again."""

    TYPE: ClassVar[EventType] = "rollback_completed"
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("output",)
    step: str
    output: JSONValue = None


class RollbackFailedPayload(Payload):
    """The rollback of the step with this event's key raised; the saga went on."""

    TYPE: ClassVar[EventType] = "rollback_failed"
    step: str
    error: ErrorInfo


class CircuitBreakerTrippedPayload(Payload):
    """The run hit ``max_events`` or ``execution_timeout`` (``limit``: events or seconds)."""

    TYPE: ClassVar[EventType] = "circuit_breaker_tripped"
    breaker: Literal["max_events", "execution_timeout"]
    limit: float


class RunCompletedPayload(Payload):
    """The workflow body returned ``result``."""

    TYPE: ClassVar[EventType] = "run_completed"
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("result",)
    result: JSONValue = None


class RunFailedPayload(Payload):
    """The run ended failed with ``error``."""

    TYPE: ClassVar[EventType] = "run_failed"
    error: ErrorInfo


class RunCancelledPayload(Payload):
    """The run ended cancelled, after compensation."""

    TYPE: ClassVar[EventType] = "run_cancelled"
    reason: str | None = None


# --------------------------------------------------------------------------- events


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    key: str | None = None
    at: UTCDateTime


class RunCreatedEvent(_EventBase):
    """See :class:`RunCreatedPayload`."""

    type: Literal["run_created"] = "run_created"
    payload: RunCreatedPayload


class RunStartedEvent(_EventBase):
    """See :class:`RunStartedPayload`."""

    type: Literal["run_started"] = "run_started"
    payload: RunStartedPayload


class StepStartedEvent(_EventBase):
    """See :class:`StepStartedPayload`."""

    type: Literal["step_started"] = "step_started"
    payload: StepStartedPayload


class StepCompletedEvent(_EventBase):
    """See :class:`StepCompletedPayload`."""

    type: Literal["step_completed"] = "step_completed"
    payload: StepCompletedPayload


class StepRetryingEvent(_EventBase):
    """See :class:`StepRetryingPayload`."""

    type: Literal["step_retrying"] = "step_retrying"
    payload: StepRetryingPayload


class StepFailedEvent(_EventBase):
    """See :class:`StepFailedPayload`."""

    type: Literal["step_failed"] = "step_failed"
    payload: StepFailedPayload


class WaitCreatedEvent(_EventBase):
    """See :class:`WaitCreatedPayload`."""

    type: Literal["wait_created"] = "wait_created"
    payload: WaitCreatedPayload


class WaitCompletedEvent(_EventBase):
    """See :class:`WaitCompletedPayload`."""

    type: Literal["wait_completed"] = "wait_completed"
    payload: WaitCompletedPayload


class SignalReceivedEvent(_EventBase):
    """See :class:`SignalReceivedPayload`."""

    type: Literal["signal_received"] = "signal_received"
    payload: SignalReceivedPayload


class SignalConsumedEvent(_EventBase):
    """See :class:`SignalConsumedPayload`."""

    type: Literal["signal_consumed"] = "signal_consumed"
    payload: SignalConsumedPayload


class RollbackStartedEvent(_EventBase):
    """See :class:`RollbackStartedPayload`."""

    type: Literal["rollback_started"] = "rollback_started"
    payload: RollbackStartedPayload


class RollbackCompletedEvent(_EventBase):
    """See :class:`RollbackCompletedPayload`."""

    type: Literal["rollback_completed"] = "rollback_completed"
    payload: RollbackCompletedPayload


class RollbackFailedEvent(_EventBase):
    """See :class:`RollbackFailedPayload`."""

    type: Literal["rollback_failed"] = "rollback_failed"
    payload: RollbackFailedPayload


class CircuitBreakerTrippedEvent(_EventBase):
    """See :class:`CircuitBreakerTrippedPayload`."""

    type: Literal["circuit_breaker_tripped"] = "circuit_breaker_tripped"
    payload: CircuitBreakerTrippedPayload


class RunCompletedEvent(_EventBase):
    """See :class:`RunCompletedPayload`."""

    type: Literal["run_completed"] = "run_completed"
    payload: RunCompletedPayload


class RunFailedEvent(_EventBase):
    """See :class:`RunFailedPayload`."""

    type: Literal["run_failed"] = "run_failed"
    payload: RunFailedPayload


class RunCancelledEvent(_EventBase):
    """See :class:`RunCancelledPayload`."""

    type: Literal["run_cancelled"] = "run_cancelled"
    payload: RunCancelledPayload


Event = Annotated[
    RunCreatedEvent
    | RunStartedEvent
    | StepStartedEvent
    | StepCompletedEvent
    | StepRetryingEvent
    | StepFailedEvent
    | WaitCreatedEvent
    | WaitCompletedEvent
    | SignalReceivedEvent
    | SignalConsumedEvent
    | RollbackStartedEvent
    | RollbackCompletedEvent
    | RollbackFailedEvent
    | CircuitBreakerTrippedEvent
    | RunCompletedEvent
    | RunFailedEvent
    | RunCancelledEvent,
    Field(discriminator="type"),
]
"""One stored event; ``event.type`` tells which model it is."""

_EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])


def parse_events(data: list[dict[str, Any]] | str | bytes) -> list[Event]:
    """Build events from stored rows: dicts, or one JSON array (the faster path).

    Args:
        data: Dicts with ``seq``, ``type``, ``key``, ``payload``, ``at``, or their
            JSON array as text.
    """
    if isinstance(data, str | bytes):
        return _EVENTS.validate_json(data)
    return _EVENTS.validate_python(data)


# --------------------------------------------------------------------------- drafts


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event not yet stored: the store assigns ``seq`` and ``at`` when it commits.

    Building one checks that the payload is JSON all the way down, so a bad
    value is refused before any store is touched.

    Attributes:
        payload: The typed payload; its class decides the event type.
        key: The step invocation key, or ``None`` for run-level events.
        payload_json: The payload serialised for storage.
        at: The time to store instead of the commit time: set by a worker whose
            workflow read ``ctx.now()`` at this event before it committed, so the
            log holds the time the live run saw (aware UTC, never before the
            run's previous event).
    """

    payload: Payload
    key: str | None = None
    payload_json: str = ""
    at: datetime | None = None

    def __post_init__(self) -> None:
        payload = self.payload
        if not isinstance(payload, Payload):
            raise TypeError(f"an EventDraft needs a payload model, not {type(payload).__name__}")
        step = getattr(payload, "step", None)
        of_step = "" if step is None else f" of step {step!r}"
        for field in payload.JSON_FIELDS:
            ensure_json(getattr(payload, field), f"{payload.TYPE} {field}{of_step}")
        error = getattr(payload, "error", None)
        if isinstance(error, ErrorInfo):
            # ErrorInfo.from_exception leaves such values out; one built by hand may not.
            if error.args is not None:
                ensure_json(error.args, f"{payload.TYPE} error args{of_step}")
            for name, value in (error.attrs or {}).items():
                ensure_json(value, f"{payload.TYPE} error attribute {name!r}{of_step}")
        try:
            payload_json = payload.model_dump_json()
        except PydanticSerializationError as failure:
            # A str field the checks above do not cover (a step name with a lone
            # surrogate, say): refused like any other value the store cannot hold.
            raise NotJSONError(
                f"{payload.TYPE} payload", "$", str(failure), "pass strs UTF-8 can encode"
            ) from None
        object.__setattr__(self, "payload_json", payload_json)
        if self.at is not None and self.at.utcoffset() is None:
            raise ValueError("EventDraft.at must be timezone-aware (UTC)")

    def stamped(self, at: datetime) -> EventDraft:
        """This draft, to be stored with ``at`` as its time (see :attr:`at`)."""
        return EventDraft(self.payload, self.key, at=at)

    @property
    def type(self) -> EventType:
        """The event type, decided by the payload model."""
        return self.payload.TYPE
