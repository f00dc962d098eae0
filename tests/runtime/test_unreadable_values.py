"""Values the store could write but never read back are refused at the door (issue 14, item 10).

A step returning ``10**5000`` used to be committed, after which the run's history
never parsed again (``number out of range``): the run stayed ``waiting`` for good.
Every place a value enters a run now refuses, with the store reader's own limits,
what that reader would not take back, on every store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from runtime import Client, Worker, WorkflowFailed
from runtime.events import (
    MAX_JSON_DEPTH,
    MAX_JSON_INT_DIGITS,
    ErrorInfo,
    EventDraft,
    NotJSONError,
    StepCompletedPayload,
    StepFailedPayload,
    ensure_json,
)
from runtime.graphs import GraphLibrary
from runtime.stores._codec import decode_events

from . import unreadable_flows as flows
from .conftest import FAST, run, types

LARGEST = 10**MAX_JSON_INT_DIGITS - 1
"""The largest int the store reads back: 4300 nines."""


def nested(depth: int, inner: Any = 1) -> Any:
    """``inner`` inside ``depth`` lists."""
    value = inner
    for _ in range(depth):
        value = [value]
    return value


# --------------------------------------------------------------------------- the door


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        (
            10**MAX_JSON_INT_DIGITS,
            "$",
            "an int of 4301 digits is more than the 4300 digits the store reads back",
        ),
        (
            {"n": [-(10**5000)]},
            "$.n[0]",
            "an int of 5001 digits is more than the 4300 digits the store reads back",
        ),
    ],
    ids=["4301-digits", "5001-digits-inside"],
)
def test_ints_longer_than_the_store_reads_back_are_refused_naming_where(
    value: Any, path: str, problem: str
) -> None:
    with pytest.raises(NotJSONError) as caught:
        ensure_json(value, "output of step 'big'")
    error = caught.value
    assert (error.what, error.path, error.problem) == ("output of step 'big'", path, problem)
    where = "" if path == "$" else f" at {path}"
    assert str(error) == (
        f"output of step 'big' cannot be stored{where}: {problem}; store it as a str"
    )


def test_the_longest_ints_the_store_reads_back_are_accepted() -> None:
    ensure_json([LARGEST, -LARGEST, True, 0], "value")


@pytest.mark.parametrize(
    ("value", "path"),
    [("caf\udce9", "$"), ({"ok": ["x", "\ud800 first half"]}, "$.ok[1]")],
    ids=["top", "inside"],
)
def test_strs_with_a_lone_surrogate_are_refused(value: Any, path: str) -> None:
    with pytest.raises(NotJSONError) as caught:
        ensure_json(value, "payload of signal 'go'")
    assert caught.value.path == path
    assert "holds a lone surrogate" in caught.value.problem
    assert str(caught.value).startswith("payload of signal 'go' cannot be stored")
    assert "\n" not in str(caught.value)


def test_a_dict_key_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(NotJSONError) as caught:
        ensure_json({"a": {"\udcff": 1}}, "value")
    assert caught.value.path == "$.a"
    assert (
        caught.value.problem
        == "dict key '\\udcff' holds a lone surrogate, which UTF-8 cannot encode"
    )


def test_values_nested_deeper_than_the_store_reads_back_are_refused() -> None:
    ensure_json(nested(MAX_JSON_DEPTH), "value")
    with pytest.raises(NotJSONError) as caught:
        ensure_json({"deep": nested(MAX_JSON_DEPTH)}, "value")
    assert caught.value.problem == (
        f"lists and dicts nest more than {MAX_JSON_DEPTH} deep, more than the store reads back"
    )
    assert caught.value.path == "$.deep" + "[0]" * (MAX_JSON_DEPTH - 1)
    assert len(str(caught.value)) < 300, "the message shortens a long path"


def test_the_limits_are_the_store_readers_own() -> None:
    # What the door lets through at its limits reads back, in the deepest place a
    # value sits in a stored event (an error's attribute); a little beyond does not.
    info = ErrorInfo(type="E", message="m", attrs={"deep": nested(MAX_JSON_DEPTH, LARGEST)})
    draft = EventDraft(StepFailedPayload(step="s", attempt=1, error=info), "k")
    (event,) = decode_events(
        [(1, draft.type, "k", draft.payload_json, "2030-01-01T00:00:00+00:00")]
    )
    assert event.payload == draft.payload
    too_long = draft.payload_json.replace(
        "9" * MAX_JSON_INT_DIGITS, "9" * (MAX_JSON_INT_DIGITS + 1)
    )
    with pytest.raises(ValueError, match="number out of range"):
        decode_events([(1, draft.type, "k", too_long, "2030-01-01T00:00:00+00:00")])
    # The depth limit keeps a margin of a few levels below the reader's.
    deeper = ErrorInfo(type="E", message="m", attrs={"deep": nested(MAX_JSON_DEPTH + 10)})
    too_deep = StepFailedPayload(step="s", attempt=1, error=deeper).model_dump_json()
    with pytest.raises(ValueError, match="recursion limit exceeded"):
        decode_events([(1, draft.type, "k", too_deep, "2030-01-01T00:00:00+00:00")])


def test_a_draft_refuses_an_error_carrying_values_the_store_cannot_read_back() -> None:
    with pytest.raises(NotJSONError) as caught:
        EventDraft(
            StepFailedPayload(
                step="pay", attempt=1, error=ErrorInfo(type="E", message="m", args=[10**5000])
            )
        )
    assert str(caught.value).startswith(
        "step_failed error args of step 'pay' cannot be stored at $[0]: an int of 5001 digits"
    )
    with pytest.raises(NotJSONError, match=r"step_failed error attribute 'n' of step 'pay'"):
        EventDraft(
            StepFailedPayload(
                step="pay", attempt=1, error=ErrorInfo(type="E", message="m", attrs={"n": 10**5000})
            )
        )


def test_a_draft_whose_payload_cannot_be_serialised_is_refused_as_not_json() -> None:
    with pytest.raises(NotJSONError) as caught:
        EventDraft(StepCompletedPayload(step="half \ud800", output=1, attempt=1))
    assert str(caught.value).startswith("step_completed payload cannot be stored: ")
    assert "surrogates not allowed" in str(caught.value)


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def test_an_error_info_leaves_out_what_the_store_cannot_read_back() -> None:
    error = ValueError(10**5000)
    error.huge = 10**5000  # type: ignore[attr-defined]
    error.fine = "kept"  # type: ignore[attr-defined]
    info = ErrorInfo.from_exception(error)
    assert (info.type, info.args, info.attrs) == ("ValueError", None, {"fine": "kept"})
    assert info.message == "<ValueError: its str() raised ValueError>"
    assert ErrorInfo.from_exception(_Unprintable()).message == (
        "<_Unprintable: its str() raised RuntimeError>"
    )
    assert ErrorInfo.from_exception(OSError("caf\udce9")).message == "caf\\udce9"
    EventDraft(StepFailedPayload(step="s", attempt=1, error=info))


# --------------------------------------------------------------------------- runs, every store

_LIBRARY: GraphLibrary | None = None


def _library() -> GraphLibrary:
    global _LIBRARY
    if _LIBRARY is None:
        from runtime import registered_workflows

        _LIBRARY = GraphLibrary()
        _LIBRARY.load(
            sorted(
                name
                for name, flow in registered_workflows().items()
                if getattr(flow.fn, "__module__", None) == flows.__name__
            )
        )
    return _LIBRARY


@asynccontextmanager
async def serving(client: Client) -> AsyncIterator[Worker]:
    """A worker serving the workflows of :mod:`tests.runtime.unreadable_flows`."""
    worker = Worker(client, _library(), **FAST)
    task = asyncio.create_task(worker.start(*_library().names()))
    try:
        yield worker
    finally:
        await worker.stop()
        await task


@pytest.fixture(autouse=True)
def reset_calls() -> Iterator[None]:
    flows.CALLS.clear()
    yield
    flows.CALLS.clear()


async def _failed(client: Client, workflow: str) -> tuple[dict[str, str], list[Any]]:
    handle = await client.workflow.trigger(workflow)
    async with serving(client):
        with pytest.raises(WorkflowFailed) as caught:
            await client.workflow.result(handle.run_id, timeout=10)
    assert caught.value.error is not None
    return caught.value.error, await client.workflow.history(handle.run_id)


@pytest.mark.parametrize(
    ("workflow", "call", "problem"),
    [
        (
            "u-huge-output",
            "huge",
            "output of step 'u-huge' cannot be stored: an int of 5001 digits is more than "
            "the 4300 digits the store reads back; store it as a str",
        ),
        (
            "u-surrogate-output",
            "surrogate",
            "output of step 'u-surrogate' cannot be stored: the str 'half a pair: \\ud800' "
            "holds a lone surrogate",
        ),
        (
            "u-deep-output",
            "deep",
            "output of step 'u-deep' cannot be stored at $[0][0][0]",
        ),
    ],
    ids=["huge-int", "lone-surrogate", "too-deep"],
)
def test_a_step_output_the_store_cannot_read_back_fails_the_step_without_retrying(
    store_url: str, workflow: str, call: str, problem: str
) -> None:
    async def scenario(client: Client) -> None:
        error, history = await _failed(client, workflow)
        assert error["type"] == "StepFailed"
        assert f"NotJSONError: {problem}" in error["message"]
        assert types(history) == [
            "run_created",
            "run_started",
            "step_started",
            "step_failed",
            "run_failed",
        ]

    run(scenario, store_url)
    assert [call] == flows.CALLS


def test_a_workflow_result_the_store_cannot_read_back_fails_the_run(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        error, history = await _failed(client, "u-huge-result")
        assert error == {
            "type": "NotJSONError",
            "message": "result of workflow 'u-huge-result' cannot be stored at $.total: an int "
            "of 5001 digits is more than the 4300 digits the store reads back; store it as a str",
        }
        assert types(history) == ["run_created", "run_started", "run_failed"]

    run(scenario, store_url)


def test_a_rollback_output_the_store_cannot_read_back_is_recorded_as_none(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        error, history = await _failed(client, "u-huge-rollback")
        assert error["type"] == "StepFailed"
        rollbacks = [event for event in history if event.type == "rollback_completed"]
        assert [(event.payload.step, event.payload.output) for event in rollbacks] == [
            ("u-reserve", None)
        ]

    run(scenario, store_url)
    assert flows.CALLS == ["reserve", "overdraw", "undo"]


def test_a_step_error_keeps_only_what_the_store_can_read_back(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("u-huge-error")
        async with serving(client):
            result = await client.workflow.result(handle.run_id, timeout=10)
        assert result == {"type": "Overdrawn", "account": "acct-1"}
        history = await client.workflow.history(handle.run_id)
        (failed,) = [event for event in history if event.type == "step_failed"]
        error = failed.payload.error
        assert (error.message, error.args, error.attrs) == (
            "overdrawn",
            None,
            {"account": "acct-1"},
        )

    run(scenario, store_url)


def test_trigger_refuses_an_input_the_store_cannot_read_back_and_writes_nothing(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        with pytest.raises(NotJSONError) as caught:
            await client.workflow.trigger("u-huge-output", {"amount": 10**5000}, run_id="r")
        assert str(caught.value).startswith(
            "args of workflow 'u-huge-output' cannot be stored at $.amount: an int of 5001 digits"
        )
        assert (await client.workflow.list_runs()).items == []

    run(scenario, store_url)


def test_send_signal_refuses_a_payload_the_store_cannot_read_back_and_writes_nothing(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("u-huge-output")
        for payload in (10**5000, {"text": "\udce9"}, nested(MAX_JSON_DEPTH + 1)):
            with pytest.raises(NotJSONError, match="payload of signal 's' cannot be stored"):
                await client.workflow.send_signal(handle.run_id, "s", payload)
        history = await client.workflow.history(handle.run_id)
        assert types(history) == ["run_created"]
        assert (await client.workflow.get_run(handle.run_id)).status == "pending"

    run(scenario, store_url)
