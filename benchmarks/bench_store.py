"""Benchmark: a store append against one bare commit of one event row (the floor).

For each backend, every repeat times, interleaved so both see the same machine load:

* ``floor``: one event row inserted and committed on a bare connection, with the
  store's durability settings (SQLite: WAL, ``synchronous=FULL``; PostgreSQL:
  autocommit through psycopg's async connection, in the same event loop);
* ``append``: ``store.append(lease, [step_completed, step_started])``, the
  worker's per-step append (fence check, seq allocation, two event rows);
* for reference, ``two rows``: a bare commit of two event rows (what the append
  writes, without the fence), so the fence's share of the cost shows.

It prints the median per-operation time over the repeats, the min and max, and
the ratio of the medians (and the median of the per-repeat ratios).

``--scale N`` (PostgreSQL) fills a scratch schema with N runs through
``generate_series`` and times ``list_runs``, ``workflow_stats`` and ``claim`` on
it, with the plan PostgreSQL chose; the schema is dropped afterwards. The stats
read ``run_counts`` with every shard of every workflow and status in use, the
most many writers leave (the bulk insert alone fills one shard).

Usage::

    python benchmarks/bench_store.py                       # 300 appends x 5 repeats
    python benchmarks/bench_store.py --appends 10 --repeat 1 --backends sqlite
    python benchmarks/bench_store.py --backends postgres --scale 1000000 --appends 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.events import EventDraft, StepCompletedPayload, StepStartedPayload
from runtime.stores import Lease, Store, open_store

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

_EVENT = ("r", "step_completed", "n1", '{"step":"charge","output":{"id":1},"attempt":1}')


def _drafts(index: int) -> list[EventDraft]:
    return [
        EventDraft(
            StepCompletedPayload(step=f"s{index}", output={"i": index}, attempt=1), f"n{index}"
        ),
        EventDraft(StepStartedPayload(step=f"s{index + 1}", attempt=1), f"n{index + 1}"),
    ]


async def _timed(count: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Seconds per operation over ``count`` operations."""
    start = time.perf_counter()
    for index in range(count):
        await op(index)
    return (time.perf_counter() - start) / count


# --------------------------------------------------------------------------- backends


