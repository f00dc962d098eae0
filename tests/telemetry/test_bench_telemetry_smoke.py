"""benchmarks/bench_telemetry.py runs at a tiny size, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_telemetry_runs_and_reports_every_figure() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_telemetry.py"),
            *("--calls", "2000", "--repeat", "1", "--steps", "20"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for label in (
        "step_attempt",
        "store_append",
        "step span, tracing off",
        "step span, SDK, exporter discarding",
        "log fields of an attempt",
        "metrics on, tracing off:",
        "metrics on, tracing on (SDK, discarding exporter):",
    ):
        assert label in proc.stdout, proc.stdout
