"""Benchmark of the PostgreSQL store (issue 6): per-step cost and throughput with 1, 2, 4 workers.

    python benchmarks/bench_postgres.py                      # 100 steps, 1,000 runs, 3 rounds
    python benchmarks/bench_postgres.py --quick              # tiny sizes (the smoke test)

It runs the ``sequential`` and ``fanout`` workloads of :mod:`run_all` on
PostgreSQL only, with the same interleaved A/B sampling (every sample in a fresh
interpreter on a fresh schema), so the figures here and in ``make bench`` are the
same measurement:

* per-step cost: one workflow of ``--steps`` trivial steps, seconds per step,
  against the floor of one bare commit of one event row per step;
* throughput: ``--runs`` workflows of 5 steps served by 1, 2 and 4 worker
  processes, reported in steps per second (ours and the floor's).

The figures go to ``benchmarks/results_postgres.json`` (``--out``); DBOS Transact
joins when installed (``pip install -e '.[bench]'``), unless ``--no-peer``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_all
from _harness import ROOT

STEPS_PER_WORKFLOW = run_all.FANOUT_STEPS


def summary(document: dict[str, Any]) -> list[str]:
    """The lines worth quoting: µs per step, and steps per second per worker count."""
    results = document["results"]
    lines = []
    sequential = results.get("sequential", {}).get("postgres")
    if sequential is not None:
        ours, floor = sequential["ours"]["median"], sequential["floor"]["median"]
        lines.append(
            f"per step: ours {ours * 1e6:.0f} µs, floor {floor * 1e6:.0f} µs, "
            f"ours/floor {sequential['ours_over_floor']['median']:.2f}x"
        )
    for workload in sorted(name for name in results if name.startswith("fanout_w")):
        entry = results[workload].get("postgres")
        if entry is None:
            continue
        workers = workload.removeprefix("fanout_w")
        rates = {
            who: STEPS_PER_WORKFLOW / entry[who]["median"]
            for who in ("ours", "floor", "peer")
            if who in entry
        }
        shown = ", ".join(f"{who} {rate:,.0f}" for who, rate in rates.items())
        lines.append(f"throughput, {workers} worker process(es): steps/s {shown}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--workers", help="worker process counts, default 1,2,4 (1,2 quick)")
    parser.add_argument("--no-peer", action="store_true", help="skip DBOS Transact")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_postgres.json")
    args = parser.parse_args(argv)
    forwarded = ["--databases", "postgres", "--only", "sequential,fanout", "--no-docs"]
    forwarded += ["--out", str(args.out)]
    for flag in ("rounds", "steps", "runs", "workers"):
        if getattr(args, flag) is not None:
            forwarded += [f"--{flag}", str(getattr(args, flag))]
    if args.quick:
        forwarded.append("--quick")
    if args.no_peer:
        forwarded.append("--no-peer")
    status = run_all.main(forwarded)
    document = json.loads(args.out.read_text(encoding="utf-8"))
    if "postgres" in document["skipped"]:
        print(f"PostgreSQL unavailable: {document['skipped']['postgres']}", file=sys.stderr)
        return 1
    for line in summary(document):
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
