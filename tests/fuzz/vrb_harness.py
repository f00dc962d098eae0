"""Running ``vrb`` in this process for the fuzz, and the properties every run must keep.

:func:`run_vrb` calls :func:`runtime.cli.main` with stdout and stderr captured
and restores what a command may change in the process (the root logger's
handlers, ``sys.path``); :func:`assert_well_behaved` checks the promise of
SPEC.md section 8 for one invocation; :func:`assert_consistent` checks that a
SQLite store the commands used is still whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runtime.cli import main as vrb_main
from runtime.stores import SQLiteStore

__all__ = ["Outcome", "assert_consistent", "assert_well_behaved", "run_vrb"]


@dataclass(frozen=True)
class Outcome:
    """What one ``vrb`` invocation did."""

    argv: list[str]
    status: int
    out: str
    err: str


def run_vrb(argv: list[str]) -> Outcome:
    """``vrb ARGV`` by its ``main`` in this process; never raises (a raise is reported as status -1)."""
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level, path = root.handlers[:], root.level, sys.path[:]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = vrb_main(argv)
            except SystemExit as exit_:  # argparse's --help and --version
                status = exit_.code if isinstance(exit_.code, int) else 2
            except BaseException as error:  # the property reports it
                err.write(f"\nRAISED {type(error).__name__}: {error}")
                status = -1
    finally:
        root.handlers[:], sys.path[:] = handlers, path
        root.setLevel(level)
    return Outcome(argv, status, out.getvalue(), err.getvalue())


def _shown(outcome: Outcome) -> str:
    argv = [arg if len(arg) <= 80 else arg[:60] + f"...({len(arg)} chars)" for arg in outcome.argv]
    return f"vrb {argv!r} -> {outcome.status}; stderr: {outcome.err[:600]!r}"


def assert_well_behaved(outcome: Outcome) -> None:
    """Exit 0, 1 or 2; no traceback; a failure says so in exactly one ``vrb: error:`` line, the last.

    Exit 2 (bad input) is that one line alone. Exit 1 (``trigger --wait`` on a
    run that failed) may follow notes (``run ... already exists``).
    """
    assert outcome.status in (0, 1, 2), _shown(outcome)
    assert "Traceback" not in outcome.err, _shown(outcome)
    assert "internal error" not in outcome.err, _shown(outcome)
    if outcome.status == 0:
        return
    lines = outcome.err.splitlines()
    assert lines, _shown(outcome)
    assert outcome.err.endswith("\n"), _shown(outcome)
    assert lines[-1].startswith("vrb: error: "), _shown(outcome)
    assert sum(line.startswith("vrb: error: ") for line in lines) == 1, _shown(outcome)
    if outcome.status == 2:
        assert len(lines) == 1, _shown(outcome)


_GAPS = """
SELECT r.run_id, count(e.seq), min(e.seq), max(e.seq)
FROM runs AS r LEFT JOIN events AS e ON e.run_id = r.run_id
GROUP BY r.run_id
HAVING count(e.seq) = 0 OR min(e.seq) != 1 OR max(e.seq) != count(e.seq)
"""


def assert_consistent(path: Path, run_ids: Iterable[str]) -> None:
    """Every run of the SQLite store at ``path`` has seqs 1..n; the runs ``run_ids`` read back whole.

    Reading a run's history decodes every event: an event a command wrote that
    the store cannot read back fails here.
    """
    with contextlib.closing(sqlite3.connect(path)) as conn:
        gaps = conn.execute(_GAPS).fetchall()
    assert not gaps, f"runs whose seqs are not 1..n: {gaps[:5]}"

    async def read() -> None:
        store = SQLiteStore(str(path))
        try:
            for run_id in dict.fromkeys(run_ids):
                run = await store.get_run(run_id)
                events = await store.history(run_id)
                assert [event.seq for event in events] == list(range(1, len(events) + 1))
                assert run.last_seq == len(events), (run_id, run.last_seq, len(events))
        finally:
            await store.close()

    asyncio.run(read())
