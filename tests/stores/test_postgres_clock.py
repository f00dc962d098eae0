"""Whose clock the PostgreSQL store uses: the server's, unless it is given one.

A lease set by one machine is judged lapsed by another's claim, so the store
reads every time it stores or compares from the database server (see
:mod:`runtime.stores._pg_sql`). Here the stores' own Python clock runs ten
minutes ahead (``runtime.stores.base.datetime`` patched, what ``system_clock``
reads), and nothing of it shows: no live lease is taken over, every stored time
lies between two readings of the server's clock, a write that queued for a
run's lock is stamped after the write it queued behind, and a worker process
whose clocks all run ahead takes over none of a steady worker's runs.
Skipped without a PostgreSQL server, failed under ``CI=true`` (tests/pg_fixtures.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from runtime import Client, Worker
from runtime.events import EventDraft, RunStartedPayload, StepStartedPayload
from runtime.stores import RunUpdate, base, open_store
from runtime.stores.base import LeaseLost
from runtime.stores.postgres import PostgresStore
from tests import pg_skew_flows  # noqa: F401 - registers pgs-gated for the in-process worker

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent.parent
AHEAD = timedelta(minutes=10)
LIVENESS = 120.0  # guards against a hang only; never reached on a healthy machine


class _Ahead(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return datetime.now(tz) + AHEAD


@pytest.fixture
def python_clock_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stores' Python clock (``system_clock``) runs ten minutes ahead."""
    real = datetime.now(UTC)
    monkeypatch.setattr(base, "datetime", _Ahead)
    assert base.system_clock() - real >= AHEAD


async def _server_now(conn: psycopg.AsyncConnection[Any]) -> datetime:
    cursor = await conn.execute("SELECT clock_timestamp()")
    row = await cursor.fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


async def _between(conn: psycopg.AsyncConnection[Any], write: Awaitable[T]) -> tuple[T, Any]:
    """The write's result, and a check that a time lies within the server's clock around it."""
    before = await _server_now(conn)
    result = await write
    after = await _server_now(conn)

    def within(moment: datetime | None, label: str) -> None:
        assert moment is not None, label
        assert before <= moment <= after, f"{label} {moment} is not the server's {before}..{after}"

    return result, within


def _started(step: str) -> EventDraft:
    return EventDraft(StepStartedPayload(step=step, attempt=1), step)


# --------------------------------------------------------------------------- store level


@pytest.mark.usefixtures("python_clock_ahead")
def test_a_store_whose_python_clock_runs_ahead_takes_over_no_live_lease(
    postgres_url: str,
) -> None:
    async def main() -> None:
        holder = PostgresStore(postgres_url)
        ahead = PostgresStore(postgres_url)  # no clock given: the server's
        opened = open_store(postgres_url)  # what a Client opens: system_clock, the server's
        given = PostgresStore(postgres_url, clock=lambda: base.system_clock())
        try:
            await holder.create_run("r", "wf", None)
            [claim] = await holder.claim("holder", lease_timeout=30)
            assert await ahead.claim("ahead") == []
            assert await opened.claim("opened") == []
            renewal = await holder.renew_lease(claim.lease)
            assert renewal.lease.epoch == claim.lease.epoch, "the holder keeps its lease"
            # A clock given explicitly is used as given (tests' manual clocks): ten
            # minutes ahead, it finds the 30 s lease long lapsed and takes the run over.
            [taken] = await given.claim("given")
            assert (taken.reason, taken.run.recoveries) == ("recovered", 1)
            with pytest.raises(LeaseLost):
                await holder.append(renewal.lease, [_started("a")])
        finally:
            for store in (holder, ahead, opened, given):
                await store.close()

    asyncio.run(main())


