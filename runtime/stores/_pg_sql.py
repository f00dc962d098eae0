"""The PostgreSQL store's writes, as SQL text, and the clock they read; its rows read back.

Whose clock
-----------
Leases and due times are compared across machines: a lease one worker set is
judged lapsed by another's claim. With each worker's own clock, a worker whose
clock runs ahead sees every live lease as lapsed and takes over runs still in
flight. So every time a write stores (``created_at``, ``updated_at``,
``started_at``, ``finished_at``, lease expiries, due times, a "now" wake-up,
the ``at`` of events, ``sent_at`` of signals) and every due comparison of a
claim is the **database server's** clock, read in the statement. Only a store
given a clock explicitly (a test's manual clock) uses that one instead: each
statement takes it as the ``now`` parameter, and :data:`NOW` prefers it.

Which reading of the server's clock
-----------------------------------
``now()`` (``transaction_timestamp()``) is when the transaction began, and
``statement_timestamp()`` when the statement arrived: both come before the run's
row lock, which a write may queue for behind another write to the same run (a
signal, a renewal, an append's status change). A writer that queued would then
store a time earlier than the write it queued behind, though it commits after
it and its events get the higher seqs, and a renewal could move a lease back
behind the one an append just set. ``clock_timestamp()`` is read when it is
evaluated: in the ``SET`` of the run's row update it is evaluated for the row
version the writer holds locked (a write that waited is re-evaluated against the
newest version, PostgreSQL's EvalPlanQual), so times follow each run's write
order. It changes at every call, though, and the events of one append must all
get the append's time. So each row update reads it **once**, in a correlated
sub-select that assigns every timed column together
(``SET (updated_at, ...) = (SELECT t.now, ... FROM (SELECT <clock> AS now) AS t)``;
correlated - it names the row's columns - so it is evaluated per row, after the
lock; an uncorrelated one would be an InitPlan, read once before any lock), and
the rest of the statement takes that reading from ``RETURNING``: the events'
``at`` (unless a draft carries its own), a signal's ``sent_at``, and
:attr:`~runtime.stores.AppendResult.at`. Later statements of the same
transaction (an append's status change) reuse the row's ``updated_at``.

A claim compares ``due_at`` with ``statement_timestamp()`` instead: a volatile
bound could not bound the index range scan (it would filter every run that can
become due), and a claim never queues for a lock (``SKIP LOCKED``), so the
statement's start is its moment. The leases it grants start at the post-lock
reading, no earlier than the moment the run was found due; the claimed run's
``updated_at`` is that reading, the server's time a worker learns from a claim
(as it does from every append's ``at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..errors import TooManySignals
from ..events import ErrorInfo
from ._codec import decode_value
from .base import RunRecord

__all__ = [
    "NOW",
    "RUN_COLUMNS",
    "append_sql",
    "cancel_sql",
    "check_inbox",
    "claim_sql",
    "create_sql",
    "end_sql",
    "quarantine_sql",
    "record_of",
    "renew_sql",
    "signal_sql",
    "wait_sql",
]

RUN_COLUMNS = (
    "run_id, workflow_name, graph_hash, input, status, result, error, created_at, "
    "updated_at, started_at, finished_at, wake_at, wait_signals, cancel_requested, "
    "lease_owner, lease_epoch, lease_expires_at, recoveries, last_seq, quarantine_deaths"
)

NOW = "coalesce(%(now)s::timestamptz, clock_timestamp())"
"""The time of a write: the explicit clock's (the ``now`` parameter), else the server's."""

_DUE_BOUND = "coalesce(%(now)s::timestamptz, statement_timestamp())"
_READ = f"FROM (SELECT {NOW} AS now) AS t"  # the one clock reading of a row update
_NOTIFY = "pg_notify(%(channel)s, %(wake)s)"


def create_sql(s: str) -> str:
    """The run row and its ``run_created`` event (at the run's ``created_at``), or nothing."""
    return (
        f"WITH ins AS (INSERT INTO {s}.runs (run_id, workflow_name, graph_hash, input, "
        "status, created_at, updated_at, due_at, last_seq, append_token) "
        "SELECT %(run_id)s, %(wf)s, %(gh)s, %(input)s, 'pending', t.now, t.now, t.now, 1, "
        f"%(token)s {_READ} ON CONFLICT (run_id) DO NOTHING RETURNING {RUN_COLUMNS}), "
        f"ev AS (INSERT INTO {s}.events (run_id, seq, type, key, payload, at) "
        "SELECT run_id, 1, %(type)s, NULL, %(payload)s, created_at FROM ins) "
        f"SELECT ins.*, {_NOTIFY} FROM ins"
    )


def claim_sql(s: str, by_name: bool) -> str:
    """Lease due runs (``%(names)s`` filters them when ``by_name``); returns their rows."""
    name_filter = "AND workflow_name = ANY(%(names)s) " if by_name else ""
    name_filter += "AND NOT run_id = ANY(%(exclude)s::text[]) "
    return (
        # SKIP LOCKED: a run another claimer is taking is passed over, never
        # waited for; the lock is re-checked against the row's newest version.
        f"WITH due AS (SELECT run_id, status, due_at FROM {s}.runs "
        f"WHERE due_at <= {_DUE_BOUND} {name_filter}"
        "ORDER BY due_at, run_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
        f"UPDATE {s}.runs AS r SET "
        "recoveries = r.recoveries + (due.status = 'running')::int, "
        "quarantine_deaths = r.quarantine_deaths "
        "+ (due.status = 'running' AND r.lease_quarantined)::int, "
        "lease_quarantined = false, status = 'running', "
        "lease_owner = %(worker)s, lease_epoch = r.lease_epoch + 1, "
        "lease_timeout = %(timeout)s, wake_at = NULL, wait_signals = '{}', "
        "(started_at, updated_at, lease_expires_at, due_at) = (SELECT "
        "coalesce(r.started_at, t.now), t.now, t.now + %(timeout)s, t.now + %(timeout)s "
        f"{_READ}) "
        "FROM due WHERE r.run_id = due.run_id "
        "RETURNING due.status, due.due_at, "
        + ", ".join(f"r.{column.strip()}" for column in RUN_COLUMNS.split(","))
    )


def quarantine_sql(s: str) -> str:
    """Mark the current lease quarantined, if still held; returns a row when it is."""
    return (
        f"UPDATE {s}.runs SET lease_quarantined = true "
        "WHERE run_id = %(run_id)s AND lease_epoch = %(epoch)s "
        "AND lease_owner = %(worker)s AND status = 'running' RETURNING run_id"
    )


def renew_sql(s: str) -> str:
    """A heartbeat: the lease extended by its timeout from now, if still held."""
    return (
        f"UPDATE {s}.runs AS r SET (lease_expires_at, due_at, updated_at) = "
        f"(SELECT t.now + r.lease_timeout, t.now + r.lease_timeout, t.now {_READ}) "
        "WHERE run_id = %(run_id)s AND lease_epoch = %(epoch)s "
        "AND lease_owner = %(worker)s AND status = 'running' "
        "RETURNING lease_expires_at, cancel_requested"
    )


def append_sql(s: str) -> str:
    """Fence, seq allocation, lease renewal and the events: the hot path's one statement."""
    # The lease is renewed when less than half of it is left (so the hot path
    # rarely moves an indexed column); the row update also locks the run.
    renewed = (
        "CASE WHEN r.lease_expires_at - t.now < r.lease_timeout / 2 "
        "THEN t.now + r.lease_timeout ELSE r.lease_expires_at END"
    )
    return (
        f"WITH run AS (UPDATE {s}.runs AS r SET last_seq = r.last_seq + %(n)s, "
        "graph_hash = coalesce(%(gh)s, r.graph_hash), "
        "append_token = %(token)s, append_seq = r.last_seq + %(n)s, "
        f"(updated_at, lease_expires_at, due_at) = (SELECT t.now, {renewed}, {renewed} {_READ}) "
        "WHERE run_id = %(run_id)s AND lease_owner = %(worker)s "
        "AND lease_epoch = %(epoch)s AND status = 'running' "
        "AND append_token IS DISTINCT FROM %(token)s "
        "RETURNING last_seq, cancel_requested, lease_expires_at, updated_at), "
        f"ins AS (INSERT INTO {s}.events (run_id, seq, type, key, payload, at) "
        "SELECT %(run_id)s, run.last_seq - %(n)s + d.ord, d.type, d.key, d.payload, "
        "coalesce(d.at, run.updated_at) "
        "FROM run, unnest(%(types)s::text[], %(keys)s::text[], %(payloads)s::text[], "
        "%(ats)s::timestamptz[]) WITH ORDINALITY AS d(type, key, payload, at, ord)) "
        "SELECT last_seq, cancel_requested, lease_expires_at, updated_at FROM run"
    )


def end_sql(s: str) -> str:
    """An append's terminal status, in its transaction: finished at the append's time."""
    return (
        f"UPDATE {s}.runs SET status = %(status)s, lease_owner = NULL, "
        "lease_expires_at = NULL, due_at = NULL, finished_at = updated_at, "
        "result = %(result)s, error = %(error)s WHERE run_id = %(run_id)s"
    )


def wait_sql(s: str) -> str:
    """An append's ``waiting``, in its transaction; returns the due time and seconds to it.

    ``%(wake_now)s``: wake at the append's time (a release without a wake time).
    """
    wake = "CASE WHEN %(wake_now)s THEN updated_at ELSE %(wake)s::timestamptz END"
    return (
        f"UPDATE {s}.runs SET status = 'waiting', lease_owner = NULL, "
        f"lease_expires_at = NULL, wake_at = {wake}, wait_signals = %(names)s::text[], "
        # A buffered signal it waits for, or a cancellation, makes it due at once.
        "due_at = CASE WHEN cancel_requested OR EXISTS (SELECT 1 FROM "
        f"{s}.signals AS g WHERE g.run_id = %(run_id)s AND NOT g.consumed "
        f"AND g.name = ANY(%(names)s::text[])) THEN updated_at ELSE {wake} END "
        "WHERE run_id = %(run_id)s "
        "RETURNING due_at, extract(epoch FROM due_at - updated_at)::float8"
    )


def signal_sql(s: str) -> str:
    """Buffer a signal: seq, event, inbox row, and waking the run if it waits for it.

    With ``under`` set, only to a run with fewer events than that: such a run
    cannot hold ``under`` buffered signals (each has its event), so the bound on
    signals needs no count (see :func:`check_inbox` for the other runs).
    """
    waits = "(r.status = 'waiting' AND %(name)s = ANY(r.wait_signals))"
    # The run's row update takes its seq and locks it against concurrent
    # appends and signals; event and inbox row go in the same statement.
    return (
        f"WITH run AS (UPDATE {s}.runs AS r SET last_seq = r.last_seq + 1, "
        f"(updated_at, due_at) = (SELECT t.now, CASE WHEN {waits} THEN t.now "
        f"ELSE r.due_at END {_READ}) "
        "WHERE run_id = %(run_id)s AND status IN ('pending', 'running', 'waiting') "
        "AND (%(under)s::bigint IS NULL OR r.last_seq < %(under)s::bigint) "
        f"RETURNING last_seq, {waits} AS wakes, updated_at), "
        f"ev AS (INSERT INTO {s}.events (run_id, seq, type, key, payload, at) "
        "SELECT %(run_id)s, last_seq, %(type)s, NULL, %(event)s, updated_at FROM run), "
        f"sig AS (INSERT INTO {s}.signals (run_id, seq, name, payload, sent_at, token) "
        "SELECT %(run_id)s, last_seq, %(name)s, %(payload)s, updated_at, %(token)s FROM run) "
        f"SELECT last_seq, updated_at, CASE WHEN wakes THEN {_NOTIFY} END FROM run"
    )


def cancel_sql(s: str) -> str:
    """Flag a live run cancelled, waking it; a ``pending`` one ends here, with its event."""
    ends = "CASE WHEN r.status = 'pending'"  # never claimed: it ends here, cancelled
    return (
        f"WITH run AS (UPDATE {s}.runs AS r SET cancel_requested = true, "
        f"status = {ends} THEN 'cancelled' ELSE r.status END, "
        f"error = {ends} THEN %(error)s ELSE r.error END, "
        "last_seq = r.last_seq + (r.status = 'pending')::int, "
        f"append_token = {ends} THEN %(token)s ELSE r.append_token END, "
        f"(updated_at, finished_at, due_at) = (SELECT t.now, {ends} THEN t.now "
        "ELSE r.finished_at END, CASE r.status WHEN 'waiting' THEN t.now "
        f"WHEN 'pending' THEN NULL ELSE r.due_at END {_READ}) "
        "WHERE run_id = %(run_id)s AND status IN ('pending', 'running', 'waiting') "
        f"RETURNING {RUN_COLUMNS}), "
        f"ev AS (INSERT INTO {s}.events (run_id, seq, type, key, payload, at) "
        "SELECT run_id, last_seq, %(type)s, NULL, %(event)s, updated_at FROM run "
        "WHERE status = 'cancelled') "
        f"SELECT run.*, CASE WHEN status = 'waiting' THEN {_NOTIFY} END FROM run"
    )


async def check_inbox(
    conn: psycopg.AsyncConnection[Any], s: str, run_id: str, name: str, bound: int
) -> None:
    """Refuse a signal to a live run that holds ``bound`` buffered signals already.

    Run in the signal's transaction, before its statement: the run's row is
    locked first, so the count, read by a later statement (a newer snapshot),
    sees every signal committed before, exact under concurrent senders as the
    other stores are.

    Raises:
        TooManySignals: The run's inbox is full.
    """
    cursor = await conn.execute(
        f"SELECT status FROM {s}.runs WHERE run_id = %s FOR UPDATE", (run_id,)
    )
    row = await cursor.fetchone()
    if row is None or row[0] not in ("pending", "running", "waiting"):
        return  # the signal's own statement says why it is refused
    cursor = await conn.execute(
        f"SELECT count(*) FROM {s}.signals WHERE run_id = %s AND NOT consumed", (run_id,)
    )
    counted = await cursor.fetchone()
    if counted is not None and counted[0] >= bound:
        raise TooManySignals(run_id, name, bound)


def record_of(row: Sequence[Any]) -> RunRecord:
    """A run's row, as :data:`RUN_COLUMNS` selects it, as a :class:`~runtime.stores.RunRecord`."""
    return RunRecord(
        run_id=row[0],
        workflow_name=row[1],
        graph_hash=row[2],
        input=decode_value(row[3]),
        status=row[4],
        result=decode_value(row[5]),
        error=None if row[6] is None else ErrorInfo.model_validate_json(row[6]),
        created_at=row[7],
        updated_at=row[8],
        started_at=row[9],
        finished_at=row[10],
        wake_at=row[11],
        wait_signals=tuple(row[12]),
        cancel_requested=row[13],
        lease_owner=row[14],
        lease_epoch=row[15],
        lease_expires_at=row[16],
        recoveries=row[17],
        last_seq=row[18],
        quarantine_deaths=row[19],
    )
