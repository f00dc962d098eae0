"""The store conformance suite, run against every store backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.stores import MemoryStore, SQLiteStore, Store, open_store
from runtime.stores.base import Clock
from runtime.testing import CONFORMANCE_CHECKS, StoreHarness, run_check

BACKENDS = ["memory", "sqlite", "postgres"]


def make_harness(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreHarness:
    """A harness whose stores all reach one database of ``backend``."""
    if backend == "postgres":
        # Only PostgreSQL cases ask for the server (and skip or fail without it).
        url: str = request.getfixturevalue("postgres_url")
        return StoreHarness(lambda clock: open_store(url, clock=clock), url=url)
    if backend == "memory":
        shared: list[MemoryStore] = []

        def memory(clock: Clock) -> Store:
            # One in-memory database: every "connection" is the same store.
            if not shared:
                shared.append(MemoryStore(clock=clock))
            return shared[0]

        return StoreHarness(memory)
    path = tmp_path / "conformance.db"
    return StoreHarness(lambda clock: SQLiteStore(path, clock=clock), url=f"sqlite:///{path}")


CASES = [
    pytest.param(backend, check, id=f"{backend}-{check.__name__.removeprefix('check_')}")
    for backend in BACKENDS
    for check in CONFORMANCE_CHECKS
    if backend != "memory" or not getattr(check, "requires_url", False)
]


@pytest.mark.parametrize(("backend", "check"), CASES)
def test_store_conforms(
    backend: str, check: object, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_check(check, make_harness(backend, tmp_path, request))  # type: ignore[arg-type]
