"""The PostgreSQL store's schema: its DDL, its version, and creating or migrating it.

Every table lives in one schema of the database (``vrb`` unless the URL says
``?schema=...``), so a vrb database can share a PostgreSQL database with an
application's own tables. The schema version is recorded in ``vrb_meta``.

Opening a store runs :func:`ensure_schema` on a plain (blocking) connection:

* the current version is read without any lock (the common case: nothing to do);
* otherwise a transaction-level advisory lock serialises the workers starting
  at once, the version is read again under it, and the schema is created, or an
  older one migrated step by step, all in that one transaction: a failed
  migration leaves the database as it was;
* a newer version is refused with :class:`SchemaVersionError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError, shown
from .base import SchemaVersionError

__all__ = [
    "DEFAULT_SCHEMA",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_schema_name",
    "ensure_schema",
    "quote_schema",
    "schema_ddl",
]

SCHEMA_VERSION = 3
DEFAULT_SCHEMA = "vrb"

COUNT_SHARDS = 16
"""Rows per workflow and status in ``run_counts``: a writer uses row ``pg_backend_pid() % 16``."""

# The advisory lock class taken while creating or migrating a schema ("VRB1");
# the second key is hashtext(schema name), so schemas do not block each other.
_LOCK_CLASS = 0x56524231

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,49}")

# workflow_stats reads run_counts, never the runs: per workflow and status, how
# many runs, how many of them finished, and their total duration. Triggers on runs
# keep it in the transaction of every insert, status change and delete, whoever
# writes (this store, an older worker still running through a migration, an
# operator's SQL).
#
# One row per workflow and status would be a hot row: every trigger and every
# completion of a workflow would wait for the previous one's commit. So each
# connection adds to its own shard, pg_backend_pid() % COUNT_SHARDS, and reading
# sums the shards (at most COUNT_SHARDS x 6 rows per workflow). A shard's counts
# may go negative (a run created on one shard and claimed on another); their sum
# may not. A transaction takes its shard's advisory lock before touching it: a
# claim moves several runs, and two claims updating one shard's rows in different
# orders would otherwise deadlock. (The store takes it last, after the run rows it
# writes, and then waits for no run row: the lock closes no cycle.)
#
# INSERT and DELETE are counted per statement from the transition table, grouped
# (a bulk load or a purge updates each row once); UPDATE per row, and only an
# update naming a counted column: a trigger with a transition table cannot name
# columns, and one firing on every update would tax each append, which changes none.
_COUNTS_DDL = """
CREATE TABLE {s}.run_counts (
    workflow_name text COLLATE "C" NOT NULL,
    status        text NOT NULL,
    shard         smallint NOT NULL,
    runs          bigint NOT NULL,
    finished      bigint NOT NULL,
    duration_us   numeric NOT NULL,
    PRIMARY KEY (workflow_name, status, shard)
) WITH (fillfactor = 50);
-- duration_us: the sum of finished_at - created_at over the finished runs.
-- fillfactor: counts change in place, and room on the page keeps that a HOT update.

-- Each function first takes its shard's advisory lock: first key 'VRBC', second
-- the schema and the shard.
-- INSERT and DELETE statements: both triggers name their transition table "changed".
CREATE FUNCTION {s}.run_counts_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    my_shard smallint := pg_backend_pid() % {shards};
    sign integer := CASE TG_OP WHEN 'DELETE' THEN -1 ELSE 1 END;
BEGIN
    PERFORM pg_advisory_xact_lock(1448231491, hashtext('{name}/' || my_shard));
    INSERT INTO {s}.run_counts AS c (workflow_name, status, shard, runs, finished, duration_us)
    SELECT workflow_name, status, my_shard, sign * count(*), sign * count(finished_at),
           sign * coalesce(sum(extract(epoch FROM finished_at - created_at)), 0) * 1000000
    FROM changed GROUP BY workflow_name, status
    ON CONFLICT (workflow_name, status, shard) DO UPDATE SET runs = c.runs + excluded.runs,
        finished = c.finished + excluded.finished,
        duration_us = c.duration_us + excluded.duration_us;
    RETURN NULL;
