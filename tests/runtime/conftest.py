"""Fixtures for runtime behaviour tests: every test runs on the memory, SQLite and PostgreSQL stores.

PostgreSQL runs get a fresh schema each (tests/pg_fixtures.py): skipped without a
server, failed under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import Client, Worker
from runtime.graphs import GraphLibrary
from tests.pg_fixtures import (  # noqa: F401 - fixtures are found by name
    postgres_schema,
    postgres_server,
    postgres_url,
)

from . import flows

FAST = {
    "poll_interval": 0.05,
    "heartbeat_interval": 0.2,
    "lease_timeout": 2.0,
    "retry_delay": 0.1,
}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for each backend."""
    if request.param == "memory":
        return "memory://"
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'vrb.db'}"


@pytest.fixture(autouse=True)
def reset_flows() -> Iterator[None]:
    """Each test starts with an empty effect log and default switches."""
    flows.CALLS.clear()
    flows.FLAKY_FAILURES = 2
    flows.BRANCH_FLAG = True
    yield
    flows.CALLS.clear()


_LIBRARY: GraphLibrary | None = None


def library() -> GraphLibrary:
    """The in-process compiled graphs of tests.runtime.flows (compiled once per process)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = GraphLibrary()
        _LIBRARY.load(list(_names()))
    return _LIBRARY


def _names() -> list[str]:
    from runtime import registered_workflows

    return sorted(
        name
        for name, flow in registered_workflows().items()
        if getattr(flow.fn, "__module__", None) == flows.__name__
    )


@contextlib.asynccontextmanager
async def serving(client: Client, **options: Any) -> AsyncIterator[Worker]:
    """A worker serving the test workflows in the background."""
    worker = Worker(client, library(), **{**FAST, **options})
    task = asyncio.create_task(worker.start(*library().names()))
    try:
        yield worker
    finally:
        await worker.stop()
        await task


def run(scenario: Callable[[Client], Coroutine[Any, Any, Any]], url: str) -> Any:
    """Run ``scenario(client)`` on a fresh client of ``url``."""

    async def main() -> Any:
        client = Client(url)
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


def types(events: list[Any], key: str | None = None) -> list[str]:
    """Event types (of one key, if given) in order."""
    return [event.type for event in events if key is None or event.key == key]
