"""Fuzzing the client API: hostile arguments get a documented error in one line; the store stays whole.

Generated calls (:mod:`tests.fuzz.api_strategies`) - ``trigger``, ``send_signal``,
``get_run``, ``list_runs``, ``history``, ``cancel``, ``result``,
``workflow_stats.get`` with wrong types, surrogates, NULs and controls, ids of a
megabyte, values nested 300 deep or over the size bound, 5,000-digit ints,
tampered cursors - run on the memory, SQLite and PostgreSQL stores, one after
another and many at once, and through the sync facade. Properties:

* only documented exceptions escape: :class:`~runtime.errors.VrbError`
  subclasses (``ConfigurationError`` and the limits are ``ValueError`` s,
  ``NotJSONError`` a ``TypeError``), and the builtin ``TimeoutError`` of
  ``result``; never a driver's error, ``OverflowError``, ``RecursionError``,
  an unhashable ``TypeError`` or a pydantic error;
* each message is one line of bounded length;
* the store stays consistent: every run listed reads back, its seqs run 1..n
  with ``last_seq == n``, its log starts with ``run_created``, it holds at most
  :data:`~tests.fuzz.api_strategies.MAX_SIGNALS` signals and values of at most
  :data:`~tests.fuzz.api_strategies.MAX_PAYLOAD` bytes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import Client
from runtime._json_values import _least_size, json_size
from runtime.errors import VrbError
from tests.fuzz.api_strategies import MAX_PAYLOAD, MAX_SIGNALS, calls, values
from tests.pg_fixtures import (  # noqa: F401 - fixtures are found by name
    drop_schema,
    postgres_server,
    with_schema,
)
from tests.properties import budget

MAX_MESSAGE = 1000
"""The longest message a refusal may have (ids and values in it are cut)."""

_OPTIONS = f"max_payload_bytes={MAX_PAYLOAD}&max_buffered_signals={MAX_SIGNALS}"

_SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL per backend, with small bounds; the examples of one test share its store."""
    if request.param == "memory":
        # A memory store lives as long as its object: the test's examples share one.
        url = f"memory://?{_OPTIONS}#{uuid.uuid4().hex}"
        _MEMORY[url] = Client(url.partition("#")[0])
        yield url
        del _MEMORY[url]
        return
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vrb.db'}?{_OPTIONS}"
        return
    server: str = request.getfixturevalue("postgres_server")
    schema = f"vrb_fuzz_{uuid.uuid4().hex[:16]}"
    yield with_schema(server, schema) + "&" + _OPTIONS
    drop_schema(server, schema)


_MEMORY: dict[str, Client] = {}


def _client(url: str) -> Client:
    return _MEMORY[url] if url in _MEMORY else Client(url)


def _documented(method: str, error: BaseException) -> None:
    allowed = isinstance(error, VrbError) or (method == "result" and type(error) is TimeoutError)
    assert allowed, f"{method} raised {type(error).__name__}: {str(error)[:300]}"
    message = str(error)
    assert message, f"{method} raised {type(error).__name__} without a message"
    assert "\n" not in message, (method, message[:300])
    assert "\r" not in message, (method, message[:300])
    assert len(message) <= MAX_MESSAGE, (method, len(message), message[:300])


async def _call(client: Client, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    api = client.workflow_stats if method == "stats" else client.workflow
    function = getattr(api, "get" if method == "stats" else method)
    try:
        await function(*args, **kwargs)
    except Exception as error:
        _documented(method, error)


async def _consistent(client: Client) -> None:
    """Every run reads back whole: contiguous seqs, a first event, bounded inbox and values."""
    cursor = None
    while True:
        page = await client.workflow.list_runs(limit=100, cursor=cursor)
        for run in page.items:
            again = await client.workflow.get_run(run.run_id)
            events = await client.workflow.history(run.run_id)
            assert [event.seq for event in events] == list(range(1, len(events) + 1))
            assert again.last_seq == len(events), (run.run_id, again.last_seq, len(events))
            assert events[0].type == "run_created"
            received = [event for event in events if event.type == "signal_received"]
            assert len(received) <= MAX_SIGNALS, (run.run_id, len(received))
            for event in events:
                for field in event.payload.JSON_FIELDS:
                    assert json_size(getattr(event.payload, field)) <= MAX_PAYLOAD
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _run(
    url: str, batch: list[tuple[str, tuple[Any, ...], dict[str, Any]]], *, at_once: bool
) -> None:
    async def main() -> None:
        client = _client(url)
        try:
            if at_once:
                await asyncio.gather(*(_call(client, *call) for call in batch))
            else:
                for call in batch:
                    await _call(client, *call)
            await _consistent(client)
        finally:
            if url not in _MEMORY:
                await client.close()

    asyncio.run(main())


@given(batch=st.lists(calls(), min_size=1, max_size=12))
@settings(max_examples=budget("fuzz_client_api"), suppress_health_check=_SHARED)
def test_hostile_calls_raise_documented_errors_and_keep_the_store_whole(
    store_url: str, batch: list[tuple[str, tuple[Any, ...], dict[str, Any]]]
) -> None:
    _run(store_url, batch, at_once=False)


@given(batch=st.lists(calls(), min_size=2, max_size=16))
@settings(max_examples=budget("fuzz_client_api_concurrent"), suppress_health_check=_SHARED)
def test_concurrent_hostile_calls_keep_the_store_whole(
    store_url: str, batch: list[tuple[str, tuple[Any, ...], dict[str, Any]]]
) -> None:
    # Signals to one run from many callers at once: its inbox bound holds exactly.
    flood = [("send_signal", ("r1", "s", index), {}) for index in range(MAX_SIGNALS + 2)]
    _run(store_url, [("trigger", ("wf", []), {"run_id": "r1"}), *flood, *batch], at_once=True)


@given(batch=st.lists(calls(), min_size=1, max_size=6))
@settings(max_examples=budget("fuzz_client_api_sync"), suppress_health_check=_SHARED)
def test_the_sync_facade_raises_the_same_documented_errors(
    tmp_path_factory: pytest.TempPathFactory,
    batch: list[tuple[str, tuple[Any, ...], dict[str, Any]]],
) -> None:
    path = tmp_path_factory.mktemp("sync") / "vrb.db"
    with Client(f"sqlite:///{path}?{_OPTIONS}").sync as sync:
        for method, args, kwargs in batch:
            api = sync.workflow_stats if method == "stats" else sync.workflow
            try:
                getattr(api, "get" if method == "stats" else method)(*args, **kwargs)
            except Exception as error:
                _documented(method, error)


@given(value=values())
@settings(max_examples=budget("fuzz_client_api_sizes"))
def test_the_size_bound_never_exceeds_the_real_size(value: Any) -> None:
    # What lets a huge value be refused before it is serialised: a lower bound.
    from runtime._json_values import find_problem

    if find_problem(value) is None:
        assert _least_size(value) <= json_size(value)
