"""benchmarks/bench_runtime.py runs at a tiny size, so it cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runtime_runs_and_reports_every_figure() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_runtime.py"),
            "--steps",
            "30",
            "--replay-events",
            "100",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for label in (
        "time per step",
        "bare commit (floor)",
        "ours / floor",
        "last / step-10 cost",
        "events per second",
    ):
        assert label in proc.stdout
    # About the size asked for: a step records two events, the run a few of its own.
    events = int(re.search(r"replay of a (\d+)-event history", proc.stdout).group(1))  # type: ignore[union-attr]
    assert 90 <= events <= 110
