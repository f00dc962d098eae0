"""The SQLite store (``sqlite:///path.db``): the embedded default.

Several worker processes and clients may share one database file. Each store
owns one connection, used only by its own thread, so the async API never blocks
the event loop and one process never interleaves two transactions on one
connection. Writes start with ``BEGIN IMMEDIATE``: the write lock is taken
up front, so two processes never both read a run and then race to update it
(and never deadlock upgrading a read lock); the loser waits up to
``busy_timeout``. Idle claims look for due runs with a plain read first and
only take the write lock when there is something to claim.

Durability: WAL journal with ``synchronous=FULL`` by default, so a commit that
returned survives a power cut or an OS crash. ``?synchronous=normal`` in the
URL is the opt-in for speed: in WAL mode a commit then survives a crash of any
process (the crash model of workers being killed) but the last commits may be
lost if the machine itself goes down.

Times are stored as integer microseconds since the epoch (event times as ISO
text, since they are only ever read back into events). The schema version is
kept in ``PRAGMA user_version`` and the file is marked as a vrb database by
``PRAGMA application_id``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import ConfigurationError, RunFinished, RunNotFound, TooManySignals, shown
from ..events import (
    Event,
    EventDraft,
    RunCreatedPayload,
    SignalReceivedPayload,
)
from ._checks import (
    DEFAULT_LIMITS,
    StoreLimits,
    check_claim_args,
    check_drafts,
    check_history_args,
    check_lease,
    check_list_args,
    check_run_args,
    check_run_id,
    check_signal_args,
    check_stored,
    check_workflow_filter,
)
from ._codec import decode_events, decode_value, encode_value
from ._notify import Notifier, notifier_for
from ._sqlite_rows import create_private, new_record
from ._sqlite_rows import record as record_of
from ._sqlite_schema import APPLICATION_ID, RUN_COLUMNS, SCHEMA_VERSION, ensure_schema, header
from .base import (
    CANCELLED_ERROR,
    CANCELLED_EVENT,
    TERMINAL_STATUSES,
    AppendResult,
    Claim,
    ClaimReason,
    Clock,
    Lease,
    LeaseLost,
    Renewal,
    RunIdConflict,
    RunPage,
    RunRecord,
    RunStatus,
    RunUpdate,
    Signal,
    SignalConflict,
    StoreError,
    WorkflowStats,
    decode_cursor,
    encode_cursor,
    from_us,
    stats_from_counts,
    system_clock,
    to_us,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

T = TypeVar("T")


_REASONS: dict[str, ClaimReason] = {
    "pending": "new",
    "waiting": "resumed",
    "running": "recovered",
}


class SQLiteStore:
    """A store in one SQLite file, shareable by several processes.

    Args:
        path: The database file (created if missing), or ``":memory:"`` for a
            private in-memory database.
        synchronous: ``"full"`` (default: durable against power loss) or
            ``"normal"`` (durable against process crashes only; faster).
        busy_timeout: Milliseconds to wait for another process's write lock.
        clock: The store's notion of now; tests pass a manual clock.
        limits: The store's bounds (payload size, buffered signals); default
            :class:`~runtime.stores.StoreLimits` ``()``.

    Raises:
        StoreError: The file cannot be opened or is not a database.
        SchemaVersionError: The file belongs to a newer vrb-workflows, or to
            another application.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["full", "normal"] = "full",
        busy_timeout: int = 5000,
        clock: Clock = system_clock,
        limits: StoreLimits | None = None,
    ) -> None:
        if synchronous not in ("full", "normal"):
            raise ConfigurationError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        self.limits = DEFAULT_LIMITS if limits is None else limits
        """The store's bounds (:class:`~runtime.stores.StoreLimits`)."""
        self._path = str(path)
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vrb-sqlite")
        in_memory = self._path == ":memory:"
        self._notifier = Notifier() if in_memory else notifier_for(str(Path(self._path).resolve()))
        try:
            self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    # ----------------------------------------------------------------- plumbing

    def _open(self) -> None:
        if self._path != ":memory:":
            create_private(self._path)
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, timeout=self._busy_timeout / 1000
            )
        except sqlite3.Error as error:
            raise StoreError(
                f"cannot open SQLite database {self._path!r}: {error}; "
                "check that its directory exists and is writable"
            ) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout)}")
            if self._path != ":memory:":
                self._enable_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous.upper()}")
            self._conn = conn
            self._ensure_schema(conn)
        except sqlite3.DatabaseError as error:
            conn.close()
            self._conn = None
            raise StoreError(f"cannot use {self._path!r} as a SQLite database: {error}") from None
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL takes an exclusive lock, and SQLite answers
        # "database is locked" at once, without the busy handler, while another
        # process opens the same new file: retry within the busy timeout instead.
        deadline = time.monotonic() + self._busy_timeout / 1000
        delay = 0.001
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        app_id, version = header(conn)
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        with self._transaction() as c:
            ensure_schema(c, self._path)

    @property
    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ConfigurationError(f"the SQLite store on {self._path} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._c
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise ConfigurationError(f"the SQLite store on {self._path} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as error:  # the arguments were checked: the database failed
            raise StoreError(f"SQLite database {self._path}: {error}") from error

    def _now(self) -> tuple[datetime, int]:
        now = self._clock()
        return now, to_us(now)

    def _lease_lost(self, conn: sqlite3.Connection, lease: Lease) -> LeaseLost:
        row = conn.execute(
            "SELECT status, lease_owner, lease_epoch FROM runs WHERE run_id = ?", (lease.run_id,)
        ).fetchone()
        if row is None:
            reason = "the run does not exist"
        elif row[0] != "running":
            reason = f"the run is {row[0]}"
        else:
            reason = f"worker {row[1]!r} took it over (epoch {row[2]})"
        return LeaseLost(lease.run_id, lease.worker_id, lease.epoch, reason)

    def _select_run(self, conn: sqlite3.Connection, run_id: str) -> RunRecord:
        row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return record_of(row)

    # ----------------------------------------------------------------- runs

    async def create_run(
        self, run_id: str, workflow_name: str, input: Any, *, graph_hash: str | None = None
    ) -> tuple[RunRecord, bool]:
        """See :meth:`runtime.stores.Store.create_run`."""
        check_run_args(run_id, workflow_name, input)
        input_json = encode_value(input)
        check_stored(
            self.limits, input_json, f"the input of workflow {shown(workflow_name)}", input
        )
        draft = EventDraft(RunCreatedPayload(workflow=workflow_name, input=input))
        record, created = await self._call(
            self._create_run, run_id, workflow_name, input_json, graph_hash, draft
        )
        if created:
            self._notifier.notify()
        return record, created

    def _create_run(
        self,
        run_id: str,
        workflow_name: str,
        input_json: str,
        graph_hash: str | None,
        draft: EventDraft,
    ) -> tuple[RunRecord, bool]:
        now, now_us = self._now()
        with self._transaction() as c:
            inserted = c.execute(
                "INSERT INTO runs (run_id, workflow_name, graph_hash, input, status, "
                "created_at, updated_at, due_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                (run_id, workflow_name, graph_hash, input_json, now_us, now_us, now_us),
            ).rowcount
            if not inserted:
                existing = self._select_run(c, run_id)
                if existing.workflow_name != workflow_name:
                    raise RunIdConflict(run_id, workflow_name, existing.workflow_name)
                return existing, False
            c.execute(
                "INSERT INTO events VALUES (?, 1, ?, NULL, ?, ?)",
                (run_id, draft.type, draft.payload_json, now.isoformat()),
            )
        return new_record(run_id, workflow_name, graph_hash, decode_value(input_json), now_us), True

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.get_run`."""
        check_run_id(run_id)
        return await self._call(self._select_run_unlocked, run_id)

    def _select_run_unlocked(self, run_id: str) -> RunRecord:
        return self._select_run(self._c, run_id)

    async def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """See :meth:`runtime.stores.Store.list_runs`."""
        check_list_args(status, limit, workflow_name)
        where: list[str] = []
        params: list[Any] = []
        if workflow_name is not None:
            where.append("workflow_name = ?")
            params.append(workflow_name)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if cursor is not None:
            created_us, after_id = decode_cursor(cursor)
            where.append("(created_at < ? OR (created_at = ? AND run_id < ?))")
            params += [created_us, created_us, after_id]
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
        params.append(limit + 1)
        rows = await self._call(self._fetchall, sql, params)
        records = [record_of(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = records[-1]
            next_cursor = encode_cursor(to_us(last.created_at), last.run_id)
        return RunPage(runs=records, next_cursor=next_cursor)

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._c.execute(sql, params).fetchall()

    async def workflow_stats(self, workflow_name: str | None = None) -> WorkflowStats:
        """See :meth:`runtime.stores.Store.workflow_stats`."""
        check_workflow_filter(workflow_name)
        where, params = ("WHERE workflow_name = ?", [workflow_name]) if workflow_name else ("", [])
        rows = await self._call(
            self._fetchall,
            f"SELECT status, count(*), count(finished_at), "
            f"coalesce(sum(finished_at - created_at), 0) FROM runs {where} GROUP BY status",
            params,
        )
        counts = {row[0]: row[1] for row in rows}
        finished = sum(row[2] for row in rows)
        total_us = float(sum(row[3] for row in rows))
        return stats_from_counts(counts, finished, total_us)

    # ----------------------------------------------------------------- leases

    async def claim(
        self,
        worker_id: str,
        *,
        workflow_names: Sequence[str] | None = None,
        lease_timeout: float = 30.0,
        limit: int = 1,
        exclude: Sequence[str] = (),
    ) -> list[Claim]:
        """See :meth:`runtime.stores.Store.claim`."""
        check_claim_args(worker_id, lease_timeout, limit, workflow_names, exclude)
        names = None if workflow_names is None else list(workflow_names)
        if names == []:
            return []
        return await self._call(self._claim, worker_id, names, lease_timeout, limit, list(exclude))

    def _claim(
        self,
        worker_id: str,
        names: list[str] | None,
        lease_timeout: float,
        limit: int,
        exclude: list[str],
    ) -> list[Claim]:
        _, now_us = self._now()
        sql = "SELECT run_id, status FROM runs WHERE due_at <= ?"
        params: list[Any] = [now_us]
        if names is not None:
            sql += f" AND workflow_name IN ({', '.join('?' * len(names))})"
            params += names
        if exclude:
            sql += f" AND run_id NOT IN ({', '.join('?' * len(exclude))})"
            params += exclude
        sql += " ORDER BY due_at, run_id LIMIT ?"
        params.append(limit)
        # An idle poll stays a read: the write lock is taken only with work in sight.
        if not self._c.execute(sql, params).fetchone():
            return []
        timeout_us = round(lease_timeout * 1_000_000)
        expires_us = now_us + timeout_us
        expires = from_us(expires_us)
        claims: list[Claim] = []
        with self._transaction() as c:
            for run_id, status in c.execute(sql, params).fetchall():
                rows = c.execute(
                    "UPDATE runs SET "
                    "recoveries = recoveries + (status = 'running'), "
                    "quarantine_deaths = quarantine_deaths + (status = 'running') * "
                    "lease_quarantined, lease_quarantined = 0, status = 'running', "
                    "started_at = coalesce(started_at, ?), lease_owner = ?, "
                    "lease_epoch = lease_epoch + 1, lease_expires_at = ?, lease_timeout_us = ?, "
                    "due_at = ?, wake_at = NULL, wait_signals = '[]', updated_at = ? "
                    f"WHERE run_id = ? RETURNING {RUN_COLUMNS}",
                    (now_us, worker_id, expires_us, timeout_us, expires_us, now_us, run_id),
                ).fetchall()
                record = record_of(rows[0])
                lease = Lease(run_id, worker_id, record.lease_epoch, expires)
                claims.append(Claim(run=record, lease=lease, reason=_REASONS[status]))
        return claims

    async def renew_lease(self, lease: Lease) -> Renewal:
        """See :meth:`runtime.stores.Store.renew_lease`."""
        check_lease(lease)
        return await self._call(self._renew, lease)

    def _renew(self, lease: Lease) -> Renewal:
        _, now_us = self._now()
        with self._transaction() as c:
            rows = c.execute(
                "UPDATE runs SET lease_expires_at = ? + lease_timeout_us, "
                "due_at = ? + lease_timeout_us, updated_at = ? "
                "WHERE run_id = ? AND lease_epoch = ? AND lease_owner = ? AND status = 'running' "
                "RETURNING lease_expires_at, cancel_requested",
                (now_us, now_us, now_us, lease.run_id, lease.epoch, lease.worker_id),
            ).fetchall()
            if not rows:
                raise self._lease_lost(c, lease)
        expires_us, cancel = rows[0]
        renewed = Lease(lease.run_id, lease.worker_id, lease.epoch, from_us(expires_us))
        return Renewal(lease=renewed, cancel_requested=bool(cancel))

    async def quarantine(self, lease: Lease) -> None:
        """See :meth:`runtime.stores.Store.quarantine`."""
        check_lease(lease)
        await self._call(self._quarantine, lease)

    def _quarantine(self, lease: Lease) -> None:
        with self._transaction() as c:
            marked = c.execute(
                "UPDATE runs SET lease_quarantined = 1 WHERE run_id = ? AND lease_epoch = ? "
                "AND lease_owner = ? AND status = 'running'",
                (lease.run_id, lease.epoch, lease.worker_id),
            ).rowcount
            if not marked:
                raise self._lease_lost(c, lease)

    async def release(
        self,
        lease: Lease,
        *,
        wake_at: datetime | None = None,
        wait_signals: Sequence[str] = (),
    ) -> None:
        """See :meth:`runtime.stores.Store.release`."""
        update = RunUpdate(
            status="waiting", wake_at=wake_at or self._clock(), wait_signals=tuple(wait_signals)
        )
        await self.append(lease, [], update=update)

    # ----------------------------------------------------------------- events

    async def append(
        self,
        lease: Lease,
        events: Sequence[EventDraft],
        *,
        update: RunUpdate | None = None,
        consume_signals: Sequence[int] = (),
    ) -> AppendResult:
        """See :meth:`runtime.stores.Store.append`."""
        check_lease(lease)
        check_drafts(self.limits, events, update, consume_signals)
        result_json = None
        if update is not None and update.status is not None and update.status != "waiting":
            result_json = encode_value(update.result)
            check_stored(self.limits, result_json, "the workflow's result", update.result)
        result, wakes = await self._call(
            self._append, lease, events, update, consume_signals, result_json
        )
        if wakes:
            self._notifier.notify()
        return result

    def _append(
        self,
        lease: Lease,
        drafts: Sequence[EventDraft],
        update: RunUpdate | None,
        consume: Sequence[int],
        result_json: str | None,
    ) -> tuple[AppendResult, bool]:
        now, now_us = self._now()
        at = now.isoformat()
        count = len(drafts)
        graph_hash = None if update is None else update.graph_hash
        wakes = False
        with self._transaction() as c:
            # The hot path reads the run (the fencing check and the last seq in
            # one statement) and inserts the events; the runs row is rewritten
            # only when the status changes or the lease needs extending.
            row = c.execute(
                "SELECT lease_epoch, lease_owner, status, cancel_requested, lease_expires_at, "
                "lease_timeout_us, (SELECT max(seq) FROM events AS e WHERE e.run_id = runs.run_id) "
                "FROM runs WHERE run_id = ?",
                (lease.run_id,),
            ).fetchone()
            if row is None or (row[0], row[1], row[2]) != (lease.epoch, lease.worker_id, "running"):
                raise self._lease_lost(c, lease)
            _, _, _, cancel, expires_us, timeout_us, previous = row
            first = previous + 1
            last_seq = previous + count
            if drafts:
                c.executemany(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            lease.run_id,
                            first + i,
                            d.type,
                            d.key,
                            d.payload_json,
                            at if d.at is None else d.at.astimezone(UTC).isoformat(),
                        )
                        for i, d in enumerate(drafts)
                    ],
                )
            for seq in consume:
                consumed = c.execute(
                    "UPDATE signals SET consumed = 1 WHERE run_id = ? AND seq = ? AND consumed = 0",
                    (lease.run_id, seq),
                ).rowcount
                if consumed != 1:
                    raise SignalConflict(lease.run_id, seq)
            new_lease: Lease | None = None
            if update is None or update.status is None:
                # Renew when less than half the lease is left: a worker that
                # commits often needs no heartbeat, at one row write per half lease.
                if expires_us - now_us < timeout_us // 2:
                    expires_us = now_us + timeout_us
                    c.execute(
                        "UPDATE runs SET lease_expires_at = ?, due_at = ?, updated_at = ?, "
                        "graph_hash = coalesce(?, graph_hash) WHERE run_id = ?",
                        (expires_us, expires_us, now_us, graph_hash, lease.run_id),
                    )
                elif graph_hash is not None or not drafts:
                    # Without an event to carry this append's time (see RUN_COLUMNS), the
                    # row must: an append that only consumes signals is activity too.
                    c.execute(
                        "UPDATE runs SET graph_hash = coalesce(?, graph_hash), updated_at = ? "
                        "WHERE run_id = ?",
                        (graph_hash, now_us, lease.run_id),
                    )
                new_lease = Lease(lease.run_id, lease.worker_id, lease.epoch, from_us(expires_us))
            elif update.status == "waiting":
                due_us = None if update.wake_at is None else to_us(update.wake_at)
                if cancel or self._signal_buffered(c, lease.run_id, update.wait_signals):
                    due_us = now_us
                wakes = due_us is not None and due_us <= now_us
                c.execute(
                    "UPDATE runs SET status = 'waiting', lease_owner = NULL, "
                    "lease_expires_at = NULL, due_at = ?, wake_at = ?, wait_signals = ?, "
                    "updated_at = ?, graph_hash = coalesce(?, graph_hash) WHERE run_id = ?",
                    (
                        due_us,
                        None if update.wake_at is None else to_us(update.wake_at),
                        json.dumps(list(update.wait_signals)),
                        now_us,
                        graph_hash,
                        lease.run_id,
                    ),
                )
            else:
                c.execute(
                    "UPDATE runs SET status = ?, lease_owner = NULL, lease_expires_at = NULL, "
                    "due_at = NULL, finished_at = ?, updated_at = ?, result = ?, error = ?, "
                    "graph_hash = coalesce(?, graph_hash) WHERE run_id = ?",
                    (
                        update.status,
                        now_us,
                        now_us,
                        result_json,
                        None if update.error is None else update.error.model_dump_json(),
                        graph_hash,
                        lease.run_id,
                    ),
                )
        return AppendResult(last_seq, new_lease, bool(cancel), now), wakes

    @staticmethod
    def _signal_buffered(c: sqlite3.Connection, run_id: str, names: Sequence[str]) -> bool:
        if not names:
            return False
        row = c.execute(
            f"SELECT 1 FROM signals WHERE run_id = ? AND consumed = 0 "
            f"AND name IN ({', '.join('?' * len(names))}) LIMIT 1",
            (run_id, *names),
        ).fetchone()
        return row is not None

    async def history(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """See :meth:`runtime.stores.Store.history`."""
        check_history_args(run_id, after_seq, limit)
        rows = await self._call(self._history, run_id, after_seq, limit)
        return decode_events(rows)

    def _history(self, run_id: str, after_seq: int, limit: int | None) -> list[Any]:
        rows = self._c.execute(
            "SELECT seq, type, key, payload, at FROM events WHERE run_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (run_id, after_seq, -1 if limit is None else limit),
        ).fetchall()
        if not rows:
            self._select_run(self._c, run_id)  # raises RunNotFound for an unknown run
        return rows

    # ----------------------------------------------------------------- signals

    async def send_signal(self, run_id: str, name: str, payload: Any = None) -> Signal:
        """See :meth:`runtime.stores.Store.send_signal`."""
        check_signal_args(name, payload, run_id)
        payload_json = encode_value(payload)
        check_stored(self.limits, payload_json, f"the payload of signal {shown(name)}", payload)
        draft = EventDraft(SignalReceivedPayload(name=name, payload=payload))
        signal, wakes = await self._call(self._send_signal, run_id, name, payload_json, draft)
        if wakes:
            self._notifier.notify()
        return signal

    def _send_signal(
        self, run_id: str, name: str, payload_json: str, draft: EventDraft
    ) -> tuple[Signal, bool]:
        now, now_us = self._now()
        with self._transaction() as c:
            row = c.execute(
                "SELECT status, wait_signals, "
                "(SELECT max(seq) FROM events AS e WHERE e.run_id = runs.run_id) "
                "FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise RunNotFound(run_id)
            if row[0] in TERMINAL_STATUSES:
                raise RunFinished(run_id, row[0])
            bound = self.limits.max_buffered_signals
            # Each buffered signal has its event: a run with fewer events needs no count.
            if bound is not None and row[2] >= bound:
                # The signals_pending index holds exactly the buffered signals.
                (buffered,) = c.execute(
                    "SELECT count(*) FROM signals WHERE run_id = ? AND consumed = 0", (run_id,)
                ).fetchone()
                if buffered >= bound:
                    raise TooManySignals(run_id, name, bound)
            wakes = row[0] == "waiting" and name in json.loads(row[1])
            seq = row[2] + 1
            if wakes:
                c.execute("UPDATE runs SET due_at = ? WHERE run_id = ?", (now_us, run_id))
            c.execute(
                "INSERT INTO events VALUES (?, ?, ?, NULL, ?, ?)",
                (run_id, seq, draft.type, draft.payload_json, now.isoformat()),
            )
            c.execute(
                "INSERT INTO signals (run_id, seq, name, payload, sent_at) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, name, payload_json, now_us),
            )
        signal = Signal(run_id, seq, name, decode_value(payload_json), from_us(now_us))
        return signal, wakes

    async def next_signal(self, run_id: str, name: str) -> Signal | None:
        """See :meth:`runtime.stores.Store.next_signal`."""
        check_signal_args(name, None, run_id)
        return await self._call(self._next_signal, run_id, name)

    def _next_signal(self, run_id: str, name: str) -> Signal | None:
        row = self._c.execute(
            "SELECT seq, payload, sent_at FROM signals "
            "WHERE run_id = ? AND name = ? AND consumed = 0 ORDER BY seq LIMIT 1",
            (run_id, name),
        ).fetchone()
        if row is None:
            self._select_run(self._c, run_id)  # raises RunNotFound for an unknown run
            return None
        return Signal(run_id, row[0], name, decode_value(row[1]), from_us(row[2]))

    async def request_cancel(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.request_cancel`."""
        check_run_id(run_id)
        record = await self._call(self._request_cancel, run_id)
        if record.status == "waiting":
            self._notifier.notify()
        return record

    def _request_cancel(self, run_id: str) -> RunRecord:
        now, now_us = self._now()
        # BEGIN IMMEDIATE: a claim in another process either took the run before
        # this read (so it is running and only gets the flag) or sees it cancelled.
        with self._transaction() as c:
            row = c.execute(
                "SELECT status, (SELECT max(seq) FROM events AS e WHERE e.run_id = runs.run_id) "
                "FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise RunNotFound(run_id)
            status, last_seq = row
            if status in TERMINAL_STATUSES:
                raise RunFinished(run_id, status)
            if status == "pending":
                # Never claimed: nothing to stop or compensate, so it ends here.
                c.execute(
                    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, error = ?, "
                    "finished_at = ?, updated_at = ?, due_at = NULL WHERE run_id = ?",
                    (CANCELLED_ERROR.model_dump_json(), now_us, now_us, run_id),
                )
                c.execute(
                    "INSERT INTO events VALUES (?, ?, ?, NULL, ?, ?)",
                    (
                        run_id,
                        last_seq + 1,
                        CANCELLED_EVENT.type,
                        CANCELLED_EVENT.payload_json,
                        now.isoformat(),
                    ),
                )
            else:
                c.execute(
                    "UPDATE runs SET cancel_requested = 1, updated_at = ?, "
                    "due_at = CASE WHEN status = 'waiting' THEN ? ELSE due_at END "
                    "WHERE run_id = ?",
                    (now_us, now_us, run_id),
                )
            return self._select_run(c, run_id)

    # ----------------------------------------------------------------- lifecycle

    async def wait_for_work(self, timeout: float) -> None:
        """See :meth:`runtime.stores.Store.wait_for_work`.

        Only writes made in this process wake the waiter; other processes'
        writes are found by the worker's next poll.
        """
        await self._notifier.wait(timeout)

    async def close(self) -> None:
        """Close the connection and stop the store's thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"<SQLiteStore {self._path}>"