END
$$;

-- UPDATE: the run leaves its old row of counts and joins its new one.
CREATE FUNCTION {s}.run_counts_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    my_shard smallint := pg_backend_pid() % {shards};
    old_us numeric := coalesce(extract(epoch FROM OLD.finished_at - OLD.created_at), 0) * 1000000;
    new_us numeric := coalesce(extract(epoch FROM NEW.finished_at - NEW.created_at), 0) * 1000000;
    old_done integer := (OLD.finished_at IS NOT NULL)::integer;
    new_done integer := (NEW.finished_at IS NOT NULL)::integer;
BEGIN
    PERFORM pg_advisory_xact_lock(1448231491, hashtext('{name}/' || my_shard));
    IF (OLD.workflow_name, OLD.status) = (NEW.workflow_name, NEW.status) THEN
        -- the same row (one upsert may not touch a row twice): only the times moved
        INSERT INTO {s}.run_counts AS c
        VALUES (NEW.workflow_name, NEW.status, my_shard, 0, new_done - old_done, new_us - old_us)
        ON CONFLICT (workflow_name, status, shard) DO UPDATE SET
            finished = c.finished + excluded.finished,
            duration_us = c.duration_us + excluded.duration_us;
        RETURN NULL;
    END IF;
    INSERT INTO {s}.run_counts AS c
    VALUES (OLD.workflow_name, OLD.status, my_shard, -1, -old_done, -old_us),
           (NEW.workflow_name, NEW.status, my_shard, 1, new_done, new_us)
    ON CONFLICT (workflow_name, status, shard) DO UPDATE SET runs = c.runs + excluded.runs,
        finished = c.finished + excluded.finished,
        duration_us = c.duration_us + excluded.duration_us;
    RETURN NULL;
END
$$;

CREATE FUNCTION {s}.run_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {s}.run_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER run_counts_insert AFTER INSERT ON {s}.runs
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION {s}.run_counts_statement();
CREATE TRIGGER run_counts_delete AFTER DELETE ON {s}.runs
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION {s}.run_counts_statement();
CREATE TRIGGER run_counts_update
    AFTER UPDATE OF workflow_name, status, created_at, finished_at ON {s}.runs FOR EACH ROW
    WHEN ((OLD.workflow_name, OLD.status, OLD.created_at, OLD.finished_at)
          IS DISTINCT FROM (NEW.workflow_name, NEW.status, NEW.created_at, NEW.finished_at))
    EXECUTE FUNCTION {s}.run_counts_row();
CREATE TRIGGER run_counts_truncate AFTER TRUNCATE ON {s}.runs
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.run_counts_truncate();
"""

# Counting the runs already there, in the migration's transaction: creating the
# triggers locked the runs against writes (SHARE ROW EXCLUSIVE) until it commits,
# so no transition is missed or counted twice.
_RECOUNT = """
INSERT INTO {s}.run_counts (workflow_name, status, shard, runs, finished, duration_us)
SELECT workflow_name, status, 0, count(*), count(finished_at),
       coalesce(sum(extract(epoch FROM finished_at - created_at)), 0) * 1000000
FROM {s}.runs GROUP BY workflow_name, status
"""

_DDL = (
    """
