"""One sample of a workload on DBOS Transact, in a fresh interpreter; prints one JSON line.

    python benchmarks/peers/dbos_bench.py sequential KIND WHERE STEPS
    python benchmarks/peers/dbos_bench.py replay-build KIND WHERE STEPS   # dies with the run parked
    python benchmarks/peers/dbos_bench.py replay-resume KIND WHERE RUN_ID
    python benchmarks/peers/dbos_bench.py fanout KIND WHERE RUNS STEPS WORKERS
    python benchmarks/peers/dbos_bench.py recovery KIND WHERE LEASE
    python benchmarks/peers/dbos_bench.py worker KIND WHERE EXECUTOR_ID   # (fanout/recovery)

``KIND``/``WHERE`` as in ``floors.py``: a SQLite file, or a PostgreSQL schema
(DBOS's ``dbos_system_schema``) in ``VRB_TEST_POSTGRES_URL``. Queues poll every
0.05 s, as our workers do.

Recovery, fairly: open-source DBOS has no lease. A crashed executor's PENDING
workflows are recovered when that executor restarts with the same executor id,
or when something (DBOS Conductor, after its executor timeout) tells a live
executor to recover them. We model the latter with a perfect failure detector
that fires exactly ``LEASE`` seconds after the kill (the time our lease needs to
lapse) and makes the standby executor call ``DBOS._recover_pending_workflows``,
which is what Conductor's signal does. The detector never fires early, so DBOS
gets the lease's delay and nothing more.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dbos_flows
from _harness import PG_URL, print_result, spawn, wait_ready
from dbos import DBOS, DBOSClient, DBOSConfig

POLL = 0.05


def system_url(kind: str, where: str) -> str:
    return f"sqlite:///{where}" if kind == "sqlite" else PG_URL


def launch(kind: str, where: str, executor_id: str = "local") -> None:
    config: DBOSConfig = {
        "name": "vrb-bench",
        "system_database_url": system_url(kind, where),
        "executor_id": executor_id,
        "log_level": "WARNING",
        "application_version": "bench",
    }
    if kind == "postgres":
        config["dbos_system_schema"] = where
    DBOS(config=config)
    DBOS.launch()
    DBOS.register_queue("bench", worker_concurrency=16, polling_interval_sec=POLL)


def client(kind: str, where: str) -> DBOSClient:
    if kind == "postgres":
        return DBOSClient(system_database_url=PG_URL, dbos_system_schema=where)
    return DBOSClient(system_database_url=system_url(kind, where))


def sequential(kind: str, where: str, steps: int) -> dict[str, float]:
    launch(kind, where)
    start = time.perf_counter()
    result = dbos_flows.sequential(steps)
    elapsed = time.perf_counter() - start
    assert result == steps * (steps - 1) // 2
    DBOS.destroy()
    return {"seconds": elapsed, "per_step": elapsed / steps}


def replay_build(kind: str, where: str, steps: int) -> None:
    launch(kind, where, "replayer")
    handle = DBOS.start_workflow(dbos_flows.replay, steps)
    run_id = handle.get_workflow_id()
    while len(DBOS.list_workflow_steps(run_id)) < steps:
        time.sleep(0.05)
    time.sleep(0.2)  # let recv record itself
    print_result({"run_id": run_id, "events": len(DBOS.list_workflow_steps(run_id))})
    os._exit(0)  # die with the run PENDING, as a crash would


def replay_resume(kind: str, where: str, run_id: str) -> dict[str, float]:
    sender = client(kind, where)
    sender.send(run_id, None, "go")
    sender.destroy()
    start = time.perf_counter()
    launch(kind, where, "replayer")  # recovers this executor's PENDING runs, as documented
    result = DBOS.retrieve_workflow(run_id).get_result()
    elapsed = time.perf_counter() - start
    assert result is not None
    DBOS.destroy()
    return {"seconds": elapsed}


def serve(kind: str, where: str, executor_id: str) -> None:
    launch(kind, where, executor_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.is_set():
        line = sys.stdin.readline()
        if not line:
            break
        if line.startswith("recover "):
            DBOS._recover_pending_workflows(line.split()[1:])
    DBOS.destroy(workflow_completion_timeout_sec=0)


def _status(sender: DBOSClient, run_id: str) -> str:
    return str(sender.retrieve_workflow(run_id).get_status().status)


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.stdin.close()
    for process in processes:
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()


def fanout(kind: str, where: str, runs: int, steps: int, workers: int) -> dict[str, float]:
    launch(kind, where, "driver-setup")  # migrate the system database before the workers race
    DBOS.destroy()
    processes = [
        spawn("peers/dbos_bench.py", "worker", kind, where, f"w{i}") for i in range(workers)
    ]
    try:
        for process in processes:
            wait_ready(process)
        sender = client(kind, where)
        start = time.perf_counter()
        ids = [
            sender.enqueue(
                {"queue_name": "bench", "workflow_name": "fanout", "app_version": "bench"}, steps
            ).get_workflow_id()
            for _ in range(runs)
        ]
        pending = list(ids)
        while pending:
            status = _status(sender, pending[0])
            if status == "SUCCESS":
                pending.pop(0)
                continue
            if status in ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
                raise RuntimeError(f"run {pending[0]} ended {status}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        sender.destroy()
    finally:
        _stop(processes)
    return {"seconds": elapsed, "per_second": runs / elapsed}


def _marks(directory: Path) -> list[tuple[str, int, float]]:
    path = directory / "marks"
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(name, int(pid), float(at)) for name, pid, at in rows]


def recovery(kind: str, where: str, lease: float) -> dict[str, float]:
    directory = Path(os.environ["VRB_BENCH_DIR"])
    launch(kind, where, "driver-setup")
    DBOS.destroy()
    processes = [spawn("peers/dbos_bench.py", "worker", kind, where, name) for name in "ab"]
    try:
        for process in processes:
            wait_ready(process)
        sender = client(kind, where)
        run_id = sender.enqueue(
            {"queue_name": "bench", "workflow_name": "recovery", "app_version": "bench"}
        ).get_workflow_id()
        while not _marks(directory):
            time.sleep(0.005)
        victim_index = next(i for i, p in enumerate(processes) if p.pid == _marks(directory)[0][1])
        victim, standby = processes[victim_index], processes[1 - victim_index]
        victim.kill()
        killed_at = time.time()
        victim.wait()
        (directory / "killed").touch()
        time.sleep(max(0.0, killed_at + lease - time.time()))  # the failure detector
        standby.stdin.write(f"recover {'ab'[victim_index]}\n")
        standby.stdin.flush()
        while len(_marks(directory)) < 2:
            if time.time() - killed_at > 10 * lease + 60:
                raise TimeoutError("the run was never resumed")
            time.sleep(0.005)
        resumed_at = _marks(directory)[1][2]
        deadline = time.time() + 60
        while _status(sender, run_id) != "SUCCESS":
            if time.time() > deadline:
                raise TimeoutError("the recovered run did not complete")
            time.sleep(0.02)
        sender.destroy()
    finally:
        _stop(processes)
    return {"seconds": resumed_at - killed_at, "lease": lease}


def main(argv: list[str]) -> None:
    command, kind, where, *rest = argv
    if command == "worker":
        serve(kind, where, rest[0])
        return
    if command == "sequential":
        result: dict[str, Any] = sequential(kind, where, int(rest[0]))
    elif command == "replay-build":
        replay_build(kind, where, int(rest[0]))
        return
    elif command == "replay-resume":
        result = replay_resume(kind, where, rest[0])
    elif command == "fanout":
        result = fanout(kind, where, *(int(x) for x in rest))  # type: ignore[call-arg]
    elif command == "recovery":
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["VRB_BENCH_DIR"] = tmp
            result = recovery(kind, where, float(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print_result(result)


if __name__ == "__main__":
    main(sys.argv[1:])
