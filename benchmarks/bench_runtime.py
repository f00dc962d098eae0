"""Runtime cost on SQLite: per step against the bare-commit floor, flatness, replay.

Prints, for a sequential workflow of ``--steps`` trivial steps on SQLite with the
default durability (WAL, ``synchronous=FULL``):

* the time per step, and the time of one bare SQLite commit of one event row with
  the same settings (the floor every durable engine pays), measured interleaved in
  the same run, and their ratio;
* the cost of the last steps against steps ~10 (a live run keeps its interpreter
  state, so this must stay flat);
* the resume cost of a run whose history holds ``--replay-events`` events
  (a fresh worker reads and replays it, then finishes the run), in events/s.

Each figure is the median of ``--repeat`` runs, with min and max.

    python benchmarks/bench_runtime.py [--steps 1000] [--replay-events 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime_flows

from runtime import Client, Worker

assert runtime_flows.sequential is not None


def _url(directory: Path, name: str, synchronous: str) -> str:
    suffix = "" if synchronous == "full" else f"?synchronous={synchronous}"
    return f"sqlite:///{directory / name}{suffix}"


def floor_per_commit(directory: Path, commits: int, synchronous: str) -> float:
    """Seconds per bare commit of one event row, WAL, same synchronous setting."""
    db = sqlite3.connect(directory / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous.upper()}")
    db.execute(
        "CREATE TABLE IF NOT EXISTS events (run_id TEXT, seq INTEGER, type TEXT, "
        "payload TEXT, at INTEGER, PRIMARY KEY (run_id, seq))"
    )
    start = time.perf_counter()
    for seq in range(commits):
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (f"r{start}", seq, "step_completed", '{"output": 1}', seq),
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed / commits


async def sequential_run(
    directory: Path, steps: int, synchronous: str
) -> tuple[float, float, float]:
    """(seconds per step, mean step cost around step 10, mean cost of the last 10 steps)."""
    async with Client(_url(directory, f"seq-{time.monotonic_ns()}.db", synchronous)) as client:
        worker = Worker(client, poll_interval=0.01)
        handle = await client.workflow.trigger("bench-sequential", [steps])
        start = time.perf_counter()
        await worker.run_until_idle("bench-sequential", timeout=3600)
        elapsed = time.perf_counter() - start
        info = await client.workflow.get_run(handle.run_id)
        assert info.status == "completed", info
        done = [
            e.at for e in await client.workflow.history(handle.run_id) if e.type == "step_completed"
        ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(done)]
    early = gaps[5:15] or gaps
    late = gaps[-10:]
    return elapsed / steps, statistics.fmean(early), statistics.fmean(late)


async def replay_run(directory: Path, events: int, synchronous: str) -> tuple[int, float]:
    """(events in the history, seconds for a fresh worker to resume and finish the run)."""
    url = _url(directory, f"replay-{time.monotonic_ns()}.db", synchronous)
    steps = max(1, (events - 4) // 2)  # step_started + step_completed per step
    async with Client(url) as client:
        handle = await client.workflow.trigger("bench-replay", [steps])
        await Worker(client, poll_interval=0.01).run_until_idle("bench-replay", timeout=3600)
        recorded = len(await client.workflow.history(handle.run_id))
        await client.workflow.send_signal(handle.run_id, "go", None)
    async with Client(url) as client:  # a fresh process state: nothing cached
        start = time.perf_counter()
        await Worker(client, poll_interval=0.01).run_until_idle("bench-replay", timeout=3600)
        elapsed = time.perf_counter() - start
        info = await client.workflow.get_run(handle.run_id)
        assert info.status == "completed", info
    return recorded, elapsed


def _summary(values: Sequence[float], scale: float, unit: str) -> str:
    scaled = [v * scale for v in values]
    return (
        f"{statistics.median(scaled):9.1f} {unit}  (min {min(scaled):.1f}, max {max(scaled):.1f})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--replay-events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    args = parser.parse_args(argv)

    per_step: list[float] = []
    floors: list[float] = []
    ratios: list[float] = []
    early: list[float] = []
    late: list[float] = []
    replay: list[float] = []
    recorded = 0
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for _ in range(args.repeat):
            # Interleaved A/B: the floor is measured right beside each run.
            floor = floor_per_commit(directory, args.steps, args.synchronous)
            step, e, late_cost = asyncio.run(
                sequential_run(directory, args.steps, args.synchronous)
            )
            floors.append(floor)
            per_step.append(step)
            ratios.append(step / floor)
            early.append(e)
            late.append(late_cost)
            recorded, seconds = asyncio.run(
                replay_run(directory, args.replay_events, args.synchronous)
            )
            replay.append(recorded / seconds)

    print(f"SQLite, WAL, synchronous={args.synchronous}; median of {args.repeat} runs")
    print(f"sequential, {args.steps} steps")
    print(f"  time per step         {_summary(per_step, 1e6, 'us')}")
    print(f"  bare commit (floor)   {_summary(floors, 1e6, 'us')}")
    print(
        f"  ours / floor          {statistics.median(ratios):9.2f} x   (min {min(ratios):.2f}, max {max(ratios):.2f})"
    )
    print(f"  cost around step 10   {_summary(early, 1e6, 'us')}")
    print(f"  cost of last 10 steps {_summary(late, 1e6, 'us')}")
    flat = [b / a for a, b in zip(early, late, strict=True)]
    print(f"  last / step-10 cost   {statistics.median(flat):9.2f} x")
    print(f"replay of a {recorded}-event history (fresh worker, read + replay + finish)")
    print(f"  events per second     {_summary(replay, 1.0, 'ev/s')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
