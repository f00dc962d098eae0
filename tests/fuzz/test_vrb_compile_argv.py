"""Fuzzing the ``vrb-compile`` command line: whatever the argv, exit 0, 1 or 2 with one clear line.

Generated command lines (:func:`tests.fuzz.compile_strategies.compile_argv`)
cover every subcommand (``check``, ``build``, ``graph``, ``rules``,
``explain``, ``sign``) and option with hostile values: lone surrogates, NULs,
control characters, 5,000-character values and numbers, missing and broken
paths (a symlink loop, a FIFO, an unreadable directory or file when the
sandbox allows), broken configurations (5,000 levels deep, binary, unknown
keys), signing key files that are empty, binary or directories. They run in
this process through :func:`vrb_compile.cli.main`, in a scratch directory (the
result cache and every output land there). Each must exit 0, 1 or 2 (130 is
for interrupts, which the fuzz sends none of), print no traceback and no
internal error, and say what went wrong on exit 2 in exactly one
``vrb-compile: error:`` line. A few run as real processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings

from tests.fuzz.compile_harness import (
    assert_compile_well_behaved,
    run_compile,
    run_compile_process,
)
from tests.fuzz.compile_strategies import WORKFLOW_HEAD, compile_argv
from tests.properties import budget

FLOW = WORKFLOW_HEAD + (
    '@workflow("w", max_events=10)\nasync def w(ctx: WorkflowContext, x):\n    return await s(x)\n'
)
# the good ones twice: most command lines get past their paths to the compiler
PATHS = [*["pkg", "pkg/flows.py", "deep", "broken"] * 2, "loop", "loop/l1.py", "fifo.py", "empty"]
CONFIGS = ["good.toml", "pyproject.toml", "deep.toml", "binary.toml", "unknown.toml", "empty"]
KEYS = ["key.txt", "short.txt", "binary.key", "empty", "missing.key"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sources, configurations, keys and a build directory, good and broken."""
    root = tmp_path_factory.mktemp("compile-argv")
    (root / "pkg").mkdir()
    (root / "pkg" / "flows.py").write_text(FLOW, encoding="utf-8")
    (root / "deep").mkdir()
    deep = WORKFLOW_HEAD + "@workflow('d')\nasync def d(ctx, x):\n    y = x" + ".f()" * 5_000
    (root / "deep" / "calls.py").write_text(deep + "\n    return await s(y)\n", encoding="utf-8")
    (root / "broken").mkdir()
    (root / "broken" / "bad.py").write_bytes(b"def (:\n\x00\xff")
    (root / "empty").mkdir()
    (root / "good.toml").write_text('select = ["VRB1"]\nexclude = ["deep/*"]\n', encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[tool.vrb-compile]\nignore = ["VRB109"]\n', encoding="utf-8"
    )
    (root / "deep.toml").write_text(
        "select = " + "[" * 5_000 + "]" * 5_000 + "\n", encoding="utf-8"
    )
    (root / "binary.toml").write_bytes(bytes(range(256)) * 4)
    (root / "unknown.toml").write_text('selct = ["VRB1"]\n', encoding="utf-8")
    (root / "key.txt").write_text("k" * 64, encoding="utf-8")
    (root / "short.txt").write_text("k", encoding="utf-8")
    (root / "binary.key").write_bytes(bytes(range(256)))
    built = run_compile(["build", "pkg", "--out", "built", "--no-config", "--no-cache"], root)
    assert built.status == 0, built
    return root


@contextlib.contextmanager
def _workdir(template: Path) -> Iterator[Path]:
    """A fresh copy of ``template`` with a symlink loop and a FIFO: no example sees another's output."""
    work = Path(tempfile.mkdtemp(dir=template.parent)) / "work"
    shutil.copytree(template, work, symlinks=True)
    (work / "loop").mkdir()
    os.symlink("l2.py", work / "loop" / "l1.py")
    os.symlink("l1.py", work / "loop" / "l2.py")
    os.mkfifo(work / "fifo.py")
    try:
        yield work
    finally:
        shutil.rmtree(work.parent)


@settings(max_examples=budget("fuzz_vrb_compile_argv"))
@given(argv=compile_argv(PATHS, CONFIGS, KEYS))
@example(argv=["check", "deep", "--no-cache"])
@example(argv=["check", "loop", "--no-cache"])
@example(argv=["check", "fifo.py", "--no-cache"])
@example(argv=["check", "pkg", "--config", "deep.toml"])
@example(argv=["check", "pkg", "--config", "binary.toml"])
@example(argv=["check", "pkg", "--select", "\ud800"])
@example(argv=["check", "bad\udcff.py"])
@example(argv=["check", "pkg", "--jobs", "9" * 5_000])
@example(argv=["check", "pkg", "--format", "sarif", "-o", "x" * 5_000])
@example(argv=["build", "pkg", "--out", "/dev/full", "--no-cache"])
@example(argv=["build", "pkg", "--out", "o", "--sign-key-file", "binary.key"])
@example(argv=["graph", "deep", "--format", "dot"])
@example(argv=["sign", "built", "--sign-key-file", "empty"])
@example(argv=["explain", "\x1b[31mVRB101"])
def test_any_vrb_compile_argv_exits_0_1_or_2_with_one_clear_line(
    template: Path, argv: list[str]
) -> None:
    with _workdir(template) as work:
        assert_compile_well_behaved(run_compile(argv, work))


@settings(max_examples=budget("fuzz_vrb_compile_argv_subprocess"))
@given(argv=compile_argv(PATHS, CONFIGS, KEYS))
@example(argv=["check", "deep", "--no-cache", "--no-config"])
def test_any_vrb_compile_argv_exits_0_1_or_2_in_a_real_process(
    template: Path, argv: list[str]
) -> None:
    with _workdir(template) as work:
        assert_compile_well_behaved(run_compile_process(argv, work))
