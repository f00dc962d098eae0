"""Crash tests with real worker processes: SIGKILL one mid-step or mid-saga, another finishes.

Effects are counted in a file the steps append to, so the assertions see what
really ran, across processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from runtime import Client, WorkflowFailed

ROOT = Path(__file__).resolve().parents[1]
LEASE = 1.5
"""Short leases (heartbeats every 0.1 s keep a live worker's lease) so a takeover is quick."""


def start_worker(
    tmp_path: Path, lease_timeout: float, max_recoveries: int = 5
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VRB_CRASH_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.runtime.crash_worker",
            str(tmp_path / "vrb.db"),
            str(lease_timeout),
            str(max_recoveries),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def effects(tmp_path: Path) -> Counter[str]:
    path = tmp_path / "effects"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def wait_for_effect(tmp_path: Path, name: str) -> None:
    for _ in range(3000):
        if effects(tmp_path)[name]:
            return
        time.sleep(0.01)
    raise AssertionError(f"no worker reached {name!r}")


async def _with_client(tmp_path: Path, action: Any) -> Any:
    client = Client(f"sqlite:///{tmp_path / 'vrb.db'}")
    try:
        return await action(client)
    finally:
        await client.close()


def call(tmp_path: Path, action: Any) -> Any:
    return asyncio.run(_with_client(tmp_path, action))


def assert_well_formed(history: list[Any]) -> None:
    assert [event.seq for event in history] == list(range(1, len(history) + 1))
    kinds = [event.type for event in history]
    assert kinds[0] == "run_created"
    assert kinds.count("run_started") == 1
    assert kinds[-1] in ("run_completed", "run_failed")
    completed = [event.key for event in history if event.type == "step_completed"]
    assert len(completed) == len(set(completed))
    # A rollback ends once; one that ran began first (a crash may begin it again).
    outcomes = [e for e in history if e.type in ("rollback_completed", "rollback_failed")]
    assert len(outcomes) == len({e.key for e in outcomes})
    started = {e.key for e in history if e.type == "rollback_started"}
    interrupted = [e for e in outcomes if e.type == "rollback_failed"]
    assert all(e.key in started for e in outcomes if e not in interrupted)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_killed_worker_mid_step_is_taken_over_and_completed_steps_do_not_rerun(
    tmp_path: Path,
) -> None:
    run_id = call(
        tmp_path, lambda c: c.workflow.trigger("crash-flow", [1], run_id="crash-1")
    ).run_id
    first = start_worker(tmp_path, lease_timeout=LEASE)
    try:
        wait_for_effect(tmp_path, "block-start")
    finally:
        first.kill()  # SIGKILL: no cleanup, the lease stays until it lapses
        first.wait()
    assert effects(tmp_path) == Counter({"first": 1, "block-start": 1})
    (tmp_path / "latch").touch()
    # The dead worker's lease lapses within its lease_timeout; then the second takes over.
    second = start_worker(tmp_path, lease_timeout=LEASE)
    try:
        result = call(tmp_path, lambda c: c.workflow.result(run_id, timeout=30))
    finally:
        assert stop(second) == 0  # SIGTERM drains and exits cleanly
    assert result == 104
    assert effects(tmp_path) == Counter({"first": 1, "block-start": 2, "block-end": 1, "last": 1})
    history = call(tmp_path, lambda c: c.workflow.history(run_id))
    assert_well_formed(history)
    record = call(tmp_path, lambda c: c.store.get_run(run_id))
    assert record.recoveries == 1


def test_killed_worker_mid_compensation_never_reruns_a_completed_rollback(
    tmp_path: Path,
) -> None:
    run_id = call(tmp_path, lambda c: c.workflow.trigger("crash-saga", run_id="crash-2")).run_id
    first = start_worker(tmp_path, lease_timeout=LEASE)
    try:
        wait_for_effect(tmp_path, "undo-one-start")
    finally:
        first.kill()
        first.wait()
    assert effects(tmp_path) == Counter(
        {"one": 1, "two": 1, "fail": 1, "undo-two": 1, "undo-one-start": 1}
    )
    (tmp_path / "latch").touch()
    second = start_worker(tmp_path, lease_timeout=LEASE)
    try:
        with pytest.raises(WorkflowFailed) as caught:
            call(tmp_path, lambda c: c.workflow.result(run_id, timeout=30))
    finally:
        assert stop(second) == 0
    assert caught.value.error["type"] == "StepFailed"
    assert effects(tmp_path) == Counter(
        {
            "one": 1,
            "two": 1,
            "fail": 1,
            "undo-two": 1,
            "undo-one-start": 2,
            "undo-one-end": 1,
        }
    )
    history = call(tmp_path, lambda c: c.workflow.history(run_id))
    assert_well_formed(history)
    assert [(e.type, e.payload.step) for e in history if e.type.startswith("rollback")] == [
        ("rollback_started", "c-two"),
        ("rollback_completed", "c-two"),
        ("rollback_started", "c-one"),
        ("rollback_started", "c-one"),
        ("rollback_completed", "c-one"),
    ]


def test_a_rollback_that_kills_every_worker_ends_the_run_failed_without_running_it_again(
    tmp_path: Path,
) -> None:
    run_id = call(
        tmp_path, lambda c: c.workflow.trigger("crash-deadly-rollback", run_id="crash-3")
    ).run_id
    deaths = 0
    # One worker at a time: each takes the run over once the dead one's lease lapses.
    while deaths < 8:
        worker = start_worker(tmp_path, lease_timeout=LEASE, max_recoveries=2)
        try:
            for _ in range(3000):
                if worker.poll() is not None:
                    break
                status = call(tmp_path, lambda c: c.workflow.get_run(run_id)).status
                if status == "failed":
                    break
                time.sleep(0.05)
        finally:
            if worker.poll() is None:
                assert stop(worker) == 0
        if worker.returncode != 9:
            break
        deaths += 1
    # The first claim and takeover die in the rollback (not counted: a run is executed
    # alone from its second takeover), then three takeovers executing it alone; the
    # next is past the limit of 2: it records the rollback the log shows begun as not
    # run again, and ends the run.
    assert deaths == 5
    assert effects(tmp_path) == Counter({"kept": 1, "doomed": 1, "undo-kill": 5})
    with pytest.raises(WorkflowFailed) as caught:
        call(tmp_path, lambda c: c.workflow.result(run_id, timeout=5))
    assert caught.value.error["type"] == "PoisonRun"
    assert caught.value.error["message"].startswith(
        "the run's worker died 3 times while executing it alone (limit 2, taken over 5 "
        "times in all)"
    )
    assert (
        "the rollback of step 'c-kept' was running when a worker" in caught.value.error["message"]
    )
    history = call(tmp_path, lambda c: c.workflow.history(run_id))
    assert_well_formed(history)
    rollbacks = [e for e in history if e.type.startswith("rollback")]
    assert [(e.type, e.key, e.payload.step) for e in rollbacks] == [
        *[("rollback_started", "n1", "c-kept")] * 5,
        ("rollback_failed", "n1", "c-kept"),
    ]
    assert rollbacks[-1].payload.error.type == "RollbackInterrupted"
