"""The store conformance suite, run against every store backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.stores import MemoryStore, SQLiteStore, Store
from runtime.stores.base import Clock
from runtime.testing import CONFORMANCE_CHECKS, StoreHarness, run_check

BACKENDS = ["memory", "sqlite"]


def make_harness(backend: str, tmp_path: Path) -> StoreHarness:
    """A harness whose stores all reach one database of ``backend``."""
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
def test_store_conforms(backend: str, check: object, tmp_path: Path) -> None:
    run_check(check, make_harness(backend, tmp_path))  # type: ignore[arg-type]
