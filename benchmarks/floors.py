"""One sample of a floor, in a fresh interpreter; prints one JSON line.

    python benchmarks/floors.py commit KIND WHERE N        # N bare commits of one event row
    python benchmarks/floors.py asyncio N                  # N calls of the step function, no store
    python benchmarks/floors.py fanout KIND WHERE RUNS STEPS WORKERS
    python benchmarks/floors.py read KIND WHERE N          # read back N event rows
    python benchmarks/floors.py committer KIND WHERE N     # (a process of fanout)

``KIND`` is ``sqlite`` (``WHERE`` a file path; WAL and ``synchronous=FULL``, our
store's defaults) or ``postgres`` (``WHERE`` a schema in ``VRB_TEST_POSTGRES_URL``).
The event row has the columns a durable log needs: run id, sequence, type,
JSON payload and a timestamp, with the (run, seq) primary key.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import runtime_flows
from _harness import PG_URL, print_result, spawn, wait_ready

TABLE = (
    "CREATE TABLE IF NOT EXISTS {t} (run_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "type TEXT NOT NULL, payload TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (run_id, seq))"
)
PAYLOAD = json.dumps({"step": "bench-noop", "key": "bench-noop#1", "output": 1})


def _committer(kind: str, where: str) -> tuple[Callable[[str, int], None], Callable[[], None]]:
    """``(commit(run_id, seq), close)``: one transaction inserting one event row."""
    if kind == "sqlite":
        db = sqlite3.connect(where, isolation_level=None, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(TABLE.format(t="events"))

        def commit_sqlite(run_id: str, seq: int) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, "step_completed", PAYLOAD, time.time()),
            )
            db.execute("COMMIT")

        return commit_sqlite, db.close
    import psycopg

    conn = psycopg.connect(PG_URL, autocommit=True)
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{where}"')
    table = f'"{where}".events'
    conn.execute(TABLE.format(t=table))

    def commit_pg(run_id: str, seq: int) -> None:
        with conn.transaction():
            conn.execute(
                f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)",
                (run_id, seq, "step_completed", PAYLOAD, time.time()),
            )

    return commit_pg, conn.close


def commit(kind: str, where: str, n: int) -> dict[str, float]:
    do, close = _committer(kind, where)
    run_id = uuid.uuid4().hex
    start = time.perf_counter()
    for seq in range(n):
        do(run_id, seq)
    elapsed = time.perf_counter() - start
    close()
    return {"seconds": elapsed, "per_step": elapsed / n}


def plain_asyncio(n: int) -> dict[str, float]:
    fn: Any = runtime_flows.noop.fn

    async def loop() -> int:
        total = 0
        for i in range(n):
            total += await fn(i)
        return total

    start = time.perf_counter()
    asyncio.run(loop())
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "per_step": elapsed / n}


def committer(kind: str, where: str, n: int) -> None:
    do, close = _committer(kind, where)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    run_id = uuid.uuid4().hex
    for seq in range(n):
        do(run_id, seq)
    close()


def fanout(kind: str, where: str, runs: int, steps: int, workers: int) -> dict[str, float]:
    _committer(kind, where)[1]()  # the table exists before the race
    share = runs * steps // workers
    processes = [spawn("floors.py", "committer", kind, where, str(share)) for _ in range(workers)]
    for process in processes:
        wait_ready(process)
    start = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        if process.wait(timeout=3600) != 0:
            raise RuntimeError("a committer failed")
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "per_second": runs / elapsed}


def read(kind: str, where: str, n: int) -> dict[str, float]:
    """Read back (and decode) one run's N event rows: what any resume must at least do."""
    _committer(kind, where)[1]()  # the table
    run_id = uuid.uuid4().hex
    rows = [(run_id, seq, "step_completed", PAYLOAD, time.time()) for seq in range(n)]
    if kind == "sqlite":
        db = sqlite3.connect(where, isolation_level=None)
        db.execute("BEGIN")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
        db.close()
        start = time.perf_counter()
        db = sqlite3.connect(where)
        fetched = db.execute(
            "SELECT seq, type, payload, at FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
        decoded = [json.loads(row[2]) for row in fetched]
        elapsed = time.perf_counter() - start
        db.close()
    else:
        import psycopg

        table = f'"{where}".events'
        with psycopg.connect(PG_URL) as conn:
            with conn.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", rows)
            conn.commit()
        start = time.perf_counter()
        with psycopg.connect(PG_URL) as conn:
            fetched = conn.execute(
                f"SELECT seq, type, payload, at FROM {table} WHERE run_id = %s ORDER BY seq",
                (run_id,),
            ).fetchall()
            decoded = [json.loads(row[2]) for row in fetched]
        elapsed = time.perf_counter() - start
    assert len(decoded) == n
    return {"seconds": elapsed}


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    command, *rest = argv
    if command == "commit":
        result = commit(rest[0], rest[1], int(rest[2]))
    elif command == "asyncio":
        result = plain_asyncio(int(rest[0]))
    elif command == "fanout":
        result = fanout(rest[0], rest[1], *(int(x) for x in rest[2:5]))  # type: ignore[call-arg]
    elif command == "read":
        result = read(rest[0], rest[1], int(rest[2]))
    elif command == "committer":
        committer(rest[0], rest[1], int(rest[2]))
        return
    else:
        raise SystemExit(f"unknown command {command!r}")
    print_result(result)


if __name__ == "__main__":
    main(sys.argv[1:])
