"""The store benchmark still runs (at a tiny size), so it cannot rot unnoticed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "bench_store.py"


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--appends", "3", "--repeat", "1", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _ratio(out: str, backend: str) -> float:
    section = out.split(f"== {backend}:", 1)[1]
    for label in ("floor: bare commit of one event row", "append (2 events, fenced)"):
        assert re.search(rf"{re.escape(label)}\s+median\s+[\d.]+ us", section), section
    found = re.search(r"ratio append / floor: ([\d.]+)", section)
    assert found is not None, section
    return float(found.group(1))


def test_bench_store_prints_the_sqlite_append_cost_against_its_floor() -> None:
    out = _run("--backends", "sqlite")
    assert _ratio(out, "sqlite") > 0
    assert "== postgresql" not in out


def test_bench_store_prints_postgres_figures_and_drops_its_scratch_schemas(
    postgres_server: str,
) -> None:
    import psycopg

    out = _run("--backends", "postgres", "--postgres-url", postgres_server, "--scale", "500")
    assert _ratio(out, "postgresql") > 0
    assert "== postgresql at scale: 500 runs" in out
    for label in ("list_runs(workflow_name)", "workflow_stats('wf-7')", "claim(limit=10)"):
        assert re.search(rf"{re.escape(label)}\s+median\s+[\d.]+ ms", out), out
    scratch = re.findall(r"scratch schema (vrb_bench_\w+) dropped", out)
    assert len(scratch) == 2, out
    with psycopg.connect(postgres_server) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = ANY(%s)", (scratch,)
        ).fetchone()
    assert left == (0,)
