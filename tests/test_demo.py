"""`make demo`, the README's first command, runs end to end on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_an_order_a_compensated_saga_and_a_signalled_approval(tmp_path: Path) -> None:
    env = {**os.environ, "VRB_BIN": str(Path(sys.executable).parent), "VRB_DEMO_OUT": str(tmp_path)}
    env.pop("VRB_DATABASE_URL", None)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert '{"status": "completed", "orderId": "ORD-12345"}' in out
    # The saga's rollbacks ran in reverse completion order before the run failed.
    hotel = out.index("rollback_completed  n2   book-hotel")
    flight = out.index("rollback_completed  n1   book-flight")
    assert hotel < flight
    assert "run_failed" in out
    # The approval waited for its signal, took it, and completed.
    assert '{"completed": true}' in out
    assert "signal_consumed" in out
    assert (tmp_path / "graphs" / "manifest.json").is_file()
