"""Running a graph that loaded as the old version a run is pinned to, and judging the outcome.

:func:`run_pinned` creates a run pinned to the graph's hash on a memory store,
sends the signal the integrity flow waits for, and serves it with a worker
whose :class:`~runtime.graphs.GraphLibrary` holds the graph as an old version
(``add(graph, latest=False)``, as a ``versions/`` file is held). It returns what
became of the run, and :func:`internal_fault` says whether that is the engine
failing rather than the workflow's code or the graph's refusal.

A run's error is judged by where its exception was raised: in the workflow's
code (``<vrb eval>``/``<vrb exec>`` or a module under tests/), it is the
workflow's; in ``runtime/`` or ``vrb_compile/`` it is the engine's, unless it is
a :class:`~runtime.errors.VrbError` (a deliberate refusal) or one of the
errors the interpreter raises on the workflow's behalf, as Python would
(:data:`PYTHON_SEMANTICS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import sysconfig
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from runtime import Client, Worker
from runtime.errors import VrbError
from runtime.graphs import GraphLibrary
from runtime.stores.memory import MemoryStore
from runtime.worker_run import RunExecutor
from vrb_compile.ir.models import Graph

__all__ = ["PYTHON_SEMANTICS", "RunOutcome", "internal_fault", "run_pinned"]

ROOT = Path(__file__).resolve().parents[2]
_ENGINE = (str(ROOT / "runtime"), str(ROOT / "vrb_compile"))
_USER = (str(ROOT / "tests"), str(ROOT / "examples"), "<vrb ")
_STDLIB = tuple(
    {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
)
FAST = {"poll_interval": 0.01, "heartbeat_interval": 0.5, "lease_timeout": 5.0, "retry_delay": 60}

PYTHON_SEMANTICS = (
    # Arguments that do not fit the parameters, said as a Python call says it.
    re.compile(r"^(workflow '.*'|helper .*\(\)): "),
    # A bare raise with no exception being handled, and a raise of a non-exception.
    re.compile(r"^No active exception to reraise$"),
    re.compile(r"^exceptions must derive from BaseException$"),
    re.compile(r"^catching classes that do not inherit from BaseException is not allowed$"),
    # The builtins the walk applies to the workflow's values (a for loop's ``iter``,
    # ``*args``/``**kwargs`` of a call, an except clause's ``isinstance``).
    re.compile(r"^'[^']+' object is not (iterable|a mapping)$"),
    re.compile(r"^dictionary update sequence element #\d+ has length \d+; 2 is required$"),
    re.compile(r"^isinstance\(\) arg 2 must be a type, a tuple of types, or a union$"),
)
"""Messages of errors the interpreter raises for the workflow's values, as Python raises them."""


@dataclass
class RunOutcome:
    """What became of one pinned run.

    Attributes:
        status: The run's status at the end (``completed``, ``failed``, ``waiting`` ...).
        outcomes: What the worker said of each claim (``"worker error"`` is an
            exception that escaped the executor).
        errors: The exceptions the run failed with, as raised.
        error: The run's recorded error.
        hung: The worker was still busy when the time ran out.
    """

    status: str
    outcomes: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    error: Any = None
    hung: bool = False


def _origin(error: BaseException) -> tuple[str, int, str]:
    """The file, line and text of the innermost frame of ``error`` outside the stdlib."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if not frame.filename.startswith((*_STDLIB, "<frozen ")):
            return frame.filename, frame.lineno or 0, (frame.line or "").strip()
    return "<unknown>", 0, ""


def internal_fault(outcome: RunOutcome) -> str | None:
    """Why ``outcome`` is the engine failing (a line), or ``None`` for a user-level outcome."""
    if outcome.hung:
        return "the run did not finish: the worker was still busy when the time ran out"
    if "worker error" in outcome.outcomes:
        return f"an exception escaped the worker's executor (outcomes {outcome.outcomes})"
    for error in outcome.errors:
        if isinstance(error, VrbError):
            continue
        filename, line, text = _origin(error)
        if filename.startswith(_USER):
            continue
        message = str(error)
        if text == "raise self._exception(node)":  # the graph's own raise node
            continue
        if any(pattern.search(message) for pattern in PYTHON_SEMANTICS):
            continue
        return f"{type(error).__name__}: {message[:200]} (raised at {filename}:{line})"
    return None


@contextlib.contextmanager
def _captured() -> Iterator[list[BaseException]]:
    """The exceptions runs fail with, as the executor receives them."""
    errors: list[BaseException] = []
    original = RunExecutor._fail

    async def spy(self: RunExecutor, error: BaseException) -> str:
        errors.append(error)
        return await original(self, error)

    with mock.patch.object(RunExecutor, "_fail", spy):
        yield errors


class _Watchdog(Exception):
    """Raised into a walk that spins without ever giving the event loop back."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Interrupt the main thread after ``seconds`` (a walk that never yields ignores timeouts)."""
    usable = sys.platform != "win32" and _is_main_thread()
    if not usable:
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise _Watchdog(f"no progress in {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_pinned(graph: Graph, base: Graph, *, timeout: float = 10.0) -> RunOutcome:
    """Serve one run pinned to ``graph`` (an old version beside ``base``, the newest)."""
    with _captured() as errors:
        try:
            with _alarm(timeout + 5):
                outcome = asyncio.run(_serve(graph, base, timeout))
        except (_Watchdog, TimeoutError):
            return RunOutcome("unfinished", errors=errors, hung=True)
    outcome.errors = errors
    return outcome


async def _serve(graph: Graph, base: Graph, timeout: float) -> RunOutcome:
    store = MemoryStore()
    client = Client(store)
    try:
        record, _ = await store.create_run(
            "fuzz-run", graph.workflow.name, [5], graph_hash=graph.hash
        )
        await client.workflow.send_signal(record.run_id, "integrity-go", "ok")
        library = GraphLibrary()
        library.add(base)
        library.add(graph, latest=False)
        worker = Worker(client, library, **FAST)  # type: ignore[arg-type]
        for _ in range(3):
            await worker.run_until_idle(graph.workflow.name, timeout=timeout)
            run = await client.workflow.get_run(record.run_id)
            if run.status != "waiting" or run.error is not None:
                break
            await asyncio.sleep(0.02)  # a zero-second sleep or retry comes due
        outcomes = [outcome for _, outcome in worker.outcomes]
        return RunOutcome(run.status, outcomes, error=run.error)
    finally:
        await client.close()
