"""What only the PostgreSQL store does: schema versions, wake-ups, reconnection, plans, bad URLs.

Every test runs on the real server (see conftest.py: skipped without one, failed
under CI=true) in a schema of its own.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runtime.errors import ConfigurationError
from runtime.events import (
    ErrorInfo,
    EventDraft,
    RunStartedPayload,
    StepCompletedPayload,
    StepStartedPayload,
)
from runtime.stores import (
    RunUpdate,
    SchemaVersionError,
    StoreError,
    _pg_schema,
    open_store,
)
from runtime.stores.base import encode_cursor, to_us
from runtime.stores.postgres import PostgresStore
from tests.pg_fixtures import drop_schema


def _pg(url: str) -> PostgresStore:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    return store


def _sql(server: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(server, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _version(server: str, schema: str) -> int:
    rows = _sql(
        server, f'SELECT value FROM "{schema}".vrb_meta WHERE key = %s', ("schema_version",)
    )
    return int(rows[0][0])


def _close(store: PostgresStore) -> None:
    asyncio.run(store.close())


def _counted(server: str, schema: str) -> dict[tuple[str, str], tuple[int, int, float]]:
    """``run_counts`` summed over its shards, zero rows left out."""
    rows = _sql(
        server,
        "SELECT workflow_name, status, sum(runs), sum(finished), sum(duration_us) "
        f'FROM "{schema}".run_counts GROUP BY 1, 2',
    )
    return {
        (w, st): (int(n), int(f), float(d)) for w, st, n, f, d in rows if (n, f, d) != (0, 0, 0)
    }


def _scanned(server: str, schema: str) -> dict[tuple[str, str], tuple[int, int, float]]:
    """What ``run_counts`` must hold, counted from the runs themselves."""
    rows = _sql(
        server,
        "SELECT workflow_name, status, count(*), count(finished_at), "
        "coalesce(sum(extract(epoch FROM finished_at - created_at)), 0) * 1000000 "
        f'FROM "{schema}".runs GROUP BY 1, 2',
    )
    return {(w, st): (int(n), int(f), float(d)) for w, st, n, f, d in rows}


# --------------------------------------------------------------------------- schema


def test_a_new_schema_is_created_with_its_version_recorded(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    _close(_pg(postgres_url))
    assert _version(postgres_server, postgres_schema) == _pg_schema.SCHEMA_VERSION
    tables = _sql(
        postgres_server,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "ORDER BY table_name",
        (postgres_schema,),
    )
    assert [row[0] for row in tables] == ["events", "run_counts", "runs", "signals", "vrb_meta"]


def test_the_default_schema_is_vrb(postgres_server: str) -> None:
    existed = _sql(postgres_server, "SELECT 1 FROM pg_namespace WHERE nspname = 'vrb'")
    store = _pg(postgres_server)
    try:
        assert "(schema vrb)" in repr(store)
        assert _version(postgres_server, "vrb") == _pg_schema.SCHEMA_VERSION
    finally:
        _close(store)
        if not existed:
            drop_schema(postgres_server, "vrb")


def test_a_newer_schema_is_refused_with_one_line_and_left_untouched(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    _close(_pg(postgres_url))
    _sql(
        postgres_server,
        f"UPDATE \"{postgres_schema}\".vrb_meta SET value = '99' WHERE key = 'schema_version'",
    )
    with pytest.raises(SchemaVersionError) as caught:
        open_store(postgres_url)
    message = str(caught.value)
    current = _pg_schema.SCHEMA_VERSION
    assert f"has schema version 99, newer than the {current} this vrb-workflows" in message
    assert message.endswith("upgrade vrb-workflows")
    assert "\n" not in message
    assert _version(postgres_server, postgres_schema) == 99


def test_an_older_schema_is_migrated_in_one_transaction(
    postgres_server: str,
    postgres_schema: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current = _pg_schema.SCHEMA_VERSION
    run_store = _pg(postgres_url)  # a database of the current version
    asyncio.run(run_store.create_run("kept", "wf", {"x": 1}))
    _close(run_store)
    monkeypatch.setattr(_pg_schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(
        _pg_schema,
        "MIGRATIONS",
        {current + 1: ["ALTER TABLE {s}.runs ADD COLUMN half_done text; SELECT 1 / 0"]},
    )
    with pytest.raises(StoreError) as caught:
        open_store(postgres_url)
    assert "division by zero" in str(caught.value)
    columns = _sql(
        postgres_server,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'runs' AND column_name = 'half_done'",
        (postgres_schema,),
    )
    assert columns == [], "a failed migration leaves nothing behind"
    assert _version(postgres_server, postgres_schema) == current

    monkeypatch.setattr(
        _pg_schema,
        "MIGRATIONS",
        {current + 1: ["ALTER TABLE {s}.runs ADD COLUMN note text NOT NULL DEFAULT 'migrated'"]},
    )
    store = _pg(postgres_url)
    try:
        assert _version(postgres_server, postgres_schema) == current + 1
        run = asyncio.run(store.get_run("kept"))
        assert run.input == {"x": 1}
    finally:
        _close(store)
    note = _sql(postgres_server, f'SELECT note FROM "{postgres_schema}".runs')
    assert note == [("migrated",)]


_TO_VERSION_1 = """
DROP TABLE {s}.run_counts;
DROP FUNCTION {s}.run_counts_statement, {s}.run_counts_row, {s}.run_counts_truncate CASCADE;
ALTER TABLE {s}.runs DROP COLUMN quarantine_deaths, DROP COLUMN lease_quarantined;
UPDATE {s}.vrb_meta SET value = '1' WHERE key = 'schema_version'
"""


def test_a_version_1_schema_gets_run_counts_of_the_runs_it_holds(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    async def make_runs(store: PostgresStore) -> None:
        for index in range(6):
            await store.create_run(f"r{index}", "a" if index % 2 else "b", None)
        claims = await store.claim("w", limit=4)
        await store.append(claims[0].lease, [], update=RunUpdate(status="completed", result=1))
        failed = RunUpdate(status="failed", error=ErrorInfo(type="E", message="m"))
        await store.append(claims[1].lease, [], update=failed)
        await store.release(claims[2].lease, wake_at=datetime(2030, 1, 1, tzinfo=UTC))
        await store.close()

    asyncio.run(make_runs(_pg(postgres_url)))
    expected = _scanned(postgres_server, postgres_schema)
    for statement in _pg_schema._split(_TO_VERSION_1.format(s=f'"{postgres_schema}"')):
        _sql(postgres_server, statement)  # version 1: what vrb-workflows 1 created
    triggers = _sql(
        postgres_server,
        "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        (f'"{postgres_schema}".runs',),
    )
    assert triggers == []
    _sql(  # a version-1 worker's trigger, uncounted
        postgres_server,
        f'INSERT INTO "{postgres_schema}".runs (run_id, workflow_name, input, status, '
        "created_at, updated_at, due_at) VALUES ('late', 'a', 'null', 'pending', now(), now(), "
        "now())",
    )

    async def after(store: PostgresStore) -> tuple[int, int, float | None]:
        try:
            [claim] = await store.claim("w", workflow_names=["b"])
            await store.append(claim.lease, [], update=RunUpdate(status="completed", result=2))
            stats = await store.workflow_stats()
            by_a = await store.workflow_stats("a")
            return stats.total_runs, by_a.total_runs, stats.success_rate
        finally:
            await store.close()

    store = _pg(postgres_url)  # migrates
    assert _version(postgres_server, postgres_schema) == _pg_schema.SCHEMA_VERSION
    migrated = _counted(postgres_server, postgres_schema)
    assert migrated == {**expected, ("a", "pending"): (expected[("a", "pending")][0] + 1, 0, 0.0)}
    total, of_a, success_rate = asyncio.run(after(store))
    assert (total, of_a, success_rate) == (7, 4, 2 / 3)
    assert _counted(postgres_server, postgres_schema) == _scanned(postgres_server, postgres_schema)


def test_a_missing_migration_step_is_refused(
    postgres_server: str,
    postgres_schema: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _close(_pg(postgres_url))
    current = _pg_schema.SCHEMA_VERSION
    monkeypatch.setattr(_pg_schema, "SCHEMA_VERSION", current + 2)
    monkeypatch.setattr(_pg_schema, "MIGRATIONS", {current + 2: ["SELECT 1"]})
    with pytest.raises(SchemaVersionError) as caught:
        open_store(postgres_url)
    expected = f"has schema version {current} and no migration leads to version {current + 1}"
    assert expected in str(caught.value)
    assert _version(postgres_server, postgres_schema) == current


def test_a_schema_holding_foreign_tables_is_refused(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    _sql(postgres_server, f'CREATE SCHEMA "{postgres_schema}"')
    _sql(postgres_server, f'CREATE TABLE "{postgres_schema}".runs (id int)')
    with pytest.raises(SchemaVersionError) as caught:
        open_store(postgres_url)
    assert "already has tables named runs that are not a vrb-workflows store" in str(caught.value)
    assert "?schema=NAME" in str(caught.value)


def test_workers_starting_together_create_the_schema_once(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []

    def start() -> None:
        barrier.wait()
        try:
            stores.append(_pg(postgres_url))
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(stores) == 8
    for store in stores:
        _close(store)
    rows = _sql(postgres_server, f'SELECT key, value FROM "{postgres_schema}".vrb_meta')
    assert rows == [("schema_version", str(_pg_schema.SCHEMA_VERSION))]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make_url", "expected"),
    [
        (lambda server: "postgresql://postgres:s3cret@127.0.0.1:1/test", "Connection refused"),
        (
            lambda server: server.rsplit("/", 1)[0] + "/vrb_no_such_database",
            'database "vrb_no_such_database" does not exist',
        ),
        (
            lambda server: "postgresql://vrb_no_such_user@" + server.split("@", 1)[1],
            'role "vrb_no_such_user" does not exist',
        ),
    ],
    ids=["unreachable", "wrong-database", "wrong-user"],
)
def test_a_url_that_cannot_connect_gives_one_clear_line(
    postgres_server: str, make_url: Any, expected: str
) -> None:
    url = make_url(postgres_server)
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL at postgresql://")
    assert expected in message
    assert message.endswith("check the store URL and that the server is running")
    assert "\n" not in message
    assert "s3cret" not in message, "the password is never shown"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_an_id_the_server_would_refuse_is_refused_at_the_door_in_one_line(
    postgres_url: str,
) -> None:
    store = _pg(postgres_url)

    async def main() -> None:
        try:
            await store.create_run("nul\x00id", "wf", None)
        finally:
            await store.close()

    # PostgreSQL's text cannot hold a NUL: the identifier rule refuses it first,
    # as every store does, instead of a driver error.
    with pytest.raises(ConfigurationError) as caught:
        asyncio.run(main())
    assert "control character (U+0000) at index 3" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_libpq_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store("postgresql://u:pw@localhost/db?sslmod=require")
    assert str(caught.value) == (
        "store URL 'postgresql://u@localhost/db': invalid URI query parameter: \"sslmod\""
    )


# --------------------------------------------------------------------------- wake-ups


def test_a_trigger_from_another_connection_wakes_wait_for_work(postgres_url: str) -> None:
    async def main() -> list[str]:
        waiter, other = _pg(postgres_url), _pg(postgres_url)
        try:
            # The first call returns once the store listens.
            await asyncio.wait_for(waiter.wait_for_work(600), 60)
            waiting = asyncio.create_task(waiter.wait_for_work(600))
            await asyncio.sleep(0)
            await other.create_run("r", "wf", None)
            # Its own timeout is 600 s: returning within the guard means it was woken.
            await asyncio.wait_for(waiting, 60)
            return [claim.run.run_id for claim in await waiter.claim("w")]
        finally:
            await waiter.close()
            await other.close()

    assert asyncio.run(main()) == ["r"]


def test_a_signal_or_a_cancel_for_a_waiting_run_wakes_wait_for_work(postgres_url: str) -> None:
    async def main() -> list[str]:
        waiter, other = _pg(postgres_url), _pg(postgres_url)
        try:
            for run_id in ("sig", "cancel"):
                await other.create_run(run_id, "wf", None)
                [claim] = await other.claim("w")
                await other.append(
                    claim.lease, [], update=RunUpdate(status="waiting", wait_signals=("go",))
                )
            await asyncio.wait_for(waiter.wait_for_work(600), 60)
            woken: list[str] = []
            for run_id in ("sig", "cancel"):
                waiting = asyncio.create_task(waiter.wait_for_work(600))
                await asyncio.sleep(0)
                if run_id == "sig":
                    await other.send_signal(run_id, "go", 1)
                else:
                    await other.request_cancel(run_id)
                await asyncio.wait_for(waiting, 60)
                woken += [claim.run.run_id for claim in await waiter.claim("w")]
            return woken
        finally:
            await waiter.close()
            await other.close()

    assert asyncio.run(main()) == ["sig", "cancel"]


def test_wait_for_work_returns_when_a_timer_it_heard_of_is_due(postgres_url: str) -> None:
    async def main() -> list[str]:
        waiter, other = _pg(postgres_url), _pg(postgres_url)
        try:
            await asyncio.wait_for(waiter.wait_for_work(600), 60)
            await other.create_run("sleeper", "wf", None)
            await asyncio.wait_for(waiter.wait_for_work(600), 60)  # the trigger's wake-up
            [claim] = await other.claim("w")
            wake = claim.lease.expires_at - timedelta(seconds=29.5)  # half a second from now
            await other.append(claim.lease, [], update=RunUpdate(status="waiting", wake_at=wake))
            # No notification says "due now": the waiter returns because its timer is due.
            await asyncio.wait_for(waiter.wait_for_work(600), 60)
            return [claim.run.run_id for claim in await waiter.claim("w")]
        finally:
            await waiter.close()
            await other.close()

    assert asyncio.run(main()) == ["sleeper"]


# --------------------------------------------------------------------------- reconnection


def _terminate(server: str, application_name: str) -> int:
    rows = _sql(
        server,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND pid <> pg_backend_pid()",
        (application_name,),
    )
    return len(rows)


def test_the_store_reconnects_after_its_backends_are_terminated(
    postgres_server: str, postgres_url: str
) -> None:
    url = postgres_url + "&application_name=vrb_test_terminated&pool_min_size=2"

    async def main() -> tuple[int, list[int], str]:
        store = _pg(url)
        try:
            await store.create_run("r", "wf", None)
            [claim] = await store.claim("w")
            await asyncio.wait_for(store.wait_for_work(600), 60)  # listening
            killed = await asyncio.to_thread(_terminate, postgres_server, "vrb_test_terminated")
            result = await store.append(
                claim.lease,
                [EventDraft(RunStartedPayload(worker_id="w", graph_hash="g"))],
            )
            # The listener reconnects and wakes its waiters (anything may have been missed).
            await asyncio.wait_for(store.wait_for_work(600), 60)
            await store.send_signal("r", "go", 1)
            seqs = [event.seq for event in await store.history("r")]
            return killed, [result.last_seq, *seqs], (await store.get_run("r")).status
        finally:
            await store.close()

    killed, seqs, status = asyncio.run(main())
    assert killed >= 2, "the pool's connection and the listener were terminated"
    assert seqs == [2, 1, 2, 3]
    assert status == "running"


_MANY_FILES = """
import asyncio, os, resource, sys

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 1100 and (hard == resource.RLIM_INFINITY or hard >= 1100):
    resource.setrlimit(resource.RLIMIT_NOFILE, (1100, hard))
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]  # fds 3..1032 taken