@pytest.mark.usefixtures("python_clock_ahead")
def test_every_time_the_store_writes_is_the_servers(
    postgres_server: str, postgres_url: str
) -> None:
    carried = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)

    async def main() -> None:
        store = PostgresStore(postgres_url)
        other = PostgresStore(postgres_url)
        conn = await psycopg.AsyncConnection.connect(postgres_server, autocommit=True)
        try:
            (run, _), within = await _between(conn, store.create_run("r", "wf", None))
            within(run.created_at, "created_at")
            assert run.updated_at == run.created_at
            [created] = await store.history("r")
            assert created.at == run.created_at

            claims, within = await _between(conn, store.claim("w", lease_timeout=30))
            [claim] = claims
            within(claim.run.updated_at, "a claim's updated_at")
            assert claim.run.started_at == claim.run.updated_at
            # The claim's updated_at is the server's time the lease started at.
            assert claim.lease.expires_at - claim.run.updated_at == timedelta(seconds=30)

            drafts = [
                EventDraft(RunStartedPayload(worker_id="w")),
                _started("a").stamped(carried),
                _started("b"),
            ]
            result, within = await _between(conn, store.append(claim.lease, drafts))
            within(result.at, "AppendResult.at")
            history = await store.history("r", after_seq=1)
            assert [event.at for event in history] == [result.at, carried, result.at]
            assert (await store.get_run("r")).updated_at == result.at

            renewal, within = await _between(conn, store.renew_lease(claim.lease))
            within(renewal.lease.expires_at - timedelta(seconds=30), "a renewal's lease start")

            sent, within = await _between(conn, other.send_signal("r", "go", 1))
            within(sent.sent_at, "sent_at")
            assert (await store.history("r"))[-1].at == sent.sent_at

            # Given back without a wake time: due at once, by the server's clock
            # (ten minutes on by the Python clock, no other store would find it).
            _, within = await _between(conn, store.release(renewal.lease))
            released = await store.get_run("r")
            within(released.wake_at, "a release's wake_at")
            assert released.wake_at == released.updated_at
            [again] = await other.claim("w2", lease_timeout=30)
            assert again.reason == "resumed"

            done = RunUpdate(status="completed", result=1)
            result, within = await _between(conn, other.append(again.lease, [], update=done))
            finished = await store.get_run("r")
            within(finished.finished_at, "finished_at")
            assert finished.finished_at == finished.updated_at == result.at

            await store.create_run("c", "wf", None)
            cancelled, within = await _between(conn, store.request_cancel("c"))
            within(cancelled.finished_at, "a cancelled run's finished_at")
            assert cancelled.finished_at == cancelled.updated_at
            assert (await store.history("c"))[-1].at == cancelled.finished_at
        finally:
            await conn.close()
            await store.close()
            await other.close()

    asyncio.run(main())


async def _queued_behind_a_lock(
    server: str, store: PostgresStore, run_id: str, write: Callable[[], Awaitable[T]]
) -> tuple[datetime, T]:
    """Run ``write`` while another transaction holds the run's row; its commit time and result.

    The other transaction commits only once ``write`` waits for its lock, so the
    write's statement began before the commit and its times come after it only
    if it reads the clock once it holds the row.
    """
    holder = await psycopg.AsyncConnection.connect(server)
    watcher = await psycopg.AsyncConnection.connect(server, autocommit=True)
    try:
        await holder.execute(
            f"UPDATE {store._s}.runs SET last_seq = last_seq WHERE run_id = %s", (run_id,)
        )
        pid = holder.info.backend_pid
        task = asyncio.ensure_future(write())
        async with asyncio.timeout(LIVENESS):
            while True:
                cursor = await watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                    (pid,),
                )
                row = await cursor.fetchone()
                if row is not None and row[0] > 0:
                    break
                assert not task.done(), "the write did not wait for the run's lock"
                await asyncio.sleep(0.01)
        committed = await _server_now(holder)
        await holder.commit()
        return committed, await task
    finally:
        await holder.close()
        await watcher.close()


def test_a_write_queued_behind_another_on_its_run_is_stamped_after_it(
    postgres_server: str, postgres_url: str
) -> None:
    async def main() -> None:
        store = PostgresStore(postgres_url)
        try:
            await store.create_run("r", "wf", None)
            [claim] = await store.claim("w", lease_timeout=30)

            def queued(write: Callable[[], Awaitable[T]]) -> Awaitable[tuple[datetime, T]]:
                return _queued_behind_a_lock(postgres_server, store, "r", write)

            committed, result = await queued(lambda: store.append(claim.lease, [_started("a")]))
            assert result.at > committed, "an append"
            assert (await store.history("r"))[-1].at == result.at
            committed, renewal = await queued(lambda: store.renew_lease(claim.lease))
            assert renewal.lease.expires_at - timedelta(seconds=30) > committed, "a renewal"
            committed, sent = await queued(lambda: store.send_signal("r", "go"))
            assert sent.sent_at > committed, "a signal"
            committed, flagged = await queued(lambda: store.request_cancel("r"))
            assert flagged.updated_at > committed, "a cancellation"
            done = RunUpdate(status="cancelled")
            committed, ended = await queued(lambda: store.append(claim.lease, [], update=done))
            assert ended.at > committed, "an append that ends the run"
            assert (await store.get_run("r")).finished_at == ended.at
        finally:
            await store.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- workers


