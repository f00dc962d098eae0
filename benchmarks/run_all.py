"""Every benchmark of issue 8, interleaved A/B, into results.json and docs/benchmarks.md.

    python benchmarks/run_all.py                 # full sizes, 3 rounds (make bench)
    python benchmarks/run_all.py --quick         # tiny sizes, 1 round (the smoke test)

Workloads, on SQLite and on PostgreSQL (the compile workload needs no database):

1. ``sequential``: one workflow of ``--steps`` trivial steps; seconds per step.
2. ``fanout_wN``: ``--runs`` workflows of 5 steps, N worker processes; cost per workflow
   (the inverse of workflows per second, so that every ratio is a cost ratio).
3. ``recovery``: SIGKILL the worker mid-step; seconds until another resumes the run.
4. ``replay``: seconds for a fresh worker to resume and finish a run of ``--events`` events.
5. ``compile``: ``vrb-compile check`` and ``build`` against a bare LibCST parse.

Each contender is sampled once per round, round-robin (ours, floor, peer, ours,
floor, peer ...), every sample in a fresh interpreter on a fresh database, and
each ratio is taken within a round, then summarised as median/min/max over rounds.
All ratios are ``ours / other`` costs: below 1 means we are cheaper.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_check
from _harness import (
    ROOT,
    Databases,
    Stat,
    dbos_available,
    interleave,
    postgres_available,
    ratios,
    run_sample,
    vrb_url,
)
from report import render_markdown

FANOUT_STEPS = 5


class Runner:
    """Runs the workloads with the given sizes and collects ``results``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dbs = Databases()
        self.peer_reason = None if args.no_peer else dbos_available()
        if args.no_peer:
            self.peer_reason = "disabled with --no-peer"
        self.results: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers

    def _peer(self) -> bool:
        return self.peer_reason is None

    def _record(
        self,
        workload: str,
        db: str,
        samples: dict[str, list[float]],
        unit: str,
        note: str = "",
    ) -> None:
        entry: dict[str, Any] = {"unit": unit}
        if note:
            entry["note"] = note
        for name, values in samples.items():
            entry[name] = Stat.of(values).as_dict()
        if "floor" in samples:
            entry["ours_over_floor"] = ratios(samples["ours"], samples["floor"]).as_dict()
        if "floor_asyncio" in samples:
            entry["ours_over_floor_asyncio"] = ratios(
                samples["ours"], samples["floor_asyncio"]
            ).as_dict()
        if "peer" in samples:
            entry["ours_over_peer"] = ratios(samples["ours"], samples["peer"]).as_dict()
            entry["peer_name"] = "DBOS Transact"
        self.results.setdefault(workload, {})[db] = entry
        self._say(workload, db, entry)

    @staticmethod
    def _say(workload: str, db: str, entry: dict[str, Any]) -> None:
        parts = [f"{workload:<14} {db:<9}"]
        for key in ("ours", "floor", "peer"):
            if key in entry:
                parts.append(f"{key} {entry[key]['median']:.6g}")
        for key in ("ours_over_floor", "ours_over_peer"):
            if key in entry:
                parts.append(f"{key} {entry[key]['median']:.2f}x")
        print("  ".join(parts), flush=True)

    def _where(self, db: str) -> str:
        return self.dbs.fresh(db)

    # ------------------------------------------------------------------ workloads

    def sequential(self, db: str) -> None:
        n = self.args.steps

        def ours() -> float:
            return float(
                run_sample("ours.py", "sequential", vrb_url(db, self._where(db)), str(n))[
                    "per_step"
                ]
            )

        def floor() -> float:
            return float(run_sample("floors.py", "commit", db, self._where(db), str(n))["per_step"])

        def floor_asyncio() -> float:
            return float(run_sample("floors.py", "asyncio", str(n))["per_step"])

        def peer() -> float:
            where = self._where(db)
            return float(
                run_sample("peers/dbos_bench.py", "sequential", db, where, str(n))["per_step"]
            )

        contenders: dict[str, Callable[[], float]] = {
            "ours": ours,
            "floor": floor,
            "floor_asyncio": floor_asyncio,
        }
        if self._peer():
            contenders["peer"] = peer
        self._record("sequential", db, interleave(contenders, self.args.rounds), "s/step")

    def fanout(self, db: str, workers: int) -> None:
        runs = self.args.runs
        sizes = (str(runs), str(FANOUT_STEPS), str(workers))

        def ours() -> float:
            result = run_sample("ours.py", "fanout", vrb_url(db, self._where(db)), *sizes)
            return 1.0 / float(result["per_second"])

        def floor() -> float:
            return 1.0 / float(
                run_sample("floors.py", "fanout", db, self._where(db), *sizes)["per_second"]
            )

        def peer() -> float:
            result = run_sample("peers/dbos_bench.py", "fanout", db, self._where(db), *sizes)
            return 1.0 / float(result["per_second"])

        contenders: dict[str, Callable[[], float]] = {"ours": ours, "floor": floor}
        if self._peer():
            contenders["peer"] = peer
        self._record(
            f"fanout_w{workers}",
            db,
            interleave(contenders, self.args.rounds),
            "s/workflow",
            note=f"{runs} workflows of {FANOUT_STEPS} steps, {workers} worker process(es); "
            "workflows/s = 1 / figure",
        )

    def recovery(self, db: str) -> None:
        lease = self.args.lease

        def ours() -> float:
            return float(
                run_sample("ours.py", "recovery", vrb_url(db, self._where(db)), str(lease))[
                    "seconds"
                ]
            )

        def floor() -> float:
            return lease  # a lease-based takeover cannot happen before the lease lapses

        def peer() -> float:
            result = run_sample("peers/dbos_bench.py", "recovery", db, self._where(db), str(lease))
            return float(result["seconds"])

        contenders: dict[str, Callable[[], float]] = {"ours": ours, "floor": floor}
        if self._peer():
            contenders["peer"] = peer
        self._record(
            "recovery",
            db,
            interleave(contenders, self.args.rounds),
            "s",
            note=f"lease {lease:g} s on both systems; floor = the lease",
        )

    def replay(self, db: str) -> None:
        events = self.args.events
        steps = max(1, (events - 4) // 2)  # step_started + step_completed per step

        def ours() -> float:
            url = vrb_url(db, self._where(db))
            built = run_sample("ours.py", "replay-build", url, str(steps))
            return float(run_sample("ours.py", "replay-resume", url, built["run_id"])["seconds"])

        def floor() -> float:
            return float(
                run_sample("floors.py", "read", db, self._where(db), str(events))["seconds"]
            )

        def peer() -> float:
            where = self._where(db)
            built = run_sample("peers/dbos_bench.py", "replay-build", db, where, str(steps))
            result = run_sample("peers/dbos_bench.py", "replay-resume", db, where, built["run_id"])
            return float(result["seconds"])

        contenders: dict[str, Callable[[], float]] = {"ours": ours, "floor": floor}
        if self._peer():
            contenders["peer"] = peer
        self._record(
            "replay",
            db,
            interleave(contenders, self.args.rounds),
            "s",
            note=f"a run of {steps} steps (~{events} of our events) parked on a signal; "
            "a fresh process opens the store, resumes and finishes it; floor = reading and "
            f"decoding {events} event rows",
        )

    def compile(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="vrb-bench-compile-"))
        # Without the planted findings: a build stops at the first error.
        files, lines = bench_check.generate(root, self.args.lines, broken=False)

        memory: dict[str, list[float]] = {}

        def sample(kind: str) -> Callable[[], float]:
            def run() -> float:
                result = run_sample("compile_sample.py", kind, str(root))
                if result.get("kb_per_line") is not None:
                    memory.setdefault(kind, []).append(float(result["kb_per_line"]))
                return float(result["seconds"])

            return run

        samples = interleave(
            {"parse": sample("parse"), "check": sample("check"), "build": sample("build")},
            self.args.rounds,
        )
        for kind in ("check", "build"):
            self._record(
                f"compile_{kind}",
                "none",
                {"ours": samples[kind], "floor": samples["parse"]},
                "s",
                note=f"{len(files)} files, {lines} lines; jobs=1, no cache; floor = libcst.parse_module of every file"
                + _memory_note(memory, kind),
            )

    # ------------------------------------------------------------------ all

    def run(self) -> dict[str, Any]:
        started = time.time()
        databases = [d for d in self.args.databases.split(",") if d]
        if "postgres" in databases:
            reason = postgres_available()
            if reason is not None:
                self.skipped["postgres"] = reason
                databases.remove("postgres")
        if self.peer_reason is not None:
            self.skipped["peer"] = self.peer_reason
        wanted = set(self.args.only.split(",")) if self.args.only else None
        try:
            for db in databases:
                if wanted is None or "sequential" in wanted:
                    self.sequential(db)
                if wanted is None or "fanout" in wanted:
                    for workers in self.args.workers:
                        self.fanout(db, workers)
                if wanted is None or "recovery" in wanted:
                    self.recovery(db)
                if wanted is None or "replay" in wanted:
                    self.replay(db)
            if wanted is None or "compile" in wanted:
                self.compile()
        finally:
            self.dbs.close()
        return {
            "machine": machine(),
            "settings": {
                "rounds": self.args.rounds,
                "steps": self.args.steps,
                "runs": self.args.runs,
                "workers": self.args.workers,
                "lease": self.args.lease,
                "events": self.args.events,
                "lines": self.args.lines,
                "quick": self.args.quick,
            },
            "skipped": self.skipped,
            "seconds": time.time() - started,
            "results": self.results,
        }