from runtime.stores import open_store


async def main() -> None:
    store = open_store(sys.argv[1])
    try:
        await store.create_run("r", "wf", None)
        async with store._conn() as conn:
            fd = conn.fileno()
        [claim] = await store.claim("w")
        print(fd, (await store.get_run("r")).status, claim.run.run_id)
    finally:
        await store.close()


asyncio.run(main())
"""


def test_a_process_holding_over_1024_descriptors_uses_the_store(postgres_url: str) -> None:
    """The pool's liveness check must not use select(), which refuses fds >= 1024."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"the hard limit on open files is {hard}, under 1100")
    done = subprocess.run(
        [sys.executable, "-c", _MANY_FILES, postgres_url],
        cwd=Path(__file__).resolve().parent.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    fd, status, run_id = done.stdout.split()
    assert int(fd) >= 1024, "the store's connection got a descriptor past select()'s range"
    assert (status, run_id) == ("running", "r")


_LOOP_AFTER_LOOP = """
import asyncio, sys, uuid

from runtime.stores import open_store

for _ in range(40):
    store = open_store(sys.argv[1])
    asyncio.run(store.create_run(uuid.uuid4().hex, "wf", None))  # this loop's pool left open
    asyncio.run(store.close())
print("done")
"""


def test_a_store_used_across_asyncio_runs_lets_each_loop_finish(postgres_url: str) -> None:
    """asyncio.run cancels the pool's tasks at its end; a connect it cut short must not hang it."""
    done = subprocess.run(
        [sys.executable, "-c", _LOOP_AFTER_LOOP, postgres_url],
        cwd=Path(__file__).resolve().parent.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "done\n"), done.stderr


# --------------------------------------------------------------------------- concurrency


def _work_in_process(url: str, worker: str, barrier: Any, results: Any) -> None:
    """Claim runs and complete each with two steps, as a worker would."""

    async def main() -> list[str]:
        store = open_store(url)
        done: list[str] = []
        try:
            barrier.wait()
            while claims := await store.claim(worker, limit=4, lease_timeout=3600):
                for claim in claims:
                    lease = claim.lease
                    started = EventDraft(RunStartedPayload(worker_id=worker, graph_hash="g"))
                    await store.append(lease, [started, _started("a")])
                    await store.append(lease, [_completed("a"), _started("b")])
                    await store.append(
                        lease,
                        [_completed("b")],
                        update=RunUpdate(status="completed", result=worker),
                    )
                    done.append(claim.run.run_id)
            return done
        finally:
            await store.close()

    results.put((worker, asyncio.run(main())))


def _started(step: str) -> EventDraft:
    return EventDraft(StepStartedPayload(step=step, attempt=1), step)


def _completed(step: str) -> EventDraft:
    return EventDraft(StepCompletedPayload(step=step, output=step, attempt=1), step)


def test_worker_processes_run_every_run_once_with_gapless_logs(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    ids = [f"r{i:03}" for i in range(120)]

    async def setup() -> None:
        store = _pg(postgres_url)
        try:
            for run_id in ids:
                await store.create_run(run_id, "wf", None)
        finally:
            await store.close()

    asyncio.run(setup())
    context = multiprocessing.get_context("spawn")
    workers = ["p1", "p2", "p3", "p4"]
    barrier = context.Barrier(len(workers))
    results = context.Queue()
    processes = [
        context.Process(target=_work_in_process, args=(postgres_url, worker, barrier, results))
        for worker in workers
    ]
    for process in processes:
        process.start()
    done = dict(results.get(timeout=120) for _ in workers)
    for process in processes:
        process.join(timeout=30)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert sorted(run_id for runs in done.values() for run_id in runs) == ids

    async def check() -> list[tuple[str, list[int], list[str], Any]]:
        store = _pg(postgres_url)
        try:
            found: list[tuple[str, list[int], list[str], Any]] = []
            for run_id in ids:
                history = await store.history(run_id)
                run = await store.get_run(run_id)
                found.append(
                    (
                        run.status,
                        [event.seq for event in history],
                        [event.type for event in history if event.type == "run_started"],
                        run.result,
                    )
                )
            return found
        finally:
            await store.close()

    owner = {run_id: worker for worker, runs in done.items() for run_id in runs}
    for run_id, (status, seqs, started, result) in zip(ids, asyncio.run(check()), strict=True):
        assert status == "completed"
        assert seqs == list(range(1, 7))
        assert started == ["run_started"]
        assert result == owner[run_id]
    # Four processes' claims and completions, on several shards, none lost.
    assert _counted(postgres_server, postgres_schema) == _scanned(postgres_server, postgres_schema)


def test_signals_and_appends_to_one_run_interleave_without_gaps(postgres_url: str) -> None:
    async def main() -> tuple[list[int], list[int], list[int]]:
        stores = [_pg(postgres_url) for _ in range(4)]
        try:
            await stores[0].create_run("r", "wf", None)
            [claim] = await stores[0].claim("w")

            async def appender() -> list[int]:
                seqs = []
                for index in range(30):
                    step = f"s{index}"
                    result = await stores[0].append(claim.lease, [_started(step), _completed(step)])
                    seqs += [result.last_seq - 1, result.last_seq]
                return seqs

            async def sender(store_index: int) -> list[int]:
                store = stores[store_index]
                return [(await store.send_signal("r", f"n{store_index}", i)).seq for i in range(20)]

            appended, *sent = await asyncio.gather(appender(), sender(1), sender(2), sender(3))
            signal_seqs = [seq for seqs in sent for seq in seqs]
            history = [event.seq for event in await stores[0].history("r")]
            return appended, signal_seqs, history
        finally:
            for store in stores:
                await store.close()

    appended, signal_seqs, history = asyncio.run(main())
    assert history == list(range(1, 1 + 1 + 60 + 60))
    assert sorted(appended + signal_seqs) == list(range(2, 122)), "none lost, none duplicated"


# --------------------------------------------------------------------------- plans


_POPULATE = """
INSERT INTO {s}.runs (run_id, workflow_name, input, status, created_at, updated_at,
                      started_at, finished_at, due_at, last_seq)
SELECT 'run-' || lpad(i::text, 8, '0'), 'wf-' || (i %% 100), 'null', st,
       t, t, t, CASE WHEN st IN ('completed', 'failed', 'cancelled')
                     THEN t + (i %% 1000) * interval '1 ms' END,
       CASE st WHEN 'pending' THEN t WHEN 'running' THEN t + interval '1 hour' END, 1
FROM (SELECT i, timestamptz '2030-01-01' + i * interval '1 s' AS t,
             (ARRAY['completed', 'completed', 'completed', 'completed', 'completed',
                    'failed', 'cancelled', 'waiting', 'running', 'pending'])[1 + i %% 10] AS st
      FROM generate_series(1, %s) AS i) AS g
"""


def _plan(server: str, sql: str, params: Any) -> str:
    rows = _sql(server, "EXPLAIN " + sql, params)
    return "\n".join(row[0] for row in rows)


def test_claim_list_runs_and_stats_use_indexes_on_a_populated_table(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    schema = postgres_schema
    store = _pg(postgres_url)
    _close(store)
    _sql(postgres_server, _POPULATE.format(s=store._s), (50_000,))
    _sql(postgres_server, f"VACUUM ANALYZE {store._s}.runs")
    now = datetime(2030, 2, 1, tzinfo=UTC)
    deep = encode_cursor(to_us(datetime(2030, 1, 1, 3, tzinfo=UTC)), "run-00010800")
    queries = {
        "claim": store.claim_query("w", None, 30.0, 5, now),
        "claim by workflow": store.claim_query("w", ["wf-3", "wf-4"], 30.0, 5, now),
        # now=None: the server's clock, a stable bound of the same range scan
        "claim on the server's clock": store.claim_query("w", None, 30.0, 5, None),
        "claim by workflow on the server's clock": store.claim_query("w", ["wf-3"], 30.0, 5, None),
        "list": store.list_query(None, None, 50, None),
        "list from a cursor": store.list_query(None, None, 50, deep),
        "list by workflow": store.list_query("wf-7", None, 50, deep),
        "list by status": store.list_query(None, "failed", 50, None),
        "list by both": store.list_query("wf-7", "failed", 50, deep),
    }
    for name, (sql, params) in queries.items():
        plan = _plan(postgres_server, sql, params)
        assert "Seq Scan" not in plan, f"{name} scans the whole table:\n{plan}"
        assert "Index" in plan, f"{name} uses no index:\n{plan}"
        if name.startswith("claim"):
            assert "Index Cond: (due_at <=" in plan, f"{name} does not bound its scan:\n{plan}"
    # Stats, with or without a workflow, read the counts, never the runs.
    for name, (sql, params) in {
        "stats": store.stats_query(),
        "stats of a workflow": store.stats_query("wf-7"),
    }.items():
        plan = _plan(postgres_server, sql, params)
        assert " on runs" not in plan, f"{name} reads the runs:\n{plan}"
        assert "run_counts" in plan, f"{name} does not read the counts:\n{plan}"
    assert _counted(postgres_server, schema) == _scanned(postgres_server, schema)


def test_run_counts_follow_every_write_to_the_runs(
    postgres_server: str, postgres_schema: str, postgres_url: str
) -> None:
    """Bulk SQL as well as the store's own writes: triggers count them all, exactly."""
    store = _pg(postgres_url)
    s = store._s

    def agrees(step: str) -> None:
        counted = _counted(postgres_server, postgres_schema)
        assert counted == _scanned(postgres_server, postgres_schema), step

    _sql(postgres_server, _POPULATE.format(s=s), (2_000,))
    agrees("a bulk insert")
    _sql(
        postgres_server,
        f"UPDATE {s}.runs SET status = 'cancelled', finished_at = created_at + interval '2 s' "
        "WHERE status = 'waiting'",
    )
    agrees("a bulk status change")
    _sql(postgres_server, f"UPDATE {s}.runs SET workflow_name = 'moved' WHERE run_id < 'run-0200'")
    agrees("runs moved to another workflow")
    _sql(postgres_server, f"UPDATE {s}.runs SET created_at = created_at - interval '1 h'")
    agrees("a change of creation times (durations)")
    _sql(postgres_server, f"DELETE FROM {s}.runs WHERE workflow_name = 'wf-3'")
    agrees("a purge")

    async def transitions() -> tuple[int, int]:
        try:
            for index in range(5):
                await store.create_run(f"new{index}", "wf-1", None)
            await store.create_run("new0", "wf-1", None)  # idempotent: counted once
            await store.claim("w", limit=20, lease_timeout=0.001)
            await asyncio.sleep(0.01)
            recovered = await store.claim("w2", limit=40)  # running -> running: no change
            done = RunUpdate(status="completed", result=1)
            await store.append(recovered[3].lease, [_started("a")])  # counts nothing
            await store.append(recovered[0].lease, [_completed("a")], update=done)
            await store.release(recovered[1].lease)
            await store.request_cancel(recovered[2].run.run_id)
            stats = await store.workflow_stats()
            by_workflow = await store.workflow_stats("wf-1")
            return stats.total_runs, by_workflow.total_runs
        finally:
            await store.close()

    total, of_wf_1 = asyncio.run(transitions())
    agrees("the store's transitions")
    scanned = _scanned(postgres_server, postgres_schema)
    assert total == sum(runs for runs, _, _ in scanned.values())
    assert of_wf_1 == sum(n for (w, _), (n, _, _) in scanned.items() if w == "wf-1")
    _sql(postgres_server, f"TRUNCATE {s}.runs")
    assert _counted(postgres_server, postgres_schema) == {}


def test_a_create_repeated_after_it_committed_reports_the_run_created(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a retry after a connection lost at commit time sees: its own token, so created."""

    async def twice(self: PostgresStore, work: Any) -> Any:
        async with self._conn() as conn:
            await work(conn)  # committed; the answer is lost with the connection
        async with self._conn() as conn:
            return await work(conn)

    async def main() -> tuple[bool, bool, list[int]]:
        store = _pg(postgres_url)
        try:
            with monkeypatch.context() as patched:
                patched.setattr(PostgresStore, "_retrying", twice)
                _, created = await store.create_run("r", "wf", {"x": 1})
                _, again = await store.create_run("r", "wf", {"x": 1})  # another trigger
            seqs = [event.seq for event in await store.history("r")]
            return created, again, seqs
        finally:
            await store.close()

    created, again, seqs = asyncio.run(main())
    assert created, "the retry found the run its first attempt created"
    assert not again, "an idempotent trigger of someone else's run is not a creation"
    assert seqs == [1]


def test_an_append_repeated_after_it_committed_is_found_not_redone(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a retry after a connection lost at commit time does: the token finds the commit."""

    class FixedToken:
        hex = "the-same-token"

    async def main() -> tuple[int, int, list[int]]:
        store = _pg(postgres_url)
        try:
            await store.create_run("r", "wf", None)
            [claim] = await store.claim("w")
            monkeypatch.setattr(uuid, "uuid4", FixedToken)
            first = await store.append(claim.lease, [_started("a"), _completed("a")])
            again = await store.append(claim.lease, [_started("a"), _completed("a")])
            monkeypatch.undo()
            seqs = [event.seq for event in await store.history("r")]
            fresh = await store.append(claim.lease, [], update=RunUpdate(status="completed"))
            return first.last_seq, again.last_seq, [*seqs, fresh.last_seq]
        finally:
            await store.close()

    first, again, seqs = asyncio.run(main())
    assert (first, again) == (3, 3)
    assert seqs == [1, 2, 3, 3], "the repeat wrote nothing"
