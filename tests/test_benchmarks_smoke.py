"""The checker benchmark still runs (at a tiny size), so it cannot rot unnoticed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_check.py"


def test_bench_check_runs_and_prints_every_ratio(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--lines",
            "500",
            "--repeat",
            "1",
            "--keep",
            str(tmp_path / "pkg"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    generated = re.search(r"generated (\d+) files, (\d+) lines", out)
    assert generated is not None, out
    assert int(generated.group(2)) >= 500
    for label in (
        "libcst.parse_module, all files",
        "check cold, jobs=1",
        "check cold, jobs=default",
        "check warm (cache)",
    ):
        assert re.search(rf"{re.escape(label)}\s+\d+\.\d+ s\s+\d+\.\d+x parse", out), label
    # The generated package is realistic: many workflows, and only its planted findings.
    checked = re.search(r"checked (\d+) files, (\d+) workflows, (\d+) diagnostics", out)
    assert checked is not None, out
    assert int(checked.group(2)) >= 9
    assert int(checked.group(3)) == 0
