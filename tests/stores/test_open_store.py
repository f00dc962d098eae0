"""Opening stores by URL, and the default URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime import ConfigurationError
from runtime.stores import (
    DEFAULT_STORE_URL,
    MemoryStore,
    SQLiteStore,
    Store,
    default_store_url,
    open_store,
)


def _roundtrip(store: Store) -> str:
    async def main() -> str:
        try:
            record, _ = await store.create_run("r1", "wf", {"ok": True})
            return (await store.get_run(record.run_id)).workflow_name
        finally:
            await store.close()

    return asyncio.run(main())


def test_memory_url_opens_a_memory_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    assert _roundtrip(store) == "wf"


def test_sqlite_url_with_three_slashes_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    store = open_store("sqlite:///data/runs.db")
    assert isinstance(store, SQLiteStore)
    assert _roundtrip(store) == "wf"
    assert (tmp_path / "data" / "runs.db").is_file()


def test_sqlite_url_with_four_slashes_is_absolute(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    assert str(path).startswith("/")
    assert _roundtrip(open_store(f"sqlite:///{path}")) == "wf"
    assert path.is_file()


def test_sqlite_memory_url_opens_a_private_database(tmp_path: Path) -> None:
    assert _roundtrip(open_store("sqlite:///:memory:")) == "wf"


def test_sqlite_url_options_are_applied(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/o.db?synchronous=normal&busy_timeout=250")
    assert isinstance(store, SQLiteStore)

    async def pragmas() -> tuple[int, int]:
        try:
            return await store._call(
                lambda: (
                    store._c.execute("PRAGMA synchronous").fetchone()[0],
                    store._c.execute("PRAGMA busy_timeout").fetchone()[0],
                )
            )
        finally:
            await store.close()

    assert asyncio.run(pragmas()) == (1, 250)  # 1 is NORMAL


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("vrb.db", "store URL 'vrb.db' has no scheme; use memory://, sqlite:///path/to/file.db"),
        ("mysql://db/x", "unsupported store URL 'mysql://db/x'; use memory://"),
        ("memory://extra", "store URL 'memory://extra': write just memory://"),
        ("sqlite://vrb.db", "write sqlite:///relative/path.db or sqlite:////absolute/path.db"),
        ("sqlite:///", "write sqlite:///relative/path.db or sqlite:////absolute/path.db"),
        ("sqlite:///x.db?synchronous=off", "synchronous must be full or normal, got 'off'"),
        ("sqlite:///x.db?journal=wal", "unknown option journal='wal'"),
        (
            "sqlite:///x.db?busy_timeout=soon",
            "busy_timeout must be an integer from 0 to 86400000, got 'soon'",
        ),
        (
            "postgresql://localhost/vrb?schema=1bad",
            "PostgreSQL schema name '1bad' must be 1 to 50 letters, digits or underscores",
        ),
        (
            "postgresql://localhost/vrb?pool_max_size=many",
            "pool_max_size must be an integer from 1 to 1000, got 'many'",
        ),
        ("postgresql://localhost/vrb?bogus=1", 'invalid URI query parameter: "bogus"'),
    ],
)
def test_bad_store_urls_raise_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store(url)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_default_url_is_sqlite_vrb_db_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VRB_DATABASE_URL", raising=False)
    assert default_store_url() == DEFAULT_STORE_URL == "sqlite:///vrb.db"
    monkeypatch.setenv("VRB_DATABASE_URL", "  ")
    assert default_store_url() == "sqlite:///vrb.db"
    monkeypatch.setenv("VRB_DATABASE_URL", "memory://")
    assert default_store_url() == "memory://"
    assert isinstance(open_store(), MemoryStore)


def test_open_store_without_a_url_creates_vrb_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VRB_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _roundtrip(open_store()) == "wf"
    assert (tmp_path / "vrb.db").is_file()