class _Skewed:
    """``python -m tests.pg_skew_worker``: a worker process whose clocks run ten minutes ahead."""

    def __init__(self, url: str, gate: Path) -> None:
        self.application = f"vrb_skewed_{uuid.uuid4().hex[:8]}"
        self.log = gate.with_suffix(".log")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.pg_skew_worker",
                    f"{url}&application_name={self.application}",
                    str(AHEAD.total_seconds()),
                ],
                cwd=REPO,
                env={**os.environ, "VRB_PGS_GATE": str(gate)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def check_alive(self) -> None:
        assert self.process.poll() is None, f"the skewed worker exited:\n{self.output()}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file that lets ``pgs-gated`` runs past their first step once it exists."""
    path = tmp_path / "gate"
    monkeypatch.setenv("VRB_PGS_GATE", str(path))
    return path


async def _until(condition: Callable[[], Awaitable[bool]], *alive: Callable[[], None]) -> None:
    async with asyncio.timeout(LIVENESS):
        while not await condition():
            for check in alive:
                check()
            await asyncio.sleep(0.05)


@pytest.mark.slow
def test_a_worker_whose_clock_is_ten_minutes_ahead_takes_over_nothing(
    postgres_server: str, postgres_url: str, gate: Path
) -> None:
    ids = [f"run-{index}" for index in range(6)]

    async def main(skewed_box: list[_Skewed]) -> None:
        client = Client(postgres_url)
        steady = Worker(
            client,
            worker_id="steady",
            poll_interval=0.1,
            heartbeat_interval=0.5,
            lease_timeout=10,
            max_concurrency=8,
        )
        serving = asyncio.create_task(steady.start("pgs-gated"))
        watcher = await psycopg.AsyncConnection.connect(postgres_server, autocommit=True)
        store = client.store

        def steady_alive() -> None:
            assert not serving.done(), serving

        async def all_held_by_steady() -> bool:
            runs = [await store.get_run(run_id) for run_id in ids]
            return all((r.status, r.lease_owner) == ("running", "steady") for r in runs)

        claims_seen: set[datetime] = set()

        async def skewed_claimed_three_times() -> bool:
            cursor = await watcher.execute(
                "SELECT query_start FROM pg_stat_activity "
                "WHERE application_name = %s AND query LIKE 'WITH due AS%%'",
                (skewed.application,),
            )
            claims_seen.update(row[0] for row in await cursor.fetchall())
            return len(claims_seen) >= 3

        try:
            for run_id in ids:
                await store.create_run(run_id, "pgs-gated", 0)
            # Every run in flight in the steady worker, held at its first step.
            await _until(all_held_by_steady, steady_alive)
            started.append(datetime.now(UTC))
            skewed = _Skewed(postgres_url, gate)
            skewed_box.append(skewed)
            # The skewed worker claims again and again while the runs are held,
            # heartbeating, their leases 10 s long and ten minutes lapsed by its clock.
            await _until(skewed_claimed_three_times, steady_alive, skewed.check_alive)
            assert await all_held_by_steady(), "nothing was taken over while held"
            gate.touch()

            async def all_completed() -> bool:
                runs = [await store.get_run(run_id) for run_id in ids]
                return all(r.status == "completed" for r in runs)

            await _until(all_completed, steady_alive, skewed.check_alive)
            for run_id in ids:
                run = await store.get_run(run_id)
                assert (run.result, run.recoveries, run.lease_epoch) == (2, 0, 1), run
                history = await store.history(run_id)
                assert [e.type for e in history].count("run_started") == 1
        finally:
            gate.touch()  # held steps end, so a failing test still stops its workers
            await steady.stop()
            await asyncio.gather(serving, return_exceptions=True)
            await watcher.close()
            await client.close()

    skewed_box: list[_Skewed] = []
    started: list[datetime] = []
    try:
        asyncio.run(main(skewed_box))
    finally:
        codes = [skewed.stop() for skewed in skewed_box]
    [skewed] = skewed_box
    output = skewed.output()
    assert codes == [0], output
    # The skew was in effect where its stores read the clock.
    [line] = [line for line in output.splitlines() if line.startswith("system_clock ")]
    assert datetime.fromisoformat(line.split()[1]) - started[0] >= AHEAD, output
    effects = Path(f"{gate}.effects").read_text().split("\n")[:-1]
    assert {pid for _, _, pid in (line.split() for line in effects)} == {str(os.getpid())}
    assert sorted(line.split()[:2] for line in effects) == sorted(
        [run_id, name] for run_id in ids for name in ("hold", "finish")
    ), "each step ran once, all in the steady worker"
