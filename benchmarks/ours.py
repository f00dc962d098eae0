"""One sample of a workload on vrb-workflows, in a fresh interpreter; prints one JSON line.

    python benchmarks/ours.py sequential URL STEPS
    python benchmarks/ours.py replay-build URL STEPS       # a run parked on a signal
    python benchmarks/ours.py replay-resume URL RUN_ID     # a fresh worker finishes it
    python benchmarks/ours.py fanout URL RUNS STEPS WORKERS
    python benchmarks/ours.py recovery URL LEASE
    python benchmarks/ours.py worker URL LEASE             # (a process of fanout/recovery)

Times cover the work only: imports, graph compilation and store opening are
outside them, except for ``replay-resume``, whose figure is what a fresh worker
pays to resume a long run (open the store, read the history, replay, finish).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import runtime_flows
from _harness import print_result, spawn, wait_ready

from runtime import Client, Worker

FLOWS = ["bench-sequential", "bench-replay", "bench-fanout", "bench-recovery"]


def _worker(client: Client, **options: float) -> Worker:
    worker = Worker(client, poll_interval=options.pop("poll_interval", 0.05), **options)  # type: ignore[arg-type]
    worker.library.load(FLOWS)  # compiled before any timing starts
    return worker


async def sequential(url: str, steps: int) -> dict[str, float]:
    async with Client(url) as client:
        worker = _worker(client)
        start = time.perf_counter()
        handle = await client.workflow.trigger("bench-sequential", [steps])
        await worker.run_until_idle("bench-sequential", timeout=3600)
        elapsed = time.perf_counter() - start
        info = await client.workflow.get_run(handle.run_id)
        assert info.status == "completed", info
        assert info.result == steps * (steps - 1) // 2, info
    return {"seconds": elapsed, "per_step": elapsed / steps}


async def replay_build(url: str, steps: int) -> dict[str, object]:
    async with Client(url) as client:
        handle = await client.workflow.trigger("bench-replay", [steps])
        await _worker(client).run_until_idle("bench-replay", timeout=3600)
        events = len(await client.workflow.history(handle.run_id))
        await client.workflow.send_signal(handle.run_id, "go", None)
    return {"run_id": handle.run_id, "events": events}


async def replay_resume(url: str, run_id: str) -> dict[str, float]:
    start = time.perf_counter()
    async with Client(url) as client:
        await _worker(client).run_until_idle("bench-replay", timeout=3600)
        elapsed = time.perf_counter() - start
        info = await client.workflow.get_run(run_id)
        assert info.status == "completed", info
    return {"seconds": elapsed}


async def serve(url: str, lease: float) -> None:
    async with Client(url) as client:
        worker = _worker(
            client, heartbeat_interval=lease / 4, lease_timeout=lease, max_concurrency=16
        )
        print("ready", flush=True)
        await worker.run_forever(*FLOWS)


async def _wait_done(client: Client, run_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(run_ids)
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} runs still not completed")
        # The oldest unfinished run first: cheap, and runs complete roughly in order.
        info = await client.workflow.get_run(pending[0])
        if info.status == "completed":
            pending.pop(0)
            continue
        if info.status in ("failed", "cancelled"):
            raise RuntimeError(f"run {info.run_id} ended {info.status}: {info.error}")
        await asyncio.sleep(0.02)


def _stop(processes: list[object]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    for process in processes:
        try:
            process.wait(timeout=10)  # type: ignore[attr-defined]
        except Exception:
            process.kill()  # type: ignore[attr-defined]


async def fanout(url: str, runs: int, steps: int, workers: int) -> dict[str, float]:
    processes = [spawn("ours.py", "worker", url, "30") for _ in range(workers)]
    try:
        for process in processes:
            wait_ready(process)
        async with Client(url) as client:
            start = time.perf_counter()
            ids = [
                (await client.workflow.trigger("bench-fanout", [steps])).run_id for _ in range(runs)
            ]
            await _wait_done(client, ids, timeout=3600)
            elapsed = time.perf_counter() - start
    finally:
        _stop(processes)  # type: ignore[arg-type]
    return {"seconds": elapsed, "per_second": runs / elapsed}


def _marks(directory: Path) -> list[tuple[str, int, float]]:
    path = directory / "marks"
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(name, int(pid), float(at)) for name, pid, at in rows]


async def recovery(url: str, lease: float) -> dict[str, float]:
    directory = Path(os.environ["VRB_BENCH_DIR"])
    processes = [spawn("ours.py", "worker", url, str(lease)) for _ in range(2)]
    try:
        for process in processes:
            wait_ready(process)
        async with Client(url) as client:
            handle = await client.workflow.trigger("bench-recovery")
            while not _marks(directory):
                await asyncio.sleep(0.005)
            victim = next(p for p in processes if p.pid == _marks(directory)[0][1])
            victim.kill()
            killed_at = time.time()
            victim.wait()
            (directory / "killed").touch()
            while len(_marks(directory)) < 2:
                if time.time() - killed_at > 10 * lease + 60:
                    raise TimeoutError("the run was never resumed")
                await asyncio.sleep(0.005)
            resumed_at = _marks(directory)[1][2]
            assert await client.workflow.result(handle.run_id, timeout=60) == 1
    finally:
        _stop([p for p in processes if p.poll() is None])
    return {"seconds": resumed_at - killed_at, "lease": lease}


def main(argv: list[str]) -> None:
    assert runtime_flows.sequential is not None  # registers the workflows
    command, url, *rest = argv
    if command == "worker":
        asyncio.run(serve(url, float(rest[0])))
        return
    if command == "sequential":
        result: dict[str, object] = dict(asyncio.run(sequential(url, int(rest[0]))))
    elif command == "replay-build":
        result = asyncio.run(replay_build(url, int(rest[0])))
    elif command == "replay-resume":
        result = dict(asyncio.run(replay_resume(url, rest[0])))
    elif command == "fanout":
        result = dict(asyncio.run(fanout(url, *(int(x) for x in rest))))  # type: ignore[arg-type]
    elif command == "recovery":
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["VRB_BENCH_DIR"] = tmp
            result = dict(asyncio.run(recovery(url, float(rest[0]))))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print_result(result)


if __name__ == "__main__":
    main(sys.argv[1:])