class Backend:
    """One store plus a bare connection for the floor."""

    name = ""

    async def setup(self) -> None:
        raise NotImplementedError

    async def floor(self, count: int, rows: int = 1) -> float:
        raise NotImplementedError

    async def teardown(self) -> None:
        raise NotImplementedError

    store: Store
    lease: Lease
    _seq = 0

    async def start_run(self) -> None:
        run_id = uuid.uuid4().hex
        await self.store.create_run(run_id, "bench", None)
        [claim] = await self.store.claim("bench-worker", lease_timeout=3600)
        self.lease = claim.lease

    async def append(self, count: int) -> float:
        async def one(index: int) -> None:
            await self.store.append(self.lease, _drafts(index))

        return await _timed(count, one)


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="vrb-bench-")

    async def setup(self) -> None:
        path = Path(self._dir.name)
        self.store = open_store(f"sqlite:///{path / 'store.db'}")
        self._conn = sqlite3.connect(path / "floor.db", isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute(
            "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, "
            "key TEXT, payload TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (run_id, seq)) "
            "WITHOUT ROWID"
        )
        await self.start_run()

    async def floor(self, count: int, rows: int = 1) -> float:
        sql = "INSERT INTO events VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)

        async def one(index: int) -> None:
            at = datetime.now(UTC).isoformat()
            params: list[Any] = []
            for _ in range(rows):
                self._seq += 1
                params += [*_EVENT[:1], self._seq, *_EVENT[1:], at]
            # Autocommit: the INSERT is its own transaction, one commit.
            self._conn.execute(sql, params)

        return await _timed(count, one)

    async def teardown(self) -> None:
        await self.store.close()
        self._conn.close()
        self._dir.cleanup()


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self._server = url
        self.schema = f"vrb_bench_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in url else "?"
        self.url = f"{url}{sep}schema={self.schema}"

    async def setup(self) -> None:
        import psycopg

        self.store = open_store(self.url)
        self._conn = await psycopg.AsyncConnection.connect(self._server, autocommit=True)
        await self._conn.execute(
            f'CREATE TABLE {self.schema}.floor_events (run_id text COLLATE "C" NOT NULL, '
            "seq bigint NOT NULL, type text NOT NULL, key text, payload text NOT NULL, "
            "at timestamptz NOT NULL, PRIMARY KEY (run_id, seq))"
        )
        await self.start_run()

    async def floor(self, count: int, rows: int = 1) -> float:
        sql = f"INSERT INTO {self.schema}.floor_events VALUES " + ", ".join(
            ["(%s, %s, %s, %s, %s, %s)"] * rows
        )

        async def one(index: int) -> None:
            at = datetime.now(UTC)
            params: list[Any] = []
            for _ in range(rows):
                self._seq += 1
                params += [*_EVENT[:1], self._seq, *_EVENT[1:], at]
            await self._conn.execute(sql, params)

        return await _timed(count, one)

    async def teardown(self) -> None:
        await self.store.close()
        await self._conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        await self._conn.close()
        print(f"  (scratch schema {self.schema} dropped)")


# --------------------------------------------------------------------------- append cost


async def bench_appends(backend: Backend, appends: int, repeat: int) -> None:
    await backend.setup()
    try:
        await backend.floor(max(appends // 10, 1))  # warm up: caches, prepared statements
        await backend.append(max(appends // 10, 1))
        floors: list[float] = []
        costs: list[float] = []
        pairs: list[float] = []
        for _ in range(repeat):
            floors.append(await backend.floor(appends))
            costs.append(await backend.append(appends))
            pairs.append(await backend.floor(appends, rows=2))
    finally:
        await backend.teardown()
    median_floor = statistics.median(floors)
    median_cost = statistics.median(costs)
    ratios = [cost / floor for cost, floor in zip(costs, floors, strict=True)]
    print(f"== {backend.name}: {appends} appends x {repeat} repeats")
    for label, values in (
        ("floor: bare commit of one event row", floors),
        ("append (2 events, fenced)", costs),
        ("reference: bare commit of two event rows", pairs),
    ):
        print(
            f"  {label:<40} median {median_us(values):9.1f} us   "
            f"min {min(values) * 1e6:9.1f}   max {max(values) * 1e6:9.1f}"
        )
    print(
        f"  ratio append / floor: {median_cost / median_floor:.2f} "
        f"(median of per-repeat ratios {statistics.median(ratios):.2f}); "
        f"append / two rows: {median_cost / statistics.median(pairs):.2f}"
    )


def median_us(values: list[float]) -> float:
    return statistics.median(values) * 1e6


# --------------------------------------------------------------------------- scale

_POPULATE = """
INSERT INTO {s}.runs (run_id, workflow_name, input, status, created_at, updated_at,
                      started_at, finished_at, due_at, last_seq)
SELECT 'run-' || lpad(i::text, 8, '0'), 'wf-' || (i % 100), 'null', st,
       t, t, t, CASE WHEN st IN ('completed', 'failed', 'cancelled')
                     THEN t + (i % 1000) * interval '1 ms' END,
       CASE st WHEN 'pending' THEN t WHEN 'running' THEN t + interval '1 hour' END, 1
FROM (SELECT i, timestamptz '2024-01-01' + i * interval '1 s' AS t,
             (ARRAY['completed', 'completed', 'completed', 'completed', 'completed',
                    'completed', 'completed', 'completed', 'completed', 'completed',
                    'completed', 'completed', 'completed', 'completed', 'completed',
                    'completed', 'failed', 'cancelled', 'waiting', 'pending'])[1 + i % 20] AS st
      FROM generate_series(1, {n}) AS i) AS g
"""

_EVERY_SHARD = """
INSERT INTO {s}.run_counts (workflow_name, status, shard, runs, finished, duration_us)
SELECT workflow_name, status, shard, 0, 0, 0
FROM (SELECT DISTINCT workflow_name FROM {s}.run_counts) AS used,
     unnest(ARRAY['pending', 'running', 'waiting', 'completed', 'failed', 'cancelled']) AS status,
     generate_series(0, {last}) AS shard
ON CONFLICT DO NOTHING
"""


async def bench_scale(server: str, runs: int, repeat: int) -> None:
    import psycopg

    from runtime.stores._pg_schema import COUNT_SHARDS
    from runtime.stores.base import encode_cursor, to_us
    from runtime.stores.postgres import PostgresStore

    backend = PostgresBackend(server)
    store = open_store(backend.url)
    assert isinstance(store, PostgresStore)
    conn = await psycopg.AsyncConnection.connect(server, autocommit=True)
    try:
        start = time.perf_counter()
        await conn.execute(_POPULATE.format(s=backend.schema, n=runs))
        # One statement's insert lands on one shard of run_counts; many writers use
        # all of them. Fill every shard of every status (with zeros) so stats read
        # the most they could.
        await conn.execute(_EVERY_SHARD.format(s=backend.schema, last=COUNT_SHARDS - 1))
        await conn.execute(f"VACUUM ANALYZE {backend.schema}.runs")
        await conn.execute(f"VACUUM ANALYZE {backend.schema}.run_counts")
        cursor = await conn.execute(f"SELECT count(*) FROM {backend.schema}.run_counts")
        count_rows = (await cursor.fetchone() or (0,))[0]
        print(f"== postgresql at scale: {runs:,} runs in 100 workflows")
        print(
            f"  populate + vacuum analyze: {time.perf_counter() - start:.1f} s "
            f"(run_counts: {count_rows:,} rows, every status and shard in use)"
        )
        middle = datetime(2024, 1, 1, tzinfo=UTC).timestamp() + runs // 2
        deep = encode_cursor(to_us(datetime.fromtimestamp(middle, UTC)), f"run-{runs // 2:08d}")
        cases: list[tuple[str, Callable[[], Awaitable[Any]], tuple[str, Any] | None]] = [
            ("list_runs()", lambda: store.list_runs(), store.list_query()),
            (
                "list_runs(cursor=middle)",
                lambda: store.list_runs(cursor=deep),
                store.list_query(cursor=deep),
            ),
            (
                "list_runs(workflow_name)",
                lambda: store.list_runs(workflow_name="wf-7"),
                store.list_query("wf-7"),
            ),
            (
                "list_runs(status='failed')",
                lambda: store.list_runs(status="failed"),
                store.list_query(status="failed"),
            ),
            (
                "list_runs(workflow, status, cursor)",
                lambda: store.list_runs(workflow_name="wf-7", status="failed", cursor=deep),
                store.list_query("wf-7", "failed", 50, deep),
            ),
            (
                "workflow_stats('wf-7')",
                lambda: store.workflow_stats("wf-7"),
                store.stats_query("wf-7"),
            ),
            ("workflow_stats()", lambda: store.workflow_stats(), store.stats_query()),
            (
                "claim(limit=10)",
                lambda: store.claim("bench", lease_timeout=3600, limit=10),
                store.claim_query("bench", None, 3600, 10, datetime.now(UTC)),
            ),
        ]
        for label, call, query in cases:
            await call()  # warm
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await call()
                times.append(time.perf_counter() - t0)
            plan = ""
            if query is not None:
                cursor = await conn.execute("EXPLAIN " + query[0], query[1])
                lines = [row[0].strip() for row in await cursor.fetchall()]
                plan = next((line for line in lines if "Scan" in line), lines[0] if lines else "")
            print(
                f"  {label:<38} median {statistics.median(times) * 1e3:8.2f} ms   "
                f"min {min(times) * 1e3:8.2f}   max {max(times) * 1e3:8.2f}   {plan[:70]}"
            )
    finally:
        await store.close()
        await conn.execute(f'DROP SCHEMA IF EXISTS "{backend.schema}" CASCADE')
        await conn.close()
        print(f"  (scratch schema {backend.schema} dropped)")


# --------------------------------------------------------------------------- main


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=300, help="appends per repeat")
    parser.add_argument("--repeat", type=int, default=5, help="repeats (median reported)")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("VRB_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="server for the PostgreSQL figures (a scratch schema is used and dropped)",
    )
    parser.add_argument("--scale", type=int, default=0, help="runs for the PostgreSQL scale test")
    args = parser.parse_args(argv)
    names = {name.strip() for name in args.backends.split(",") if name.strip()}
    unknown = names - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.appends > 0:
        if "sqlite" in names:
            await bench_appends(SQLiteBackend(), args.appends, args.repeat)
        if "postgres" in names:
            await bench_appends(PostgresBackend(args.postgres_url), args.appends, args.repeat)
    if args.scale > 0:
        await bench_scale(args.postgres_url, args.scale, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
