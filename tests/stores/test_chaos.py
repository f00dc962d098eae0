"""Chaos: worker processes SIGKILLed at random while a few hundred runs go through.

Three real worker processes (:mod:`tests.chaos_worker`) serve chains of steps
and sagas that compensate; every 0.5-1.5 s one of them, at random, is killed
with SIGKILL and a new one started. Whatever the kills hit, every run ends as
it would have without them: no step or rollback completes twice, every step or
rollback that ran more than once was cut short by a kill (the earlier
executions were all in a killed process), no run is failed as poison (the
workers keep the default poison limit: only deaths of a worker running a run
alone count), and the SQLite file stays intact. Sized for CI; the random schedule is seeded, and the
seed is in the failure message.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from runtime import Client

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
CHAINS, SAGAS = 90, 30
LEASE = 1.5
LIVENESS = 150.0  # guards against a hang only


def _start(url: str, directory: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VRB_CHAOS_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.chaos_worker", url, str(LEASE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _trigger(url: str) -> list[str]:
    client = Client(url)
    try:
        ids = []
        for n in range(CHAINS):
            ids.append((await client.workflow.trigger("chaos-chain", [n], run_id=f"c{n}")).run_id)
        for n in range(SAGAS):
            ids.append((await client.workflow.trigger("chaos-saga", [n], run_id=f"s{n}")).run_id)
        return ids
    finally:
        await client.close()


async def _unfinished(url: str, ids: list[str]) -> int:
    client = Client(url)
    try:
        runs = [await client.workflow.get_run(run_id) for run_id in ids]
        return sum(run.status not in ("completed", "failed", "cancelled") for run in runs)
    finally:
        await client.close()


async def _ends(url: str, ids: list[str]) -> dict[str, tuple[Any, Any, list[Any]]]:
    client = Client(url)
    try:
        ends = {}
        for run_id in ids:
            run = await client.workflow.get_run(run_id)
            ends[run_id] = (run.status, run.result, await client.workflow.history(run_id))
        return ends
    finally:
        await client.close()


def _chaos(url: str, directory: Path, seed: int) -> tuple[dict[str, Any], set[int]]:
    """Run the campaign; the runs' ends and the pids killed."""
    rng = random.Random(seed)
    ids = asyncio.run(_trigger(url))
    workers = [_start(url, directory) for _ in range(WORKERS)]
    killed: set[int] = set()
    deadline = time.monotonic() + LIVENESS
    try:
        while left := asyncio.run(_unfinished(url, ids)):
            if time.monotonic() > deadline:  # a hang guard, not a measure of speed
                raise TimeoutError(f"{left} runs still unfinished (seed {seed})")
            assert all(w.poll() in (None, -signal.SIGKILL) for w in workers), "a worker died"
            time.sleep(rng.uniform(0.5, 1.5))
            victim = rng.randrange(WORKERS)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            killed.add(workers[victim].pid)
            workers[victim] = _start(url, directory)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return asyncio.run(_ends(url, ids)), killed


def _check(ends: dict[str, Any], killed: set[int], directory: Path, seed: int) -> None:
    where = f"(seed {seed}, {len(killed)} kills)"
    for run_id, (status, result, history) in ends.items():
        if run_id.startswith("c"):
            assert (status, result) == ("completed", int(run_id[1:]) + 5), (run_id, where)
        else:
            # Three reservations compensated, in reverse order, then the body returns.
            assert (status, result) == ("completed", {"compensated": 3}), (run_id, where)
        for kind in ("step_completed", "rollback_completed"):
            keys = Counter(e.key for e in history if e.type == kind)
            assert all(n == 1 for n in keys.values()), (run_id, kind, keys, where)
        assert not any(e.type == "run_failed" and "PoisonRun" in str(e.payload) for e in history), (
            run_id,
            where,
        )
    runs: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    for line in (directory / "effects").read_text().splitlines():
        run_id, key, kind, pid, phase = line.split()
        runs[(run_id, key, kind)].append((int(pid), phase))
    again = 0
    for what, phases in runs.items():
        starts = [pid for pid, phase in phases if phase == "start"]
        if len(starts) > 1:
            again += len(starts) - 1
            # Every execution but the last was in a process a kill ended.
            assert set(starts[:-1]) <= killed, (what, phases, where)
    assert again <= len(killed) * 8 * 2, (again, where)  # at most a worker's in-flight per kill


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_random_sigkills_never_lose_or_duplicate_work(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'vrb.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    seed = random.SystemRandom().randrange(2**32)
    ends, killed = _chaos(url, tmp_path, seed)
    assert killed, "no worker was killed: the campaign proved nothing"
    _check(ends, killed, tmp_path, seed)
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "vrb.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
