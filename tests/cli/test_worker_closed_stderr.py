"""``vrb worker`` stops on SIGTERM and SIGINT even when its stderr is a closed pipe.

A supervisor whose log pipe died still stops its workers: the worker stops
first and reports after, and a report that cannot be written decides nothing.
Each test runs a real ``vrb worker`` process on a SQLite store; the only
timing is a liveness deadline, never a measurement.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "runtime.cli"]
DEADLINE = 60.0  # seconds before the worker is declared hung (a safety net, not a measurement)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VRB_DATABASE_URL", "NO_COLOR")}


def _read_until(stream: IO[bytes], marker: bytes, process: subprocess.Popen[bytes]) -> bytes:
    """What ``stream`` gave until ``marker`` appeared (failing if the worker exits or hangs)."""
    seen = b""
    deadline = time.monotonic() + DEADLINE
    while marker not in seen:
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {marker!r} on the worker's stderr: {seen!r}")
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                pytest.fail(f"the worker exited {process.wait()} before {marker!r}: {seen!r}")
            seen += chunk
    return seen


@pytest.mark.parametrize(
    ("signum", "status"),
    [pytest.param(signal.SIGTERM, 0, id="sigterm"), pytest.param(signal.SIGINT, 130, id="sigint")],
)
def test_worker_stops_on_a_signal_when_its_stderr_pipe_is_closed(
    tmp_path: Path, signum: int, status: int
) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    db = f"sqlite:///{tmp_path / 'vrb.db'}"
    command = [*CLI, "worker", "tests.cli.flows", "--db", db, "--poll-interval", "0.05"]
    with (tmp_path / "worker.out").open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=_env(), stdout=out, stderr=subprocess.PIPE
        )
    try:
        assert process.stderr is not None
        # The worker's own "serving" log line comes after its signal handlers are
        # installed: a signal sent before would kill it by default, proving nothing.
        _read_until(process.stderr, b"runtime.worker: worker ", process)
        # A run in flight, so the worker has runs to log about after the pipe died.
        trigger = [*CLI, "trigger", "cli-hold", "--args", json.dumps([str(hold)]), "--db", db]
        subprocess.run(trigger, cwd=REPO, env=_env(), check=True, capture_output=True)
        while not (hold / "started").exists():
            assert process.poll() is None, f"the worker exited {process.returncode}"
            time.sleep(0.02)
        process.stderr.close()
        process.send_signal(signum)
        (hold / "release").write_text("go")
        assert process.wait(timeout=DEADLINE) == status
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
