"""The checker benchmark still runs (at a tiny size), so it cannot rot unnoticed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_fixtures import postgres_server  # noqa: F401 - a fixture, found by name

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


# --------------------------------------------------------------------------- run_all.py

RUN_ALL = BENCH.parent / "run_all.py"


def _run_all(tmp_path: Path, *args: str) -> dict[str, object]:
    out, docs = tmp_path / "results.json", tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, str(RUN_ALL), "--quick", "--out", str(out), "--docs", str(docs), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    document: dict[str, object] = json.loads(out.read_text())
    table = docs.read_text()
    assert "| workload | database |" in table
    return document


def _check_entry(entry: dict[str, dict[str, float]], *figures: str) -> None:
    for figure in figures:
        stat = entry[figure]
        assert stat["min"] <= stat["median"] <= stat["max"], (figure, stat)
        assert stat["median"] > 0, (figure, stat)


def test_run_all_measures_every_workload_against_its_floor_on_sqlite(tmp_path: Path) -> None:
    document = _run_all(tmp_path, "--databases", "sqlite", "--no-peer")
    results = document["results"]
    assert isinstance(results, dict)
    assert set(results) == {
        "sequential",
        "fanout_w1",
        "fanout_w2",
        "recovery",
        "replay",
        "compile_check",
        "compile_build",
    }
    for workload, by_db in results.items():
        db = "none" if workload.startswith("compile") else "sqlite"
        _check_entry(by_db[db], "ours", "floor", "ours_over_floor")
        assert "peer" not in by_db[db]
    _check_entry(results["sequential"]["sqlite"], "floor_asyncio", "ours_over_floor_asyncio")
    assert document["skipped"] == {"peer": "disabled with --no-peer"}  # type: ignore[comparison-overlap]


@pytest.mark.usefixtures("postgres_server")
def test_run_all_measures_postgres_in_its_own_schema(tmp_path: Path) -> None:
    document = _run_all(
        tmp_path, "--databases", "postgres", "--no-peer", "--only", "sequential,replay"
    )
    results = document["results"]
    assert isinstance(results, dict)
    assert set(results) == {"sequential", "replay"}
    _check_entry(results["sequential"]["postgres"], "ours", "floor", "ours_over_floor")


def test_run_all_compares_with_dbos_transact_on_sqlite(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH.parent))
    from _harness import dbos_available

    reason = dbos_available()
    if reason is not None:
        pytest.skip(f"{reason}; the DBOS comparison is not part of make test's dependencies")
    document = _run_all(
        tmp_path,
        "--databases",
        "sqlite",
        "--workers",
        "1",
        "--only",
        "sequential,fanout,recovery,replay",
    )
    results = document["results"]
    assert isinstance(results, dict)
    for by_db in results.values():
        _check_entry(by_db["sqlite"], "ours", "peer", "ours_over_peer")
        assert by_db["sqlite"]["peer_name"] == "DBOS Transact"


@pytest.mark.usefixtures("postgres_server")
def test_bench_postgres_prints_per_step_cost_and_steps_per_second(tmp_path: Path) -> None:
    out = tmp_path / "results_postgres.json"
    script = BENCH.parent / "bench_postgres.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--no-peer", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert re.search(r"per step: ours \d+ µs, floor \d+ µs, ours/floor \d+\.\d+x", proc.stdout)
    for workers in (1, 2):
        assert re.search(
            rf"throughput, {workers} worker process\(es\): steps/s ours [\d,]+, floor [\d,]+",
            proc.stdout,
        ), proc.stdout
    assert set(json.loads(out.read_text())["results"]) == {"sequential", "fanout_w1", "fanout_w2"}


def test_the_compile_workload_package_has_no_planted_findings(tmp_path: Path) -> None:
    # `make bench` builds this package: one planted finding would stop the build.
    sys.path.insert(0, str(BENCH.parent))
    import bench_check

    files, _ = bench_check.generate(tmp_path / "clean", 12_000, broken=False)
    assert len(files) > 30, "enough modules that the tenth would carry the planted workflow"
    assert not [f for f in files if "broken-" in f.read_text(encoding="utf-8")]
    planted, _ = bench_check.generate(tmp_path / "planted", 12_000)
    assert [f for f in planted if "broken-" in f.read_text(encoding="utf-8")]
