"""A store URL's options: libpq's reach it intact, the store's are refused when wrong, never guessed.

``options=-c%20search_path%3Dpublic`` used to reach libpq as ``+search_path``
(the query was form-decoded and encoded again); ``schema=`` empty or repeated
fell back silently; ``schema=information_schema`` put the store's tables there;
numbers were ``int()`` of anything. Refusals come before any connection: the
hosts below refuse connections, so a refusal that names the option is the URL's.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from runtime import ConfigurationError
from runtime.stores import open_store
from runtime.stores._pg_pool import parse_postgres_url
from runtime.stores.postgres import PostgresStore

NOWHERE = "postgresql://u@127.0.0.1:1/vrb_no_such_db"


def _libpq(url: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(parse_postgres_url(url)[0]).items()}


@pytest.mark.parametrize(
    ("query", "parameter", "value"),
    [
        ("options=-c%20search_path%3Dpublic", "options", "-c search_path=public"),
        # libpq reads '+' as a plus (RFC 3986), not as a space (HTML forms).
        ("options=-c+search_path%3Dpublic", "options", "-c+search_path=public"),
        ("application_name=a+b%20c", "application_name", "a+b c"),
        ("sslmode=require&connect_timeout=7", "connect_timeout", "7"),
    ],
)
def test_libpq_parameters_reach_libpq_as_written(query: str, parameter: str, value: str) -> None:
    assert _libpq(f"{NOWHERE}?{query}&schema=vrb_x")[parameter] == value


def test_the_store_options_are_taken_out_and_percent_decoded_without_the_plus_rule() -> None:
    _, options, _ = parse_postgres_url(f"{NOWHERE}?sch%65ma=vrb_x&pool_max_size=3&sslmode=disable")
    assert options == {"schema": "vrb_x", "pool_max_size": "3"}
    assert "schema" not in _libpq(f"{NOWHERE}?schema=vrb_x")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("schema=", "schema= is empty; name a schema (?schema=vrb)"),
        ("schema=a&schema=b", "option schema is given more than once; give it once"),
        ("schema=vrb&schema=vrb", "option schema is given more than once"),
        ("schema=information_schema", "'information_schema' is a system schema"),
        ("schema=INFORMATION_SCHEMA", "'INFORMATION_SCHEMA' is a system schema"),
        ("schema=pg_catalog", "'pg_catalog' is a system schema"),
        ("schema=pg_toast", "'pg_toast' is a system schema"),
        ("schema=pg_temp_3", "'pg_temp_3' is a system schema"),
        ("schema=PG_mine", "'PG_mine' is a system schema"),
        ("schema=" + "a" * 51, "must be 1 to 50 letters, digits or underscores"),
        ("schema=a-b", "'a-b' must be 1 to 50 letters, digits or underscores"),
        ("schema=%C3%A9", "'é' must be 1 to 50 letters"),
        ("pool_max_size=0", "pool_max_size must be an integer from 1 to 1000, got '0'"),
        ("pool_max_size=1001", "pool_max_size must be an integer from 1 to 1000, got '1001'"),
        (
            "pool_min_size=" + "9" * 5000,
            "pool_min_size must be an integer from 1 to 1000, got '999",
        ),
        ("pool_min_size=%C2%B2", "pool_min_size must be an integer from 1 to 1000, got '²'"),
        ("pool_timeout=86401", "pool_timeout must be an integer from 1 to 86400"),
        ("pool_timeout=1&pool_timeout=2", "option pool_timeout is given more than once"),
        ("a", "malformed query string: item 1 is not name=value"),
        ("sslmode=disable&&x=1", "malformed query string: item 2 is not name=value"),
    ],
)
def test_a_bad_store_option_is_refused_before_connecting(query: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        open_store(f"{NOWHERE}?{query}")
    text = str(refused.value)
    assert message in text
    assert "\n" not in text
    assert "connect" not in text
    assert len(text) < 300


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///a%00b.db", "a file name cannot hold a NUL (%00)"),
        ("sqlite:///a\x00b.db", "holds a NUL character"),
        ("sqlite:///a\udcffb.db", "holds bytes that are not UTF-8"),
        (f"{NOWHERE}?application_name=\udcff", "holds bytes that are not UTF-8"),
        ("postgresql://\udcff@127.0.0.1:1/db", "holds bytes that are not UTF-8"),
        ("sqlite:///x.db?busy_timeout=" + "9" * 5000, "busy_timeout must be an integer from 0"),
        ("sqlite:///x.db?busy_timeout=%C2%B2", "busy_timeout must be an integer from 0"),
        ("sqlite:///x.db?busy_timeout=86400001", "busy_timeout must be an integer from 0"),
        ("sqlite:///x.db?busy_timeout=1&busy_timeout=2", "option busy_timeout is given more"),
        ("sqlite:///x.db?synchronous=", "synchronous must be full or normal, got ''"),
    ],
)
def test_a_bad_sqlite_url_or_a_url_that_is_not_text_is_refused_in_one_line(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        open_store(url)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_default_schema_still_needs_no_option() -> None:
    _, options, _ = parse_postgres_url(NOWHERE)
    assert "schema" not in options


# --------------------------------------------------------------------------- the real server


def test_libpq_options_reach_the_server_intact(postgres_url: str) -> None:
    store = PostgresStore(
        f"{postgres_url}&options=-c%20statement_timeout%3D12345&application_name=vrb+fuzz"
    )
    try:
        with psycopg.connect(store._conninfo) as conn:
            timeout = conn.execute("SHOW statement_timeout").fetchone()
            name = conn.execute("SHOW application_name").fetchone()
            zone = conn.execute("SHOW TimeZone").fetchone()
    finally:
        asyncio.run(store.close())
    assert timeout == ("12345ms",)
    assert name == ("vrb+fuzz",)
    assert zone == ("UTC",)  # the store's own option, added to the user's


def test_no_table_is_created_in_a_system_schema(postgres_server: str) -> None:
    with pytest.raises(ConfigurationError):
        open_store(f"{postgres_server}?schema=information_schema")
    with psycopg.connect(postgres_server) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'information_schema' "
            "AND tablename IN ('runs', 'events', 'vrb_meta')"
        ).fetchone()
    assert found == (0,)
