"""Fixtures of the graph integrity tests: the PostgreSQL server (tests/pg_fixtures.py)."""

from tests.pg_fixtures import (  # noqa: F401 - fixtures are found by name
    postgres_schema,
    postgres_server,
    postgres_url,
)
