"""The benchmark workloads written idiomatically for DBOS Transact (sync steps and workflows).

The same shapes as ``benchmarks/runtime_flows.py``: trivial steps returning
their argument, a sequential loop, a run parked on a message (DBOS's
``recv``, our signal), five-step fan-out runs, and a run whose middle step
blocks until its executor is killed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dbos import DBOS


@DBOS.step()
def noop(i: int) -> int:
    return i


@DBOS.workflow()
def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += noop(i)
    return total


@DBOS.workflow()
def replay(n: int) -> int:
    for i in range(n):
        noop(i)
    DBOS.recv("go", timeout_seconds=3600)
    return n


@DBOS.workflow()
def fanout(n: int) -> int:
    total = 0
    for i in range(n):
        total += noop(i)
    return total


def mark(name: str) -> None:
    """Append ``name pid <wall time>`` to ``$VRB_BENCH_DIR/marks`` (seen across processes)."""
    with (Path(os.environ["VRB_BENCH_DIR"]) / "marks").open("a", encoding="utf-8") as handle:
        handle.write(f"{name} {os.getpid()} {time.time():.6f}\n")


@DBOS.step()
def block(i: int) -> int:
    mark("block")
    while not (Path(os.environ["VRB_BENCH_DIR"]) / "killed").exists():
        time.sleep(0.01)
    return i


@DBOS.workflow()
def recovery() -> int:
    a = noop(1)
    b = block(a)
    return noop(b)
