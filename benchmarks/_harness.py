"""Shared benchmark machinery: interleaved A/B sampling, statistics, databases, subprocesses.

Every sample runs in a fresh interpreter (``python benchmarks/<script> ...``)
that prints one JSON object as its last stdout line, so no state (caches,
DBOS's process-wide singleton, open pools) carries over between samples, and
both systems pay the same kind of start-up. :func:`interleave` runs the
contenders of one comparison round-robin (A, B, C, A, B, C, ...), so a burst of
load on this shared machine hits all of them alike; ratios are computed per
round and then summarised, never from two medians measured at different times.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_URL = os.environ.get("VRB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_SCHEMA_PREFIX = "vrb_bench"
"""Every benchmark schema starts with this, so nothing collides with the tests' schemas."""


@dataclass(frozen=True)
class Stat:
    """Median, min and max of several samples of one figure."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        """Summarise ``values`` (at least one)."""
        if not values:
            raise ValueError("no samples")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def as_dict(self) -> dict[str, float]:
        """JSON form."""
        return {"median": self.median, "min": self.min, "max": self.max, "n": self.n}


def interleave(
    contenders: Mapping[str, Callable[[], float]], rounds: int
) -> dict[str, list[float]]:
    """Sample each contender once per round, round-robin; returns the samples by name."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, sample in contenders.items():
            samples[name].append(sample())
    return samples


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> Stat:
    """Per-round ratios ``numerator[i] / denominator[i]`` (same-round pairs), summarised."""
    return Stat.of([a / b for a, b in zip(numerator, denominator, strict=True) if b > 0])


# --------------------------------------------------------------------------- subprocesses


def python_env() -> dict[str, str]:
    """The environment of every sample process: the repo and benchmarks/ importable."""
    path = os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def run_sample(script: str, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """Run ``benchmarks/<script> args`` in a fresh interpreter; its last stdout line as JSON."""
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=python_env(),
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{script} {' '.join(args)} printed no JSON:\n{proc.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    """Start ``benchmarks/<script> args`` with pipes (a worker process of a sample)."""
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=python_env(),
        cwd=ROOT,
    )


def wait_ready(process: subprocess.Popen[str]) -> None:
    """Block until a spawned process prints its ``ready`` line."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"a benchmark process failed to start (said {line!r})")


def print_result(result: Mapping[str, Any]) -> None:
    """The last line of a sample process: its JSON result."""
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- databases


class Databases:
    """Fresh, private databases per sample: SQLite files in a temp dir, PostgreSQL schemas."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="vrb-bench-"))
        self._count = 0
        self._schemas: list[str] = []

    def fresh(self, kind: str) -> str:
        """A URL-ish locator of an empty database of ``kind`` (``sqlite`` or ``postgres``)."""
        self._count += 1
        if kind == "sqlite":
            return str(self.tmp / f"db{self._count}.sqlite")
        if kind == "postgres":
            schema = f"{PG_SCHEMA_PREFIX}_{os.getpid()}_{self._count}"
            drop_schema(schema)
            self._schemas.append(schema)
            return schema
        raise ValueError(kind)

    def close(self) -> None:
        """Drop every schema and file this made."""
        for schema in self._schemas:
            drop_schema(schema)
        shutil.rmtree(self.tmp, ignore_errors=True)


def drop_schema(schema: str) -> None:
    """Drop a benchmark schema (only ever ``vrb_bench_*``)."""
    if not schema.startswith(PG_SCHEMA_PREFIX):
        raise ValueError(f"refusing to drop {schema!r}: not a benchmark schema")
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def vrb_url(kind: str, where: str) -> str:
    """Our store URL for a database from :meth:`Databases.fresh`."""
    if kind == "sqlite":
        return f"sqlite:///{where}" if where.startswith("/") else f"sqlite:////{where}"
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={where}"


def postgres_available() -> str | None:
    """``None`` when PostgreSQL answers, else why not (one line)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # any failure means: skip the PostgreSQL rows
        return f"PostgreSQL at {PG_URL} is not reachable: {str(error).splitlines()[0]}"
    return None


def dbos_available() -> str | None:
    """``None`` when DBOS Transact is importable, else why not."""
    try:
        import dbos  # noqa: F401
    except ImportError:
        return "DBOS Transact is not installed (pip install 'vrb-workflows[bench]')"
    return None