def _memory_note(memory: dict[str, list[float]], kind: str) -> str:
    """``; peak memory 2.7 KB/line ...``: the median growth of the peak RSS per source line."""
    if kind not in memory:
        return ""
    shown = f"; peak memory {statistics.median(memory[kind]):.1f} KB/line"
    if "parse" in memory:
        shown += f" (the bare parse, one tree at a time: {statistics.median(memory['parse']):.1f})"
    return shown


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import sqlite3

        info["sqlite"] = sqlite3.sqlite_version
    except ImportError:
        pass
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import dbos, importlib.metadata as m; print(m.version('dbos'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode == 0:
            info["dbos"] = out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        import psycopg
        from _harness import PG_URL

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgres"] = row[0] if row else None
    except Exception:  # no PostgreSQL: the rows are skipped and say so
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (smoke test)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--lease", type=float)
    parser.add_argument("--events", type=int)
    parser.add_argument("--lines", type=int)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--only", help="comma-separated workloads: sequential,fanout,recovery,replay,compile"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip DBOS Transact")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs table")
    args = parser.parse_args(argv)
    full = {
        "rounds": 3,
        "steps": 100,
        "runs": 1000,
        "workers": [1, 2, 4],
        "lease": 2.0,
        "events": 10_000,
        "lines": 20_000,
    }
    quick = {
        "rounds": 1,
        "steps": 10,
        "runs": 10,
        "workers": [1, 2],
        "lease": 0.5,
        "events": 60,
        "lines": 300,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    document = Runner(args).run()
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if not args.no_docs:
        render_markdown(document, args.docs)
        print(f"wrote the table into {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
