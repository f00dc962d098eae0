"""Fuzzing store URLs: any URL opens a store that works, or is refused in one line; nothing else.

Generated URLs (:func:`tests.fuzz.cli_strategies.store_urls`): SQLite paths
with NULs, bad escapes and missing directories, every query option wrong;
PostgreSQL URLs with ports ``99999`` and ``abc``, an IPv6 host missing its
bracket, ``schema=`` empty, repeated, a system schema or no identifier, pool
sizes of 5,000 digits, ``options=`` in each spelling; the password-bearing URLs
of :func:`tests.strategies.secret_urls`; and junk. Each goes to
:func:`runtime.stores.open_store`, which must return a store that round-trips a
run or raise a :class:`~runtime.errors.VrbError` whose message is one line; and
to ``vrb`` (in this process), which must exit 0 or 2 with one line. Then the
same with the real PostgreSQL server behind the URL, in a schema of the test's
own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runtime.errors import VrbError
from runtime.stores import Store, open_store
from tests.fuzz.cli_strategies import store_urls
from tests.fuzz.vrb_harness import assert_well_behaved, run_vrb
from tests.pg_fixtures import (  # noqa: F401 - postgres_server is a fixture, found by name
    drop_schema,
    postgres_server,
)
from tests.properties import budget

# The examples share the fixture's directory and store on purpose: what one command
# wrote, the next reads, and the store must stay whole across all of them.
_SHARED = [HealthCheck.function_scoped_fixture]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory: relative SQLite paths land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VRB_DATABASE_URL", raising=False)
    monkeypatch.delenv("VRB_CODEC", raising=False)
    monkeypatch.delenv("VRB_DEBUG", raising=False)
    return tmp_path


def _round_trip(store: Store) -> None:
    """A run created, read back and its history read: an opened store works."""

    async def use() -> None:
        try:
            run_id = f"url-fuzz-{uuid.uuid4().hex}"
            await store.create_run(run_id, "fuzz-echo", [1])
            assert (await store.get_run(run_id)).workflow_name == "fuzz-echo"
            assert [event.seq for event in await store.history(run_id)] == [1]
        finally:
            await store.close()

    asyncio.run(use())


def _open_or_refuse(url: str) -> None:
    try:
        store = open_store(url)
    except VrbError as error:
        message = str(error)
        assert message, url
        assert "\n" not in message, (url, message)
        assert "\r" not in message, (url, message)
        assert "Traceback" not in message
        return
    _round_trip(store)


_KNOWN = [
    "sqlite:///a%00b.db",
    "sqlite:///a\x00b.db",
    "sqlite:///a.db?busy_timeout=" + "9" * 5000,
    "sqlite:///a.db?busy_timeout=\u00b2",
    "sqlite:///nosuchdir/a.db",
    "postgresql://u@127.0.0.1:99999/vrb_no_such_db",
    "postgresql://u@127.0.0.1:abc/vrb_no_such_db",
    "postgresql://u@[::1/vrb_no_such_db",
    "postgresql://u@127.0.0.1:1/vrb_no_such_db?pool_max_size=" + "9" * 5000,
    "postgresql://u@127.0.0.1:1/vrb_no_such_db?schema=information_schema",
    "postgresql://u@127.0.0.1:1/vrb_no_such_db?schema=&schema=x",
]


@settings(max_examples=budget("fuzz_store_urls_open"), suppress_health_check=_SHARED)
@given(data=st.data())
@example(data=None)
def test_open_store_opens_a_working_store_or_refuses_in_one_line(
    in_tmp: Path, data: st.DataObject | None
) -> None:
    urls = _KNOWN if data is None else [data.draw(store_urls(str(in_tmp)), label="url")]
    for url in urls:
        _open_or_refuse(url)


@settings(max_examples=budget("fuzz_store_urls_cli"), suppress_health_check=_SHARED)
@given(data=st.data())
@example(data=None)
def test_vrb_given_any_store_url_exits_0_or_2_with_one_line(
    in_tmp: Path, data: st.DataObject | None
) -> None:
    urls = _KNOWN if data is None else [data.draw(store_urls(str(in_tmp)), label="url")]
    for url in urls:
        for command in (["runs", "list"], ["trigger", "fuzz-echo", "--args", "[1]"]):
            outcome = run_vrb([*command, "--db", url])
            assert_well_behaved(outcome)
            assert outcome.status in (0, 2), outcome


# --------------------------------------------------------------------------- the real server

_LIBPQ_ITEMS = [
    "options=-c%20search_path%3Dpublic",
    "options=-c%20statement_timeout%3D5000",
    "options=-c+search_path%3Dpublic",
    "options=-c%20bogus%3D1",
    "options=%zz",
    "application_name=a+b",
    "application_name=%C3%A9",
    "connect_timeout=5",
    "connect_timeout=" + "9" * 5000,
    "sslmode=disable",
    "sslmode=bogus",
    "foo=bar",
    "pool_min_size=1",
    "pool_max_size=2",
    "pool_max_size=0",
    "pool_timeout=5",
    "pool_timeout=" + "9" * 30,
    "schema=",
    "schema=pg_catalog",
    "schema=information_schema",
    "schema=" + "a" * 64,
    "schema=a-b",
]


@pytest.fixture(scope="module")
def fuzz_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The test server and one schema on it that every URL of the property names; dropped after."""
    server: str = request.getfixturevalue("postgres_server")
    schema = f"vrb_test_fuzz_{uuid.uuid4().hex[:12]}"
    yield server, schema
    drop_schema(server, schema)


@settings(max_examples=budget("fuzz_store_urls_cli"))
@given(items=st.lists(st.sampled_from(_LIBPQ_ITEMS), max_size=3))
def test_a_url_on_the_real_server_opens_its_schema_or_is_refused_in_one_line(
    fuzz_server: tuple[str, str], items: list[str]
) -> None:
    server, schema = fuzz_server
    # The test's schema comes first: a refused schema option after it is a second one.
    query = "&".join([f"schema={schema}", *items])
    url = f"{server}{'&' if '?' in server else '?'}{query}"
    _open_or_refuse(url)
