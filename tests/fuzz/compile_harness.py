"""Running ``vrb-compile`` for the fuzz, in this process or in a real one, and its promise.

:func:`run_compile` calls :func:`vrb_compile.cli.main` with stdout and stderr
captured and the working directory set (the result cache and relative paths
land there, never in the repository); :func:`run_compile_process` runs
``python -m vrb_compile`` in a subprocess, where a segfault is an exit status
(-11) instead of the end of pytest. :func:`assert_compile_well_behaved` checks
SPEC.md sections 4 and 8 for one invocation.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vrb_compile.cli import main as compile_main

__all__ = [
    "DEADLINE",
    "CompileOutcome",
    "assert_compile_well_behaved",
    "run_compile",
    "run_compile_process",
]

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 180.0
"""Seconds before a subprocess counts as hung: a safety net for a loaded machine, not a measurement."""


@dataclass(frozen=True)
class CompileOutcome:
    """What one ``vrb-compile`` invocation did."""

    argv: list[str]
    status: int
    out: str
    err: str


def run_compile(argv: Sequence[str], cwd: Path) -> CompileOutcome:
    """``vrb-compile ARGV`` by its ``main``, in ``cwd``; never raises (a raise is status -1)."""
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = compile_main(list(argv))
            except SystemExit as exit_:  # argparse's --help and --version
                status = exit_.code if isinstance(exit_.code, int) else 2
            except BaseException as error:  # the property reports it
                err.write(f"\nRAISED {type(error).__name__}: {error}")
                status = -1
    finally:
        os.chdir(before)
    return CompileOutcome(list(argv), status, out.getvalue(), err.getvalue())


def run_compile_process(argv: Sequence[str], cwd: Path) -> CompileOutcome:
    """``python -m vrb_compile ARGV`` as a real process (a crash is a negative status)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("VRB_COMPILE_DEBUG", None)
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"vrb_compile", *map(_as_argument, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=DEADLINE,
        check=False,
    )
    decode = lambda raw: raw.decode("utf-8", "replace")  # noqa: E731 - two uses, one line
    return CompileOutcome(list(argv), done.returncode, decode(done.stdout), decode(done.stderr))


def _as_argument(text: str) -> bytes:
    """``text`` as a shell would hand it over: bytes, no NUL (argv cannot hold one)."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no terminal sends: its UTF-8 lookalike
        raw = text.encode("utf-8", "surrogatepass")
    return raw.replace(b"\0", b"")


def _shown(outcome: CompileOutcome) -> str:
    argv = [a if len(a) <= 80 else f"{a[:60]}...({len(a)} chars)" for a in outcome.argv]
    return f"vrb-compile {argv!r} -> {outcome.status}; stderr: {outcome.err[:800]!r}"


def assert_compile_well_behaved(outcome: CompileOutcome) -> None:
    """Exit 0, 1 or 2; no traceback, no internal error; exit 2 is one ``vrb-compile: error:`` line.

    Exit 2 says what was wrong in its last line, the only error line; warnings
    (``vrb-compile: warning: ...``, one line each) may come before it. Exit 0
    and 1 may write warnings and, for ``build``/``graph``, the check's report to
    stderr; no line of it is an error line.
    """
    assert outcome.status in (0, 1, 2), _shown(outcome)
    assert "Traceback" not in outcome.err, _shown(outcome)
    assert "internal error" not in outcome.err, _shown(outcome)
    lines = outcome.err.splitlines()
    errors = [line for line in lines if line.startswith("vrb-compile: error: ")]
    if outcome.status == 2:
        assert outcome.err.endswith("\n"), _shown(outcome)
        assert errors == lines[-1:], _shown(outcome)
        assert all(line.startswith("vrb-compile: warning: ") for line in lines[:-1]), _shown(
            outcome
        )
    else:
        assert not errors, _shown(outcome)
