"""A SQLite store's new database file, and its WAL, are readable by their owner only."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from runtime.stores import open_store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_are_private_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "vrb.db"
    previous = os.umask(0o022)
    try:

        async def main() -> None:
            store = open_store(f"sqlite:///{db}")
            try:
                await store.create_run("r1", "w", ["secret"])
                assert _mode(db) == 0o600
                wal = db.with_name(db.name + "-wal")
                assert wal.exists()
                assert _mode(wal) == 0o600
            finally:
                await store.close()

        asyncio.run(main())
    finally:
        os.umask(previous)


def test_an_existing_database_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)

    async def main() -> None:
        store = open_store(f"sqlite:///{db}")
        await store.close()

    asyncio.run(main())
    assert _mode(db) == 0o640
