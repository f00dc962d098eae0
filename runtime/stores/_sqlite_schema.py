"""The SQLite store's schema: its version, the file's application id, the DDL, the run columns.

:func:`ensure_schema` creates the schema in a new file, or migrates an older
one step by step (:data:`MIGRATIONS`), inside the caller's write transaction: a
failed migration leaves the file as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .base import SchemaVersionError

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "RUN_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "ensure_schema",
    "header",
]

SCHEMA_VERSION = 2
APPLICATION_ID = 0x56524231  # "VRB1": marks the file as a vrb-workflows database

SCHEMA = """
CREATE TABLE runs (
    run_id           TEXT PRIMARY KEY,
    workflow_name    TEXT NOT NULL,
    graph_hash       TEXT,
    input            TEXT NOT NULL,
    status           TEXT NOT NULL,
    result           TEXT NOT NULL DEFAULT 'null',
    error            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    due_at           INTEGER,
    wake_at          INTEGER,
    wait_signals     TEXT NOT NULL DEFAULT '[]',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_epoch      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER,
    lease_timeout_us INTEGER NOT NULL DEFAULT 30000000,
    recoveries       INTEGER NOT NULL DEFAULT 0,
    quarantine_deaths INTEGER NOT NULL DEFAULT 0,
    lease_quarantined INTEGER NOT NULL DEFAULT 0
);
-- claim: one range scan over the runs that can become due
CREATE INDEX runs_due ON runs (due_at, run_id) WHERE due_at IS NOT NULL;
-- list_runs, newest first, unfiltered / by workflow / by status
CREATE INDEX runs_created ON runs (created_at, run_id);
CREATE INDEX runs_workflow_created ON runs (workflow_name, created_at, run_id);
CREATE INDEX runs_status_created ON runs (status, created_at, run_id);
-- workflow_stats
CREATE INDEX runs_workflow_status ON runs (workflow_name, status);

CREATE TABLE events (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,
    key     TEXT,
    payload TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE signals (
    run_id   TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    name     TEXT NOT NULL,
    payload  TEXT NOT NULL,
    sent_at  INTEGER NOT NULL,
    consumed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX signals_pending ON signals (run_id, name, seq) WHERE consumed = 0;
"""

RUN_COLUMNS = (
    "run_id, workflow_name, graph_hash, input, status, result, error, created_at, "
    "updated_at, started_at, finished_at, wake_at, wait_signals, cancel_requested, "
    "lease_owner, lease_epoch, lease_expires_at, recoveries, "
    # The log is the source of truth for the seq and the last activity: the hot
    # path inserts events and leaves the runs row alone (see _append).
    "(SELECT max(seq) FROM events AS e WHERE e.run_id = runs.run_id), "
    "(SELECT at FROM events AS e WHERE e.run_id = runs.run_id ORDER BY seq DESC LIMIT 1), "
    "quarantine_deaths"
)

MIGRATIONS: dict[int, Sequence[str]] = {
    # 2: deaths of a worker executing the run alone, told apart from the others
    2: [
        "ALTER TABLE runs ADD COLUMN quarantine_deaths INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN lease_quarantined INTEGER NOT NULL DEFAULT 0",
    ],
}
"""Statements taking a file from version ``n - 1`` to ``n``, keyed by ``n``."""


def header(conn: sqlite3.Connection) -> tuple[int, int]:
    """The file's ``application_id`` and ``user_version`` (the schema version)."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(app_id), int(version)


def ensure_schema(c: sqlite3.Connection, path: str) -> None:
    """Create or migrate the schema on ``c``, which holds the write lock (``BEGIN IMMEDIATE``).

    Raises:
        SchemaVersionError: The file is newer than this code, or not a vrb database.
    """
    # Read under the write lock: another process may have just done the work.
    app_id, version = header(c)
    if app_id not in (0, APPLICATION_ID):
        raise SchemaVersionError(
            f"{path} belongs to another application (application_id "
            f"{app_id:#x}); point the store URL at a vrb-workflows database"
        )
    if app_id == 0:
        (tables,) = c.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if tables:
            raise SchemaVersionError(
                f"{path} already holds tables that are not a vrb-workflows "
                "database; point the store URL at a new file"
            )
        for statement in SCHEMA.split(";"):
            if statement.strip():
                c.execute(statement)
        c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    elif version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this vrb-workflows understands; upgrade vrb-workflows"
        )
    else:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                c.execute(statement)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
