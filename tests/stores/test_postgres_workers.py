"""Several worker processes on one PostgreSQL database: every run completes, each step once.

Real processes (``python -m tests.pg_worker_flows``) serve a ten-step workflow;
steps log their executions to a file, so the tests count effects, not events.
Skipped without a PostgreSQL server, failed under ``CI=true`` (tests/pg_fixtures.py).
The workflow lives in :mod:`tests.pg_worker_flows`, the worker in :mod:`tests.pg_worker`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from runtime.stores import Store, open_store
from tests.pg_worker import worker_id

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent.parent
LIVENESS = 600.0  # guards against a hang only; runs finish long before on a healthy machine


class Workers:
    """Worker processes serving ``pgw-ten`` on one database."""

    def __init__(self, url: str, directory: Path, lease_timeout: float) -> None:
        self.url = url
        self.directory = directory
        self.lease_timeout = lease_timeout
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *, step_seconds: float = 0.0) -> None:
        env = {
            **os.environ,
            "VRB_PGW_DIR": str(self.directory),
            "VRB_PGW_STEP_SECONDS": str(step_seconds),
        }
        for index in range(count):
            log = (self.directory / f"worker-{len(self.processes)}-{index}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.pg_worker",
                        self.url,
                        str(self.lease_timeout),
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def check_alive(self) -> None:
        """Fail at once, with their output, when every worker has exited."""
        if self.processes and all(process.poll() is not None for process in self.processes):
            raise AssertionError(f"every worker exited:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(path.read_text()[-2000:] for path in self.directory.glob("worker-*.log"))


@pytest.fixture
def workers(postgres_url: str, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(postgres_url, tmp_path, lease_timeout=5.0)
    yield group
    group.stop()


def effects(directory: Path) -> list[tuple[str, int, int]]:
    """``(run_id, step index, pid)`` of every step execution so far."""
    path = directory / "effects"
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        run_id, index, pid = line.split()
        found.append((run_id, int(index), int(pid)))
    return found


async def _trigger(store: Store, count: int) -> list[str]:
    ids = [f"run-{index:04}" for index in range(count)]
    for run_id in ids:
        await store.create_run(run_id, "pgw-ten", [0])
    return ids


async def _wait_until_done(store: Store, count: int, group: Workers) -> None:
    deadline = time.monotonic() + LIVENESS
    while time.monotonic() < deadline:
        stats = await store.workflow_stats("pgw-ten")
        assert stats.by_status["failed"] == 0, group.logs()
        if stats.by_status["completed"] == count:
            return
        group.check_alive()
        await asyncio.sleep(0.5)
    raise AssertionError(f"runs still unfinished: {stats.by_status}\n{group.logs()}")


async def _wait_for_effects(
    directory: Path, count: int, group: Workers, *, processes: int = 1
) -> None:
    """Until ``count`` step executions are recorded, by ``processes`` processes at least."""
    deadline = time.monotonic() + LIVENESS
    while True:
        done = effects(directory)
        if len(done) >= count and len({pid for _, _, pid in done}) >= processes:
            return
        assert time.monotonic() < deadline, group.logs()
        group.check_alive()
        await asyncio.sleep(0.05)


async def _check_runs(store: Store, ids: list[str]) -> None:
    """Every run completed with 10, one run_started and one run_completed, gapless seqs."""
    for run_id in ids:
        run = await store.get_run(run_id)
        assert (run.status, run.result) == ("completed", 10), run_id
        history = await store.history(run_id)
        assert [event.seq for event in history] == list(range(1, len(history) + 1))
        kinds = Counter(event.type for event in history)
        assert kinds["run_completed"] == 1, run_id
        completed_steps = {event.key for event in history if event.type == "step_completed"}
        assert len(completed_steps) == 10, run_id


def test_three_worker_processes_complete_500_runs_each_step_once(
    workers: Workers, postgres_url: str, tmp_path: Path
) -> None:
    async def main() -> list[str]:
        store = open_store(postgres_url)
        try:
            ids = await _trigger(store, 500)
            workers.start(3)
            await _wait_until_done(store, 500, workers)
            await _check_runs(store, ids)
            for run_id in ids[:50]:
                started = [e for e in await store.history(run_id) if e.type == "run_started"]
                assert len(started) == 1, "no crash, so no run was ever taken over"
            return ids
        finally:
            await store.close()

    ids = asyncio.run(main())
    done = effects(tmp_path)
    counts = Counter((run_id, index) for run_id, index, _ in done)
    assert set(counts) == {(run_id, index) for run_id in ids for index in range(10)}
    assert set(counts.values()) == {1}, "each step executed exactly once"
    pids_per_run: dict[str, set[int]] = {}
    for run_id, _, pid in done:
        pids_per_run.setdefault(run_id, set()).add(pid)
    assert all(len(pids) == 1 for pids in pids_per_run.values()), "no run ran in two workers"
    assert len({pid for _, _, pid in done}) >= 2, "the work was shared"


async def _leased_to(store: Store, worker: str) -> set[str]:
    """The running runs whose lease ``worker`` holds."""
    held: set[str] = set()
    cursor = None
    while True:
        page = await store.list_runs(status="running", limit=200, cursor=cursor)
        held |= {run.run_id for run in page.runs if run.lease_owner == worker}
        if page.next_cursor is None:
            return held
        cursor = page.next_cursor


def test_sigkill_of_one_worker_under_load_loses_no_run(
    workers: Workers, postgres_url: str, tmp_path: Path
) -> None:
    async def main() -> tuple[list[str], set[str], dict[str, int]]:
        store = open_store(postgres_url)
        try:
            ids = await _trigger(store, 150)
            # Steps of 50 ms: a run is in flight for half a second at least, so
            # the killed worker is caught holding some (trivial steps finish a
            # worker's batch in moments, and it then idles until its next poll).
            workers.start(3, step_seconds=0.05)
            # Under load: all three workers executing steps (they start at different
            # speeds, and the first may otherwise have done the work alone so far).
            await _wait_for_effects(tmp_path, 300, workers, processes=3)
            victim = workers.processes[0]
            deadline = time.monotonic() + LIVENESS
            while not await _leased_to(store, worker_id(victim.pid)):
                assert time.monotonic() < deadline, workers.logs()
                await asyncio.sleep(0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            # Its leases outlive it (5 s): the runs it had in flight, read at once.
            held = await _leased_to(store, worker_id(victim.pid))
            await _wait_until_done(store, 150, workers)
            await _check_runs(store, ids)
            recoveries = {run_id: (await store.get_run(run_id)).recoveries for run_id in held}
            return ids, held, recoveries
        finally:
            await store.close()

    ids, held, recoveries = asyncio.run(main())
    victim_pid = workers.processes[0].pid
    assert held, "the killed worker had runs in flight"
    assert all(count >= 1 for count in recoveries.values()), recoveries
    done = effects(tmp_path)
    for run_id in held:
        # It completed elsewhere: its last step ran in another worker (the victim may
        # have run it too, and died before recording it).
        last = {pid for run, index, pid in done if run == run_id and index == 9}
        assert last - {victim_pid}, f"{run_id}: no other worker finished it"
    counts = Counter((run_id, index) for run_id, index, _ in done)
    assert set(counts) == {(run_id, index) for run_id in ids for index in range(10)}
    touched_by_victim = {run_id for run_id, _, pid in done if pid == victim_pid}
    repeated = {run_id for (run_id, _), count in counts.items() if count > 1}
    assert repeated <= touched_by_victim, "only steps in flight in the killed worker ran again"


def test_workers_reconnect_after_their_backends_are_terminated(
    postgres_server: str, postgres_url: str, tmp_path: Path
) -> None:
    application = f"vrb_pgw_{uuid.uuid4().hex[:8]}"
    group = Workers(f"{postgres_url}&application_name={application}", tmp_path, 5.0)

    def terminate() -> int:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application,),
            ).fetchall()
        return len(rows)

    async def main() -> tuple[list[str], list[int]]:
        store = open_store(postgres_url)
        try:
            ids = await _trigger(store, 150)
            group.start(2)
            killed = []
            for threshold in (200, 600):
                await _wait_for_effects(tmp_path, threshold, group)
                killed.append(await asyncio.to_thread(terminate))
            await _wait_until_done(store, 150, group)
            await _check_runs(store, ids)
            return ids, killed
        finally:
            await store.close()
            group.stop()

    ids, killed = asyncio.run(main())
    assert all(count >= 2 for count in killed), killed
    counts = Counter((run_id, index) for run_id, index, _ in effects(tmp_path))
    assert set(counts) == {(run_id, index) for run_id in ids for index in range(10)}
    assert [process.returncode for process in group.processes] == [0, 0], group.logs()
