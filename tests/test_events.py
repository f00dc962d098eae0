"""The event vocabulary: models, drafts, and the JSON-only rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from pydantic import ValidationError

from runtime import events
from runtime.events import (
    EVENT_TYPES,
    ErrorInfo,
    EventDraft,
    NotJSONError,
    Payload,
    ensure_json,
    parse_events,
)

AT = datetime(2030, 1, 1, tzinfo=UTC)
ERROR = ErrorInfo(type="ValueError", message="boom")

SAMPLES: dict[str, Payload] = {
    "run_created": events.RunCreatedPayload(workflow="wf", input=[{"id": 1}]),
    "run_started": events.RunStartedPayload(worker_id="w1", graph_hash="abc"),
    "step_started": events.StepStartedPayload(step="s", attempt=1),
    "step_completed": events.StepCompletedPayload(step="s", output={"a": [1, 2.5]}, attempt=2),
    "step_retrying": events.StepRetryingPayload(step="s", attempt=1, error=ERROR, retry_at=AT),
    "step_failed": events.StepFailedPayload(step="s", attempt=3, error=ERROR),
    "wait_created": events.WaitCreatedPayload(until=AT, signal=None),
    "wait_completed": events.WaitCompletedPayload(outcome="signal"),
    "signal_received": events.SignalReceivedPayload(name="go", payload={"ok": True}),
    "signal_consumed": events.SignalConsumedPayload(name="go", payload=None, signal_seq=4),
    "rollback_started": events.RollbackStartedPayload(step="s"),
    "rollback_completed": events.RollbackCompletedPayload(step="s", output=None),
    "rollback_failed": events.RollbackFailedPayload(step="s", error=ERROR),
    "circuit_breaker_tripped": events.CircuitBreakerTrippedPayload(
        breaker="max_events", limit=1000
    ),
    "run_completed": events.RunCompletedPayload(result={"status": "completed"}),
    "run_failed": events.RunFailedPayload(error=ERROR),
    "run_cancelled": events.RunCancelledPayload(reason="requested"),
}


def test_the_vocabulary_is_the_spec_s_sixteen_types_and_rollback_started() -> None:
    assert EVENT_TYPES == (
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
    )
    assert set(SAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_round_trips_through_its_stored_form(event_type: str) -> None:
    payload = SAMPLES[event_type]
    draft = EventDraft(payload, key="n1:0")
    assert draft.type == event_type == payload.TYPE
    stored = (
        f'[{{"seq":7,"type":"{draft.type}","key":"n1:0",'
        f'"payload":{draft.payload_json},"at":"2030-01-01T00:00:00+00:00"}}]'
    )
    [event] = parse_events(stored)
    assert (event.seq, event.type, event.key, event.at) == (7, event_type, "n1:0", AT)
    assert event.payload == payload
    assert type(event).__name__ == type(payload).__name__.replace("Payload", "Event")


def test_event_times_come_back_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    payload = events.WaitCreatedPayload(until=datetime(2030, 1, 1, 2, tzinfo=plus_two))
    assert payload.until == AT
    assert payload.until is not None
    assert payload.until.tzinfo == UTC
    with pytest.raises(ValidationError, match="timezone-aware"):
        events.WaitCreatedPayload(until=datetime(2030, 1, 1))


def test_unknown_event_types_and_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_events(
            '[{"seq":1,"type":"step_exploded","key":null,"payload":{},"at":"2030-01-01T00:00:00Z"}]'
        )
    with pytest.raises(ValidationError):
        events.StepStartedPayload(step="s", attempt=1, extra=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        events.StepStartedPayload(step="s", attempt=0)


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ({"at": datetime(2030, 1, 1)}, "$.at", "datetime datetime.datetime(2030, 1, 1, 0, 0)"),
        ([1, [2, {3}]], "$[1][1]", "set {3}"),
        ({"n": float("nan")}, "$.n", "nan is not allowed in JSON"),
        ([float("inf")], "$[0]", "inf is not allowed in JSON"),
        ({"k": {1: "x"}}, "$.k", "dict key 1 is a int, not a str"),
        ({"pair": (1, 2)}, "$.pair", "a tuple comes back as a list after a replay, use a list"),
        (b"raw", "$", "bytes b'raw'"),
    ],
)
def test_non_json_values_are_refused_with_where_and_what(
    value: Any, path: str, problem: str
) -> None:
    with pytest.raises(NotJSONError) as caught:
        ensure_json(value, "step 'charge' output")
    error = caught.value
    assert (error.what, error.path, error.problem) == ("step 'charge' output", path, problem)
    where = "" if path == "$" else f" at {path}"
    assert str(error) == (
        f"step 'charge' output is not a JSON value{where}: {problem}; use dicts with str keys, "
        "lists, str, int, finite float, bool or None"
    )


class Colour(StrEnum):
    RED = "red"


def test_json_values_of_every_kind_are_accepted() -> None:
    ensure_json(
        {"s": "x", "i": 10**30, "f": -1.5, "b": False, "n": None, "l": [[], {}], "e": Colour.RED},
        "value",
    )


def test_a_draft_with_a_non_json_value_is_refused_when_built() -> None:
    with pytest.raises(NotJSONError) as caught:
        EventDraft(events.RunCompletedPayload(result={"items": [1, object()]}))
    assert str(caught.value).startswith(
        "run_completed result is not a JSON value at $.items[1]: object <object object at"
    )
    with pytest.raises(NotJSONError, match="signal_received payload is not a JSON value"):
        EventDraft(events.SignalReceivedPayload(name="go", payload={"s": {1}}))


def test_a_draft_serialises_its_payload_once_compactly() -> None:
    draft = EventDraft(events.StepCompletedPayload(step="s", output={"é": [1]}, attempt=1), "k")
    assert draft.payload_json == '{"step":"s","output":{"é":[1]},"attempt":1}'
    assert draft.key == "k"


def test_an_error_without_class_details_is_stored_as_type_and_message_only() -> None:
    # Logs written before the details existed load, and store back byte for byte.
    stored = '{"step":"s","attempt":3,"error":{"type":"ValueError","message":"boom"}}'
    draft = EventDraft(events.StepFailedPayload.model_validate_json(stored), "n1")
    assert draft.payload_json == stored


def test_an_error_records_its_class_json_args_and_json_attributes() -> None:
    class Declined(Exception):
        def __init__(self, code: str) -> None:
            super().__init__(f"declined {code}")
            self.code = code
            self.response = object()

    info = ErrorInfo.from_exception(Declined("R1"))
    assert info.model_dump() == {
        "type": "Declined",
        "message": "declined R1",
        "module": __name__,
        "qualname": Declined.__qualname__,
        "args": ["declined R1"],
        "attrs": {"code": "R1"},
    }
    assert ErrorInfo.from_exception(ValueError(object())).args is None
    assert ErrorInfo.from_exception(KeyError("k"), detail=False).model_dump() == {
        "type": "KeyError",
        "message": "'k'",
    }
    assert info.brief() == {"type": "Declined", "message": "declined R1"}