CREATE TABLE {s}.vrb_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE {s}.runs (
    run_id           text COLLATE "C" PRIMARY KEY,
    workflow_name    text COLLATE "C" NOT NULL,
    graph_hash       text,
    input            text NOT NULL,
    status           text NOT NULL CHECK (status IN
                         ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled')),
    result           text NOT NULL DEFAULT 'null',
    error            text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    due_at           timestamptz,
    wake_at          timestamptz,
    wait_signals     text[] NOT NULL DEFAULT '{{}}',
    cancel_requested boolean NOT NULL DEFAULT false,
    lease_owner      text,
    lease_epoch      bigint NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    lease_timeout    interval NOT NULL DEFAULT '30 seconds',
    recoveries       integer NOT NULL DEFAULT 0,
    quarantine_deaths integer NOT NULL DEFAULT 0,
    -- the current lease was marked quarantined: its lapse is the run's fault
    lease_quarantined boolean NOT NULL DEFAULT false,
    last_seq         bigint NOT NULL DEFAULT 0,
    -- the token of the last write (the creation, then each append) and the last
    -- append's seq: a retry after a lost connection finds whether the first
    -- attempt committed
    append_token     text,
    append_seq       bigint
) WITH (fillfactor = 80);
-- fillfactor: an append rewrites the run's row (last_seq, updated_at) without
-- touching an indexed column, and free room on the page keeps that a HOT update.

-- claim: one range scan over the runs that can become due (active runs only)
CREATE INDEX runs_due ON {s}.runs (due_at, run_id) WHERE due_at IS NOT NULL;
-- list_runs newest first, unfiltered / by workflow / by status / by both (the
-- INCLUDE served workflow_stats in version 1; run_counts serves it now)
CREATE INDEX runs_created ON {s}.runs (created_at, run_id);
CREATE INDEX runs_workflow_created ON {s}.runs (workflow_name, created_at, run_id);
CREATE INDEX runs_status_created ON {s}.runs (status, created_at, run_id)
    INCLUDE (finished_at);
CREATE INDEX runs_workflow_status_created ON {s}.runs (workflow_name, status, created_at, run_id)
    INCLUDE (finished_at);

CREATE TABLE {s}.events (
    run_id  text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    type    text NOT NULL,
    key     text,
    payload text NOT NULL,
    at      timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE {s}.signals (
    run_id   text COLLATE "C" NOT NULL,
    seq      bigint NOT NULL,
    name     text NOT NULL,
    payload  text NOT NULL,
    sent_at  timestamptz NOT NULL,
    consumed boolean NOT NULL DEFAULT false,
    token    text,  -- the sender's: a retry finds whether the first attempt committed
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX signals_pending ON {s}.signals (run_id, name, seq) WHERE NOT consumed;
"""
    + _COUNTS_DDL
)

MIGRATIONS: dict[int, Sequence[str]] = {
    # 2: workflow_stats from run_counts, kept by triggers, instead of a scan of the runs
    2: [_COUNTS_DDL, _RECOUNT],
    # 3: deaths of a worker executing the run alone, told apart from the others
    3: [
        "ALTER TABLE {s}.runs ADD COLUMN IF NOT EXISTS quarantine_deaths integer NOT NULL DEFAULT 0, "
        "ADD COLUMN IF NOT EXISTS lease_quarantined boolean NOT NULL DEFAULT false"
    ],
}
"""Statements taking a schema from version ``n - 1`` to ``n``, keyed by ``n``.

Each uses ``{s}`` for the quoted schema name (``{name}`` for the bare one,
``{shards}`` for :data:`COUNT_SHARDS`). All the steps from the found version to
:data:`SCHEMA_VERSION` run in one transaction.
"""

_OUR_TABLES = ("vrb_meta", "runs", "events", "signals", "run_counts")


def check_schema_name(name: object) -> str:
    """``name`` if the store may keep its tables in a schema of that name.

    A plain identifier of 1 to 50 ASCII letters, digits and underscores, not
    starting with a digit (quoted, so case is kept), and not a system schema:
    ``information_schema``, or any name starting ``pg_`` (``pg_catalog``,
    ``pg_toast``, ``pg_temp_3``...), which PostgreSQL keeps for itself (a
    superuser could otherwise create the store's tables there), in any case.

    Raises:
        ConfigurationError: It breaks the rule; the message says which part.
    """
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        raise ConfigurationError(
            f"PostgreSQL schema name {shown(name)} must be 1 to 50 letters, digits or "
            "underscores, not starting with a digit"
        )
    folded = name.lower()
    if folded == "information_schema" or folded.startswith("pg_"):
        raise ConfigurationError(
            f"PostgreSQL schema name {name!r} is a system schema (information_schema and "
            "pg_* belong to PostgreSQL); choose a schema of your own, e.g. ?schema=vrb"
        )
    return name


def quote_schema(name: str) -> str:
    """The schema name as a quoted SQL identifier, after checking it (:func:`check_schema_name`).

    Raises:
        ConfigurationError: The name is not a plain identifier of up to 50
            characters, or names a system schema.
    """
    return f'"{check_schema_name(name)}"'


def schema_ddl(schema: str) -> list[str]:
    """The statements creating every table and index of the current version in ``schema``."""
    return _script(_DDL, schema)


def _script(sql: str, schema: str) -> list[str]:
    return _split(sql.format(s=quote_schema(schema), name=schema, shards=COUNT_SHARDS))


def _split(sql: str) -> list[str]:
    """Statements of a script: a ``;`` outside ``$$`` bodies ends one.

    ``--`` comments take whole lines (they may hold a ``;``).
    """
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    statements: list[str] = []
    current = ""
    for index, piece in enumerate(code.split("$$")):
        if index % 2:  # a function body, kept whole
            current += f"$${piece}$$"
            continue
        *ends, rest = piece.split(";")
        for end in ends:
            statements.append(current + end)
            current = ""
        current += rest
    statements.append(current)
    return [statement.strip() for statement in statements if statement.strip()]


def _read_version(cursor: Any, schema: str, where: str) -> int | None:
    """The recorded version, or ``None`` when the schema has no vrb tables.

    Raises:
        SchemaVersionError: The schema holds tables of the same names that are not vrb's.
    """
    cursor.execute(
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, list(_OUR_TABLES)),
    )
    found = {row[0] for row in cursor.fetchall()}
    if not found:
        return None
    if "vrb_meta" not in found:
        raise SchemaVersionError(
            f"{where} already has tables named {', '.join(sorted(found))} that are not a "
            "vrb-workflows store; choose another schema with ?schema=NAME in the store URL"
        )
    cursor.execute(
        f"SELECT value FROM {quote_schema(schema)}.vrb_meta WHERE key = 'schema_version'"
    )
    row = cursor.fetchone()
    if row is None or not str(row[0]).isdigit():
        raise SchemaVersionError(
            f"{where} has a vrb_meta table without a schema version; it is not a "
            "vrb-workflows store (choose another schema with ?schema=NAME)"
        )
    return int(row[0])


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has schema version {version}, newer than the {SCHEMA_VERSION} this "
            "vrb-workflows understands; upgrade vrb-workflows"
        )


def ensure_schema(conn: Any, schema: str, where: str) -> int:
    """Create or migrate the store's schema on ``conn`` (a blocking psycopg connection).

    Args:
        conn: An autocommit ``psycopg.Connection``.
        schema: The schema holding the store's tables.
        where: How to name the database in messages.

    Returns:
        The schema version found before any change (0 for a new schema).

    Raises:
        SchemaVersionError: The schema is newer than this code, or is not a vrb store.
    """
    s = quote_schema(schema)
    with conn.cursor() as cursor:
        version = _read_version(cursor, schema, where)
        if version is not None:
            _refuse_newer(version, where)
            if version == SCHEMA_VERSION:
                return version
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, schema))
        # Read again under the lock: another worker may have just done the work.
        version = _read_version(cursor, schema, where)
        if version is None:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            for statement in schema_ddl(schema):
                cursor.execute(statement)
            cursor.execute(
                f"INSERT INTO {s}.vrb_meta (key, value) VALUES ('schema_version', %s)",
                (str(SCHEMA_VERSION),),
            )
            return 0
        _refuse_newer(version, where)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            steps = MIGRATIONS.get(target)
            if steps is None:
                raise SchemaVersionError(
                    f"{where} has schema version {version} and no migration leads to "
                    f"version {target}; restore a backup or upgrade step by step"
                )
            for step in steps:
                for statement in _script(step, schema):
                    cursor.execute(statement)
        if version != SCHEMA_VERSION:
            cursor.execute(
                f"UPDATE {s}.vrb_meta SET value = %s WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION),),
            )
        return version
