"""An SQLite file of an older schema version opens, and is upgraded in place."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from runtime.stores import SQLiteStore
from runtime.stores._sqlite_schema import SCHEMA_VERSION
from runtime.testing import ManualClock

# The runs table as vrb-workflows 1 created it: no quarantine columns.
_TO_VERSION_1 = [
    "ALTER TABLE runs DROP COLUMN quarantine_deaths",
    "ALTER TABLE runs DROP COLUMN lease_quarantined",
    "PRAGMA user_version = 1",
]


def _columns(path: Path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(path)
    try:
        names = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        return conn.execute("PRAGMA user_version").fetchone()[0], names
    finally:
        conn.close()


def test_a_version_1_file_opens_and_is_upgraded_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))

    async def before() -> None:
        store = SQLiteStore(path, clock=clock)
        await store.create_run("kept", "wf", {"x": 1})
        await store.claim("w1", lease_timeout=10)
        await store.close()

    asyncio.run(before())
    conn = sqlite3.connect(path)
    for statement in _TO_VERSION_1:
        conn.execute(statement)
    conn.close()
    assert _columns(path)[0] == 1
    assert "quarantine_deaths" not in _columns(path)[1]

    async def after() -> tuple[int, int, int]:
        store = SQLiteStore(path, clock=clock)  # migrates
        try:
            run = await store.get_run("kept")
            assert (run.input, run.status, run.quarantine_deaths) == ({"x": 1}, "running", 0)
            clock.advance(11)
            [taken] = await store.claim("w2", lease_timeout=10)
            await store.quarantine(taken.lease)
            clock.advance(11)
            [again] = await store.claim("w3", lease_timeout=10)
            return taken.run.recoveries, again.run.recoveries, again.run.quarantine_deaths
        finally:
            await store.close()

    assert asyncio.run(after()) == (1, 2, 1)
    version, names = _columns(path)
    assert version == SCHEMA_VERSION == 2
    assert {"quarantine_deaths", "lease_quarantined"} <= set(names)
