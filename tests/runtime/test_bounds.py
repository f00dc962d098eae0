"""Every resource has a bound (issue 16): value size, buffered signals, history pages, events.

Each bound is set small through the store URL or the worker's option, hit on
every store, and refused with one line that names the limit and how to raise
it; nothing is written by a refused call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from runtime import (
    Client,
    ConfigurationError,
    MaxEventsExceeded,
    PayloadTooLarge,
    TooManySignals,
    Worker,
    WorkflowFailed,
    registered_workflows,
)
from runtime.cli import main as vrb_main
from runtime.events import EventDraft, SignalConsumedPayload
from runtime.graphs import GraphLibrary
from runtime.stores import StoreLimits, open_store

from . import bound_flows
from .conftest import FAST, run, types

_LIBRARY: GraphLibrary | None = None


def bound_library() -> GraphLibrary:
    """The in-process compiled graphs of tests.runtime.bound_flows (compiled once per process)."""
    global _LIBRARY
    if _LIBRARY is None:
        names = sorted(
            name
            for name, flow in registered_workflows().items()
            if getattr(flow.fn, "__module__", None) == bound_flows.__name__
        )
        _LIBRARY = GraphLibrary()
        _LIBRARY.load(names)
    return _LIBRARY


@pytest.fixture(autouse=True)
def reset_calls() -> Iterator[None]:
    bound_flows.CALLS.clear()
    yield
    bound_flows.CALLS.clear()


@contextlib.asynccontextmanager
async def serving(client: Client, **options: Any) -> AsyncIterator[Worker]:
    worker = Worker(client, bound_library(), **{**FAST, **options})
    task = asyncio.create_task(worker.start(*bound_library().names()))
    try:
        yield worker
    finally:
        await worker.stop()
        await task


def with_option(url: str, name: str, value: int) -> str:
    return f"{url}{'&' if '?' in url else '?'}{name}={value}"


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    assert len(text) < 600, text
    return text


# --------------------------------------------------------------------------- payload size


def test_a_value_over_max_payload_bytes_is_refused_and_nothing_is_written(store_url: str) -> None:
    url = with_option(store_url, "max_payload_bytes", 1000)

    async def scenario(client: Client) -> None:
        # ["x...x"]: the string and four characters of JSON around it.
        await client.workflow.trigger("wf", ["x" * 996], run_id="at-the-limit")
        with pytest.raises(PayloadTooLarge) as caught:
            await client.workflow.trigger("wf", ["x" * 997], run_id="over-the-limit")
        message = one_line(caught.value)
        assert "1001 bytes" in message
        assert "1000 bytes" in message
        assert "?max_payload_bytes=N in the store URL" in message
        assert (caught.value.limit, caught.value.option) == (1000, "max_payload_bytes")
        page = await client.workflow.list_runs()
        assert [run.run_id for run in page.items] == ["at-the-limit"]

        await client.workflow.send_signal("at-the-limit", "s", "y" * 998)  # "y..y": 1000 bytes
        with pytest.raises(PayloadTooLarge, match="payload of signal 's'"):
            await client.workflow.send_signal("at-the-limit", "s", {"big": "y" * 5000})
        history = await client.workflow.history("at-the-limit")
        assert types(history) == ["run_created", "signal_received"]

    run(scenario, url)


def test_a_huge_trigger_is_refused_before_it_is_serialised(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        with pytest.raises(PayloadTooLarge) as caught:
            await client.workflow.trigger("wf", [{"blob": "x" * (5 * 1024 * 1024)}])
        assert "at least 5.0 MiB" in one_line(caught.value)  # the default: 2 MiB
        assert "more than the 2.0 MiB (2097152 bytes)" in str(caught.value)
        assert (await client.workflow.list_runs()).items == []

    run(scenario, store_url)


def test_the_limit_is_also_a_keyword_of_open_store() -> None:
    store = open_store("memory://", limits=StoreLimits(max_payload_bytes=10))
    client = Client(store)
    with pytest.raises(PayloadTooLarge):
        client.sync.workflow.trigger("wf", ["0123456789"])
    client.sync.close()
    with pytest.raises(ConfigurationError, match="max_buffered_signals must be"):
        StoreLimits(max_buffered_signals=0)


def test_a_step_output_over_the_limit_fails_the_step_for_good(store_url: str) -> None:
    url = with_option(store_url, "max_payload_bytes", 1000)

    async def scenario(client: Client) -> None:
        async with serving(client):
            handle = await client.workflow.trigger("bd-blob", [2000])
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=30)
        assert "PayloadTooLarge" in str(caught.value)
        assert bound_flows.CALLS == [("blob", 2000)]  # refused, not retried
        history = await client.workflow.history(handle.run_id)
        assert types(history)[-2:] == ["step_failed", "run_failed"]

        async with serving(client):
            handle = await client.workflow.trigger("bd-big-result", [2000])
            with pytest.raises(WorkflowFailed, match="PayloadTooLarge"):
                await client.workflow.result(handle.run_id, timeout=30)

    run(scenario, url)


# --------------------------------------------------------------------------- signals


def test_a_run_holds_at_most_max_buffered_signals(store_url: str) -> None:
    url = with_option(store_url, "max_buffered_signals", 3)

    async def scenario(client: Client) -> None:
        store = client.store
        await client.workflow.trigger("wf", [], run_id="r")
        for index in range(3):
            await client.workflow.send_signal("r", "s", index)
        with pytest.raises(TooManySignals) as caught:
            await client.workflow.send_signal("r", "s", 3)
        message = one_line(caught.value)
        assert "3 signals buffered" in message
        assert "?max_buffered_signals=N" in message
        assert (await client.workflow.get_run("r")).last_seq == 4  # nothing was written

        # A signal the run takes makes room for one more.
        (claim,) = await store.claim("w")
        signal = await store.next_signal("r", "s")
        assert signal is not None
        consumed = SignalConsumedPayload(name="s", payload=signal.payload, signal_seq=signal.seq)
        await store.append(claim.lease, [EventDraft(consumed)], consume_signals=[signal.seq])
        await client.workflow.send_signal("r", "s", 4)
        with pytest.raises(TooManySignals):
            await client.workflow.send_signal("r", "s", 5)
        seqs = [event.seq for event in await client.workflow.history("r")]
        assert seqs == list(range(1, 7))

    run(scenario, url)


# --------------------------------------------------------------------------- history pages


def test_history_pages_through_a_run(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        await client.workflow.trigger("wf", [], run_id="long")
        for index in range(24):
            await client.workflow.send_signal("long", "s", index)
        everything = await client.workflow.history("long")
        assert len(everything) == 25
        pages: list[Any] = []
        after = 0
        while page := await client.workflow.history("long", after_seq=after, limit=7):
            assert len(page) <= 7
            pages.extend(page)
            after = page[-1].seq
        assert [e.seq for e in pages] == [e.seq for e in everything]
        assert await client.workflow.history("long", after_seq=25) == []
        for bad in ({"after_seq": -1}, {"limit": 0}, {"limit": True}, {"after_seq": 2**70}):
            with pytest.raises(ConfigurationError):
                await client.workflow.history("long", **bad)

    run(scenario, store_url)


def test_vrb_runs_history_and_show_print_one_page(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'vrb.db'}"

    async def seed(client: Client) -> None:
        await client.workflow.trigger("wf", [], run_id="long")
        for index in range(9):
            await client.workflow.send_signal("long", "s", index)

    run(seed, db)
    assert (
        vrb_main(["runs", "history", "long", "--limit", "4", "--after", "2", "--json", "--db", db])
        == 0
    )
    printed = capsys.readouterr()
    document = json.loads(printed.out)
    assert [event["seq"] for event in document["events"]] == [3, 4, 5, 6]
    assert document["next_after"] == 6
    assert "more events: add --after 6" in printed.err
    assert vrb_main(["runs", "history", "long", "--after", "6", "--json", "--db", db]) == 0
    last = capsys.readouterr()
    assert [e["seq"] for e in json.loads(last.out)["events"]] == [7, 8, 9, 10]
    assert json.loads(last.out)["next_after"] is None
    assert last.err == ""

    assert vrb_main(["runs", "show", "long", "--limit", "3", "--db", db]) == 0
    shown = capsys.readouterr()
    assert "events    10" in shown.out
    rows = [line for line in shown.out.splitlines() if "signal_received" in line]
    assert [row.split()[0] for row in rows] == ["8", "9", "10"]
    assert "showing events 8 to 10 of 10" in shown.err
    assert vrb_main(["runs", "history", "long", "--after", "-1", "--db", db]) == 2
    assert "expected an event seq" in capsys.readouterr().err


# --------------------------------------------------------------------------- events


def test_the_default_event_cap_stops_a_loop_without_max_events(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        async with serving(client, default_max_events=30):
            handle = await client.workflow.trigger("bd-forever", [])
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=60)
        assert caught.value.error["type"] == "MaxEventsExceeded"
        message = caught.value.error["message"]
        assert "the worker's cap for workflows without max_events" in message
        assert "vrb worker --default-max-events N" in message
        history = await client.workflow.history(handle.run_id)
        tripped = [e for e in history if e.type == "circuit_breaker_tripped"]
        assert [(e.payload.breaker, e.payload.limit) for e in tripped] == [("max_events", 30)]
        assert bound_flows.CALLS == [
            ("book", "forever"),
            ("unbook", "MaxEventsExceeded", "booked-forever"),
        ]
        assert [e.seq for e in history] == list(range(1, len(history) + 1))

    run(scenario, store_url)


def test_the_default_event_cap_is_checked_and_can_be_lifted() -> None:
    client = Client("memory://")
    with pytest.raises(ConfigurationError, match="default_max_events"):
        Worker(client, bound_library(), default_max_events=0)
    assert (
        Worker(client, bound_library(), default_max_events=None).settings.default_max_events is None
    )
    error = MaxEventsExceeded(7, default=True)
    assert "raise the cap with Worker(default_max_events=N)" in str(error)
    assert str(MaxEventsExceeded(7)) == "the run reached its limit of 7 events (max_events)"
