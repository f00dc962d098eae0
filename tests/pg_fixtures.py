"""PostgreSQL test fixtures, shared by every test package that needs the real server.

Import them into a ``conftest.py`` (``from tests.pg_fixtures import *``).

Tests use the server named by ``VRB_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). When it cannot be reached they
skip, saying why - except under ``CI=true``, where they fail: CI must not go
green without having run them. Each test gets a schema of its own
(``?schema=vrb_test_...``), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "drop_schema",
    "postgres_schema",
    "postgres_server",
    "postgres_server_url",
    "postgres_url",
    "with_schema",
]

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_server_url() -> str:
    """The test server's URL (without a schema)."""
    return os.environ.get("VRB_TEST_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES_URL


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema=...`` added to its query string."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def _unavailable(url: str) -> str | None:
    """Why the PostgreSQL tests cannot run, or ``None`` when they can."""
    try:
        import psycopg
    except ModuleNotFoundError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        first = " ".join(str(error).split())
        return (
            f"PostgreSQL at {url} is unreachable ({first}); start it or set VRB_TEST_POSTGRES_URL"
        )
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The reachable test server's URL; skips (fails under CI=true) when there is none."""
    url = postgres_server_url()
    reason = _unavailable(url)
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return url


def drop_schema(server: str, schema: str) -> None:
    """Drop a test schema and everything in it."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_schema(postgres_server: str) -> Iterator[str]:
    """A fresh schema name on the test server, dropped after the test."""
    schema = f"vrb_test_{uuid.uuid4().hex[:16]}"
    yield schema
    drop_schema(postgres_server, schema)


@pytest.fixture
def postgres_url(postgres_server: str, postgres_schema: str) -> str:
    """A store URL on the test server whose schema only this test uses."""
    return with_schema(postgres_server, postgres_schema)
