"""The PostgreSQL store (``postgresql://``): many workers on many machines, one database.

URL: ``postgresql://user:password@host:port/dbname?option=value``; the store's own
options (``schema``, pool sizes, ``pool_timeout``) are those
:func:`~runtime.stores._pg_pool.parse_postgres_url` reads, every other goes to libpq
exactly as written.

Opening the store connects once, synchronously, to check the URL and create or
migrate the schema (see :mod:`runtime.stores._pg_schema`), so a bad URL fails
at once with one line. The async connection pool opens on first use, in the
event loop that uses it. Pooled connections are checked when taken from the
pool: one whose server went away (a restart, ``pg_terminate_backend``) is
replaced, so the next operation succeeds. An operation whose connection dies
anyway is tried again, on fresh connections, until ``pool_timeout`` has passed;
then it raises :class:`~runtime.stores._pg_pool.StoreUnavailable` (a
``StoreError`` that is also a ``ConnectionError``: what was asked may have been
done, and repeating it is safe). While the server is away the pool tries to
reconnect about once a second.

Concurrency, per the model of :mod:`runtime.stores.base`:

* ``claim`` picks due runs with ``FOR UPDATE SKIP LOCKED`` and leases them in
  the same statement: concurrent claimers never block on, or share, a run;
* every write to a run first updates the run's row (``last_seq`` and the
  fence), which locks it until commit: appends and signals to one run are
  serialised and their seqs stay gapless, while different runs never wait on
  each other;
* the hot path - an append that keeps the run running - is one statement (its
  own transaction): fence check, seq allocation, lease renewal and the event
  rows. Appends that change the status or consume signals are one explicit
  transaction;
* ``workflow_stats`` reads ``run_counts``, which triggers on the runs keep in
  the transaction of each status change (sharded by connection, so concurrent
  transitions do not queue on one row): its cost follows the number of
  workflows, not of runs.

Clock: every time the store writes or compares (leases, due times, the run's
timestamps, event and signal times) is the database server's, read in the
statement, so workers whose clocks disagree still agree on every lease (see
:mod:`runtime.stores._pg_sql`, which holds the writes' SQL). A claimed run's
``updated_at`` and an append's ``at`` tell a worker the server's time. Only a
clock passed explicitly (a test's manual clock) replaces it.

Wake-ups: writes that make a run due (trigger, a signal it waits for,
cancelling a waiting run, a release) ``NOTIFY`` the schema's channel in their
transaction; a wait that sets a timer notifies how long until it is due.
``wait_for_work`` ``LISTEN`` s on a dedicated connection and returns at the
first notification, or when the earliest timer it heard of is due; workers
still poll as the fallback.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from ..errors import RunFinished, RunNotFound, shown
from ..events import (
    Event,
    EventDraft,
    RunCreatedPayload,
    SignalReceivedPayload,
)
from ._checks import (
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
    limits_from_options,
)
from ._codec import decode_events, decode_value, encode_value
from ._notify import Notifier
from ._pg_listen import _TIMER_PREFIX, _PgListen
from ._pg_pool import StoreUnavailable, _int_option, parse_postgres_url
from ._pg_schema import DEFAULT_SCHEMA, SCHEMA_VERSION, quote_schema
from ._pg_sql import RUN_COLUMNS as _RUN_COLUMNS
from ._pg_sql import (
    append_sql,
    cancel_sql,
    check_inbox,
    claim_sql,
    create_sql,
    end_sql,
    quarantine_sql,
    record_of,
    renew_sql,
    signal_sql,
    wait_sql,
)
from ._redact import url_secrets
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
    WorkflowStats,
    decode_cursor,
    encode_cursor,
    from_us,
    stats_from_counts,
    system_clock,
    to_us,
)

__all__ = ["SCHEMA_VERSION", "PostgresStore", "parse_postgres_url"]

_MAX_UNSETTLED = 1024  # appends awaiting a repeat that are remembered, per store

_REASONS: dict[str, ClaimReason] = {
    "pending": "new",
    "waiting": "resumed",
    "running": "recovered",
}


class PostgresStore(_PgListen):
    """A store in a PostgreSQL database, shared by workers and clients on many machines.

    Args:
        url: ``postgresql://user@host:port/dbname?schema=vrb`` (see the module docstring).
        clock: A notion of now to use instead of the database server's clock (tests
            pass a manual clock). ``None``, and :func:`~runtime.stores.base.system_clock`
            (what :func:`~runtime.stores.open_store` passes by default), mean the
            server's: every machine then agrees on leases and due times.
        limits: The store's bounds; default: the URL's ``max_payload_bytes`` and
            ``max_buffered_signals`` options, else :class:`~runtime.stores.StoreLimits` ``()``.

    Raises:
        ConfigurationError: The URL is malformed or has a bad option.
        StoreError: The server cannot be reached or refuses the connection.
        SchemaVersionError: The schema belongs to a newer vrb-workflows, or is not a vrb store.
    """

    def __init__(
        self, url: str, *, clock: Clock | None = None, limits: StoreLimits | None = None
    ) -> None:
        libpq_url, options, display = parse_postgres_url(url)
        self.limits = limits_from_options(options, display) if limits is None else limits
        """The store's bounds (:class:`~runtime.stores.StoreLimits`)."""
        self._schema = options.get("schema") or DEFAULT_SCHEMA
        self._s = quote_schema(self._schema)
        self._display = f"{display} (schema {self._schema})"
        self._min_size = _int_option(options, "pool_min_size", 1, display)
        self._max_size = max(_int_option(options, "pool_max_size", 10, display), self._min_size)
        self._pool_timeout = float(_int_option(options, "pool_timeout", 30, display))
        params = conninfo_to_dict(libpq_url)
        # What the driver's messages must never show (see _PgPool._said).
        password = str(params.get("password") or "")
        self._secrets = url_secrets(url) + ((password,) if len(password) >= 3 else ())
        # Timestamps come back in UTC whatever the server's default time zone.
        params["options"] = (str(params.get("options") or "") + " -c TimeZone=UTC").strip()
        params.setdefault("application_name", "vrb-workflows")
        params.setdefault("connect_timeout", "10")
        self._conninfo = make_conninfo("", **params)
        self._clock = None if clock is system_clock else clock
        self._channel = f"vrb_work_{self._schema}"
        self._wakeup = Notifier()
        self._pool: AsyncConnectionPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._pool_open: asyncio.Task[None] | None = None
        self._pool_guard: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._heard = 0  # notifications heard (and reconnections of the listener)
        self._seen = 0  # the value of _heard when wait_for_work last returned
        self._timers: list[float] = []
        # Appends whose outcome a lost connection hid, by lease: what was asked, its token.
        self._unsettled: dict[tuple[str, str, int], tuple[tuple[Any, ...], str]] = {}
        self._closed = False
        self._open_check()

    # ----------------------------------------------------------------- plumbing

    def _now(self) -> datetime | None:
        """The explicit clock's time, passed to every write as ``now``; ``None``: the server's."""
        return None if self._clock is None else self._clock()

    async def _lease_lost(self, conn: psycopg.AsyncConnection[Any], lease: Lease) -> NoReturn:
        cursor = await conn.execute(
            f"SELECT status, lease_owner, lease_epoch FROM {self._s}.runs WHERE run_id = %s",
            (lease.run_id,),
        )
        row = await cursor.fetchone()
        if row is None:
            reason = "the run does not exist"
        elif row[0] != "running":
            reason = f"the run is {row[0]}"
        else:
            reason = f"worker {row[1]!r} took it over (epoch {row[2]})"
        raise LeaseLost(lease.run_id, lease.worker_id, lease.epoch, reason)

    async def _select_run(self, conn: psycopg.AsyncConnection[Any], run_id: str) -> RunRecord:
        cursor = await conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM {self._s}.runs WHERE run_id = %s", (run_id,)
        )
        row = await cursor.fetchone()
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
        now = self._now()
        token = uuid.uuid4().hex
        attempts = 0

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[RunRecord, bool]:
            nonlocal attempts
            attempts += 1
            cursor = await conn.execute(
                create_sql(self._s),
                {
                    "run_id": run_id,
                    "wf": workflow_name,
                    "gh": graph_hash,
                    "input": input_json,
                    "now": now,
                    "type": draft.type,
                    "payload": draft.payload_json,
                    "channel": self._channel,
                    "wake": "",
                    "token": token,
                },
            )
            row = await cursor.fetchone()
            if row is None:
                existing = await self._select_run(conn, run_id)
                if attempts > 1 and await self._created_by(conn, run_id, token):
                    return existing, True  # the first attempt committed, then lost its answer
                if existing.workflow_name != workflow_name:
                    raise RunIdConflict(run_id, workflow_name, existing.workflow_name)
                return existing, False
            return record_of(row), True

        # Safe to repeat: a second try finds the run the first one committed, and
        # its token says who created it (until the run's first append replaces it:
        # a retry that late reports an existing run).
        return await self._retrying(work)

    async def _created_by(
        self, conn: psycopg.AsyncConnection[Any], run_id: str, token: str
    ) -> bool:
        cursor = await conn.execute(
            f"SELECT 1 FROM {self._s}.runs WHERE run_id = %s AND append_token = %s",
            (run_id, token),
        )
        return await cursor.fetchone() is not None

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.get_run`."""
        check_run_id(run_id)
        return await self._retrying(lambda conn: self._select_run(conn, run_id))

    def list_query(
        self,
        workflow_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters :meth:`list_runs` runs (one more row than ``limit``)."""
        where: list[str] = []
        params: list[Any] = []
        if workflow_name is not None:
            where.append("workflow_name = %s")
            params.append(workflow_name)
        if status is not None:
            where.append("status = %s")
            params.append(status)
        if cursor is not None:
            created_us, after_id = decode_cursor(cursor)
            # A row comparison: one index range scan from the cursor on.
            where.append("(created_at, run_id) < (%s, %s)")
            params += [from_us(created_us), after_id]
        sql = f"SELECT {_RUN_COLUMNS} FROM {self._s}.runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT %s"
        params.append(limit + 1)
        return sql, params

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
        rows = await self._fetchall(*self.list_query(workflow_name, status, limit, cursor))
        records = [record_of(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = records[-1]
            next_cursor = encode_cursor(to_us(last.created_at), last.run_id)
        return RunPage(runs=records, next_cursor=next_cursor)

    def stats_query(self, workflow_name: str | None = None) -> tuple[str, list[Any]]:
        """The SQL and parameters :meth:`workflow_stats` runs.

        It sums the shards of ``run_counts`` (kept by triggers on the runs, see
        :mod:`runtime.stores._pg_schema`), never scans the runs: its cost depends
        on the number of workflows, not of runs.
        """
        where, params = ("WHERE workflow_name = %s", [workflow_name]) if workflow_name else ("", [])
        sql = (
            "SELECT status, sum(runs)::bigint, sum(finished)::bigint, sum(duration_us) "
            f"FROM {self._s}.run_counts {where} GROUP BY status"
        )
        return sql, params

    async def workflow_stats(self, workflow_name: str | None = None) -> WorkflowStats:
        """See :meth:`runtime.stores.Store.workflow_stats`."""
        check_workflow_filter(workflow_name)
        rows = await self._fetchall(*self.stats_query(workflow_name))
        counts = {row[0]: row[1] for row in rows}
        finished = sum(row[2] for row in rows)
        total_us = float(sum(row[3] for row in rows))
        return stats_from_counts(counts, finished, total_us)

    # ----------------------------------------------------------------- leases

    def claim_query(
        self,
        worker_id: str,
        names: list[str] | None,
        lease_timeout: float,
        limit: int,
        now: datetime | None,
        exclude: Sequence[str] = (),
    ) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters :meth:`claim` runs (``now=None``: the server's clock)."""
        params = {
            "now": now,
            "names": names,
            "exclude": list(exclude),
            "limit": limit,
            "worker": worker_id,
            "timeout": timedelta(seconds=lease_timeout),
        }
        return claim_sql(self._s, names is not None), params

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
        query = self.claim_query(worker_id, names, lease_timeout, limit, self._now(), exclude)
        rows = await self._fetchall(*query)
        rows.sort(key=lambda row: (row[1], row[2]))
        claims: list[Claim] = []
        for row in rows:
            record = record_of(row[2:])
            assert record.lease_expires_at is not None
            lease = Lease(record.run_id, worker_id, record.lease_epoch, record.lease_expires_at)
            claims.append(Claim(run=record, lease=lease, reason=_REASONS[row[0]]))
        return claims

    async def renew_lease(self, lease: Lease) -> Renewal:
        """See :meth:`runtime.stores.Store.renew_lease`."""
        check_lease(lease)
        now = self._now()

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
            cursor = await conn.execute(
                renew_sql(self._s),
                {
                    "now": now,
                    "run_id": lease.run_id,
                    "epoch": lease.epoch,
                    "worker": lease.worker_id,
                },
            )
            row = await cursor.fetchone()
            if row is None:
                await self._lease_lost(conn, lease)
            return tuple(row)

        row = await self._retrying(work)
        renewed = Lease(lease.run_id, lease.worker_id, lease.epoch, row[0])
        return Renewal(lease=renewed, cancel_requested=row[1])

    async def quarantine(self, lease: Lease) -> None:
        """See :meth:`runtime.stores.Store.quarantine`."""
        check_lease(lease)
        held = {"run_id": lease.run_id, "epoch": lease.epoch, "worker": lease.worker_id}

        async def work(conn: psycopg.AsyncConnection[Any]) -> None:
            # Setting a flag twice is harmless: a retry after a lost answer is safe.
            cursor = await conn.execute(quarantine_sql(self._s), held)
            if await cursor.fetchone() is None:
                await self._lease_lost(conn, lease)

        await self._retrying(work)

    async def release(
        self,
        lease: Lease,
        *,
        wake_at: datetime | None = None,
        wait_signals: Sequence[str] = (),
    ) -> None:
        """See :meth:`runtime.stores.Store.release`."""
        check_lease(lease)
        update = RunUpdate(status="waiting", wake_at=wake_at, wait_signals=tuple(wait_signals))
        # Without a wake time it is due at once: at the release's own (server) time.
        await self._append(lease, [], update, (), wake_now=wake_at is None)

    # ----------------------------------------------------------------- events

    async def append(
        self,
        lease: Lease,
        events: Sequence[EventDraft],
        *,
        update: RunUpdate | None = None,
        consume_signals: Sequence[int] = (),
    ) -> AppendResult:
        """See :meth:`runtime.stores.Store.append`.

        Raises:
            StoreUnavailable: The server could not be reached, or the connection
                died before the answer came: the append may have committed.
                Repeating it (the same lease, events, update and signals) is
                safe: the repeat finds that commit and returns its result.
        """
        check_lease(lease)
        check_drafts(self.limits, events, update, consume_signals)
        if update is not None and update.status is not None and update.status != "waiting":
            check_stored(
                self.limits, encode_value(update.result), "the workflow's result", update.result
            )
        return await self._append(lease, events, update, consume_signals, wake_now=False)

    async def _append(
        self,
        lease: Lease,
        events: Sequence[EventDraft],
        update: RunUpdate | None,
        consume_signals: Sequence[int],
        *,
        wake_now: bool,
    ) -> AppendResult:
        drafts = tuple((draft.type, draft.key, draft.payload_json, draft.at) for draft in events)
        asked = (drafts, update, tuple(consume_signals), wake_now)
        held = (lease.run_id, lease.worker_id, lease.epoch)
        earlier = self._unsettled.pop(held, None)
        # The same append again after a failure that hid its outcome: the same
        # token, so a first try that committed is found, not redone.
        token = earlier[1] if earlier is not None and earlier[0] == asked else uuid.uuid4().hex
        params = {
            "now": self._now(),
            "n": len(events),
            "gh": None if update is None else update.graph_hash,
            "run_id": lease.run_id,
            "worker": lease.worker_id,
            "epoch": lease.epoch,
            "types": [draft.type for draft in events],
            "keys": [draft.key for draft in events],
            "payloads": [draft.payload_json for draft in events],
            "ats": [draft.at for draft in events],
            "token": token,
        }
        status = None if update is None else update.status
        # The seq of the first event stamped with the append's time, if any: a
        # repeat that finds the first attempt committed reads that time there.
        stamped = next((i for i, draft in enumerate(events) if draft.at is None), None)
        probe = None if stamped is None else stamped - len(events) + 1

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
            if status is None and not consume_signals:
                # The hot path: one statement, so one round trip and one commit.
                cursor = await conn.execute(append_sql(self._s), params)
                row = await cursor.fetchone()
                if row is None:
                    return await self._landed_or_lost(conn, lease, token, probe)
                return tuple(row)
            async with conn.transaction():
                cursor = await conn.execute(append_sql(self._s), params)
                row = await cursor.fetchone()
                if row is None:
                    return await self._landed_or_lost(conn, lease, token, probe)
                await self._consume(conn, lease.run_id, consume_signals)
                if update is not None and status is not None:
                    await self._apply_status(conn, lease.run_id, update, wake_now)
                return tuple(row)

        # The token makes a repeat safe: a first attempt that committed is found, not redone.
        try:
            last_seq, cancel, expires, at = await self._retrying(work)
        except StoreUnavailable:
            self._unsettled[held] = (asked, token)
            if len(self._unsettled) > _MAX_UNSETTLED:  # callers that never repeated
                del self._unsettled[next(iter(self._unsettled))]
            raise
        new_lease = None
        if status is None:
            new_lease = Lease(lease.run_id, lease.worker_id, lease.epoch, expires)
        return AppendResult(last_seq=last_seq, lease=new_lease, cancel_requested=cancel, at=at)

    async def _landed_or_lost(
        self, conn: psycopg.AsyncConnection[Any], lease: Lease, token: str, probe: int | None
    ) -> tuple[Any, ...]:
        """After a fenced update matched nothing: this append's earlier attempt, or LeaseLost.

        ``probe``: the seq, counted back from the append's last, of an event
        stamped with its time; without one the run's ``updated_at`` is the best
        guess (exact unless another write to the run came since).
        """
        s = self._s
        cursor = await conn.execute(
            "SELECT r.append_seq, r.cancel_requested, r.lease_expires_at, "
            f"coalesce((SELECT e.at FROM {s}.events AS e WHERE e.run_id = r.run_id "
            "AND e.seq = r.append_seq + %s), r.updated_at) "
            f"FROM {s}.runs AS r WHERE r.run_id = %s AND r.append_token = %s",
            (probe, lease.run_id, token),
        )
        row = await cursor.fetchone()
        if row is None:
            await self._lease_lost(conn, lease)
        return tuple(row)

    async def _consume(
        self, conn: psycopg.AsyncConnection[Any], run_id: str, seqs: Sequence[int]
    ) -> None:
        if not seqs:
            return
        cursor = await conn.execute(
            f"UPDATE {self._s}.signals SET consumed = true "
            "WHERE run_id = %s AND seq = ANY(%s) AND NOT consumed RETURNING seq",
            (run_id, list(seqs)),
        )
        consumed = {row[0] for row in await cursor.fetchall()}
        seen: set[int] = set()
        for seq in seqs:
            if seq not in consumed or seq in seen:
                raise SignalConflict(run_id, seq)  # rolls the whole append back
            seen.add(seq)

    async def _apply_status(
        self,
        conn: psycopg.AsyncConnection[Any],
        run_id: str,
        update: RunUpdate,
        wake_now: bool,
    ) -> None:
        """Apply a status change inside the append's transaction, and notify its due time.

        Its times are the append's, the ``updated_at`` its first statement set.
        """
        if update.status != "waiting":
            await conn.execute(
                end_sql(self._s),
                {
                    "status": update.status,
                    "result": encode_value(update.result),
                    "error": None if update.error is None else update.error.model_dump_json(),
                    "run_id": run_id,
                },
            )
            return
        cursor = await conn.execute(
            wait_sql(self._s),
            {
                "wake": update.wake_at,
                "wake_now": wake_now,
                "names": list(update.wait_signals),
                "run_id": run_id,
            },
        )
        row = await cursor.fetchone()
        if row is not None and row[0] is not None:
            # Due now: wake a worker. Later: tell listeners in how long, so they
            # poll then (seconds, not a time: their clocks need not agree with ours).
            hint = "" if row[1] <= 0 else f"{_TIMER_PREFIX}{row[1]!r}"
            await conn.execute("SELECT pg_notify(%s, %s)", (self._channel, hint))

    async def history(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """See :meth:`runtime.stores.Store.history`."""
        check_history_args(run_id, after_seq, limit)

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(
                f"SELECT seq, type, key, payload, at FROM {self._s}.events "
                "WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                (run_id, after_seq, limit),
            )
            rows = await cursor.fetchall()
            if not rows:
                await self._select_run(conn, run_id)  # raises RunNotFound for an unknown run
            return rows

        rows = await self._retrying(work)
        return decode_events(
            (seq, type_, key, payload, at.isoformat()) for seq, type_, key, payload, at in rows
        )

    # ----------------------------------------------------------------- signals

    async def send_signal(self, run_id: str, name: str, payload: Any = None) -> Signal:
        """See :meth:`runtime.stores.Store.send_signal`."""
        check_signal_args(name, payload, run_id)
        payload_json = encode_value(payload)
        check_stored(self.limits, payload_json, f"the payload of signal {shown(name)}", payload)
        draft = EventDraft(SignalReceivedPayload(name=name, payload=payload))
        now = self._now()
        token = uuid.uuid4().hex
        attempts = 0

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                # The first attempt lost its connection: did it commit?
                cursor = await conn.execute(
                    f"SELECT seq, sent_at FROM {self._s}.signals WHERE run_id = %s AND token = %s",
                    (run_id, token),
                )
                landed = await cursor.fetchone()
                if landed is not None:
                    return tuple(landed)
            bound = self.limits.max_buffered_signals
            row = await send(conn, bound)
            if row is not None:
                return row
            existing = await self._select_run(conn, run_id)  # RunNotFound if unknown
            if bound is None or existing.status in TERMINAL_STATUSES:
                raise RunFinished(run_id, existing.status)
            # A run with as many events as the bound: count its inbox under its lock.
            async with conn.transaction():
                await check_inbox(conn, self._s, run_id, name, bound)
                row = await send(conn, None)
            if row is None:
                raise RunFinished(run_id, (await self._select_run(conn, run_id)).status)
            return row

        async def send(
            conn: psycopg.AsyncConnection[Any], under: int | None
        ) -> tuple[Any, ...] | None:
            cursor = await conn.execute(
                signal_sql(self._s),
                {
                    "now": now,
                    "name": name,
                    "run_id": run_id,
                    "type": draft.type,
                    "event": draft.payload_json,
                    "payload": payload_json,
                    "token": token,
                    "channel": self._channel,
                    "wake": "",
                    "under": under,
                },
            )
            row = await cursor.fetchone()
            return None if row is None else tuple(row[:2])

        seq, sent_at = await self._retrying(work)
        return Signal(run_id, seq, name, decode_value(payload_json), sent_at)

    async def next_signal(self, run_id: str, name: str) -> Signal | None:
        """See :meth:`runtime.stores.Store.next_signal`."""
        check_signal_args(name, None, run_id)

        async def work(conn: psycopg.AsyncConnection[Any]) -> Signal | None:
            cursor = await conn.execute(
                f"SELECT seq, payload, sent_at FROM {self._s}.signals "
                "WHERE run_id = %s AND name = %s AND NOT consumed ORDER BY seq LIMIT 1",
                (run_id, name),
            )
            row = await cursor.fetchone()
            if row is None:
                await self._select_run(conn, run_id)  # raises RunNotFound for an unknown run
                return None
            return Signal(run_id, row[0], name, decode_value(row[1]), row[2])

        return await self._retrying(work)

    async def request_cancel(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.request_cancel`."""
        check_run_id(run_id)
        now = self._now()
        token = uuid.uuid4().hex
        attempts = 0

        async def work(conn: psycopg.AsyncConnection[Any]) -> RunRecord:
            nonlocal attempts
            attempts += 1
            # One statement: the update locks the row, so a claim racing with it
            # either took the run first (its SKIP LOCKED scan, then this update
            # re-reads the row, now running, and only sets the flag) or skips it
            # and then finds it no longer due.
            cursor = await conn.execute(
                cancel_sql(self._s),
                {
                    "now": now,
                    "run_id": run_id,
                    "error": CANCELLED_ERROR.model_dump_json(),
                    "token": token,
                    "type": CANCELLED_EVENT.type,
                    "event": CANCELLED_EVENT.payload_json,
                    "channel": self._channel,
                    "wake": "",
                },
            )
            row = await cursor.fetchone()
            if row is None:
                existing = await self._select_run(conn, run_id)  # RunNotFound if unknown
                if attempts > 1:
                    # Did the first attempt end it, then lose its connection?
                    cursor = await conn.execute(
                        f"SELECT 1 FROM {self._s}.runs WHERE run_id = %s AND append_token = %s",
                        (run_id, token),
                    )
                    if await cursor.fetchone() is not None:
                        return existing
                raise RunFinished(run_id, existing.status)
            return record_of(row)

        return await self._retrying(work)

    # ----------------------------------------------------------------- lifecycle

    async def close(self) -> None:
        """Stop listening and close the pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        pool = self._pool
        self._pool = None
        if pool is not None and self._pool_loop is asyncio.get_running_loop():
            if self._pool_open is not None:
                await asyncio.gather(self._pool_open, return_exceptions=True)
            await pool.close()
            if self._pool_guard is not None:
                self._pool_guard.cancel()
                await asyncio.gather(self._pool_guard, return_exceptions=True)

    def __repr__(self) -> str:
        return f"<PostgresStore {self._display}>"
