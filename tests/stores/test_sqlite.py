"""What only the SQLite store does: pragmas, schema versioning, files it refuses, indexes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from runtime.stores import (
    RunUpdate,
    SchemaVersionError,
    SQLiteStore,
    StoreError,
    open_store,
)
from runtime.stores.sqlite import SCHEMA_VERSION


def _header(path: Path) -> tuple[str, int, int]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
            conn.execute("PRAGMA application_id").fetchone()[0],
        )
    finally:
        conn.close()


def _close(store: SQLiteStore) -> None:
    asyncio.run(store.close())


def test_a_new_database_is_wal_with_a_recorded_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _close(SQLiteStore(path))
    assert _header(path) == ("wal", SCHEMA_VERSION, 0x56524231)


def test_durability_is_synchronous_full_by_default(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")

    async def synchronous() -> int:
        try:
            return int(
                await store._call(lambda: store._c.execute("PRAGMA synchronous").fetchone()[0])
            )
        finally:
            await store.close()

    assert asyncio.run(synchronous()) == 2  # FULL


def test_runs_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/keep.db"

    async def write() -> None:
        store = open_store(url)
        await store.create_run("r", "wf", {"x": 1})
        [claim] = await store.claim("w")
        await store.append(claim.lease, [], update=RunUpdate(status="completed", result=[1, 2]))
        await store.close()

    async def read() -> tuple[str, object, int]:
        store = open_store(url)
        run = await store.get_run("r")
        await store.close()
        return run.status, run.result, run.last_seq

    asyncio.run(write())
    assert asyncio.run(read()) == ("completed", [1, 2], 1)


def test_a_database_with_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _close(SQLiteStore(path))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError) as caught:
        SQLiteStore(path)
    assert str(caught.value) == (
        f"{path} has schema version 99, newer than the {SCHEMA_VERSION} this vrb-workflows "
        "understands; upgrade vrb-workflows"
    )
    assert path.read_bytes() == before


def test_a_database_of_another_application_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO customers VALUES (7)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError) as caught:
        SQLiteStore(path)
    assert "already holds tables that are not a vrb-workflows database" in str(caught.value)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT id FROM customers").fetchall() == [(7,)]
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'runs'").fetchone() == (0,)
    conn.close()


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert (
        str(caught.value)
        == f"cannot use {str(path)!r} as a SQLite database: file is not a database"
    )
    assert path.read_bytes() == before


def test_a_path_in_a_missing_directory_gives_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "dir" / "x.db"
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert str(caught.value) == (
        f"cannot open SQLite database {str(path)!r}: unable to open database file; "
        "check that its directory exists and is writable"
    )


def test_a_closed_store_refuses_further_use(tmp_path: Path) -> None:
    path = tmp_path / "c.db"

    async def main() -> str:
        store = SQLiteStore(path)
        await store.close()
        await store.close()  # idempotent
        try:
            await store.get_run("r")
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return "no error"

    assert asyncio.run(main()) == f"ConfigurationError: the SQLite store on {path} is closed"


def _open_at_once(path: Path, count: int) -> list[BaseException]:
    """Open ``count`` stores on ``path`` from as many threads at the same moment."""
    errors: list[BaseException] = []
    stores: list[SQLiteStore] = []
    barrier = threading.Barrier(count)

    def open_one() -> None:
        barrier.wait()
        try:
            stores.append(SQLiteStore(path))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        _close(store)
    return errors


def test_several_stores_can_create_one_new_database_at_once(tmp_path: Path) -> None:
    # The race is narrow (switching a new file to WAL fails at once, without the
    # busy handler, while another connection sets it up): many fresh files.
    for attempt in range(150):
        path = tmp_path / f"race-{attempt}.db"
        assert _open_at_once(path, 4) == [], f"attempt {attempt}"
        assert _header(path)[1] == SCHEMA_VERSION


def _plan(path: Path, sql: str, params: tuple[object, ...]) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    finally:
        conn.close()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        (
            "SELECT run_id, status FROM runs WHERE due_at <= ? ORDER BY due_at, run_id LIMIT 5",
            (0,),
            "runs_due",
        ),
        (
            "SELECT run_id FROM runs WHERE workflow_name = ? "
            "ORDER BY created_at DESC, run_id DESC LIMIT 5",
            ("wf",),
            "runs_workflow_created",
        ),
        (
            "SELECT run_id FROM runs WHERE status = ? ORDER BY created_at DESC, run_id DESC LIMIT 5",
            ("failed",),
            "runs_status_created",
        ),
        (
            "SELECT run_id FROM runs ORDER BY created_at DESC, run_id DESC LIMIT 5",
            (),
            "runs_created",
        ),
        (
            "SELECT seq FROM signals WHERE run_id = ? AND name = ? AND consumed = 0 "
            "ORDER BY seq LIMIT 1",
            ("r", "go"),
            "(run_id=?",
        ),
    ],
)
def test_hot_queries_use_an_index(
    tmp_path: Path, sql: str, params: tuple[object, ...], index: str
) -> None:
    path = tmp_path / "plan.db"
    _close(SQLiteStore(path))
    plan = _plan(path, sql, params)
    assert index in plan, plan
    assert not any(step in ("SCAN runs", "SCAN signals") for step in plan.split(" | ")), plan
    assert "TEMP B-TREE" not in plan, plan
