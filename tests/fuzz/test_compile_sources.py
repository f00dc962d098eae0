"""Fuzzing ``vrb-compile`` with hostile sources: whatever the files hold, exit 0, 1 or 2 with one clear line.

Generated packages (:func:`tests.fuzz.compile_strategies.source_trees`) hold
long chains and deep nests at the compiler's limits and far beyond, long
``elif`` and helper chains, BOMs, coding declarations, NULs, stray bytes and
huge lines, under names that are not UTF-8. ``check`` (every format),
``build`` and ``graph`` run on them in this process through
:func:`vrb_compile.cli.main`: never a traceback or an internal error, exit 2
only as one ``vrb-compile: error:`` line. A few run as real processes, where a
crash of LibCST's native parser (a segfault before issue 16) fails the test
instead of killing pytest. The fixed cases that broke it are plain regression
tests in ``tests/test_compile_limits.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.compile_harness import (
    assert_compile_well_behaved,
    run_compile,
    run_compile_process,
)
from tests.fuzz.compile_strategies import source_trees
from tests.properties import budget


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compile-sources")


def _write(root: Path, tree: dict[bytes, bytes]) -> Path:
    """The package ``pkg`` under a fresh directory of ``root``; returns that directory."""
    work = Path(tempfile.mkdtemp(dir=root))
    for name, data in tree.items():
        path = os.path.join(os.fsencode(work / "pkg"), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return work


_COMMANDS = st.sampled_from(
    [
        ["check", "pkg", "--format", "text"],
        ["check", "pkg", "--format", "json"],
        ["check", "pkg", "--format", "sarif"],
        ["check", "pkg", "--format", "github"],
        ["check", "pkg", "-o", "report.txt"],
        ["build", "pkg", "--out", "out"],
        ["graph", "pkg", "--format", "json"],
    ]
)


@settings(max_examples=budget("fuzz_compile_sources"))
@given(tree=source_trees(), command=_COMMANDS)
def test_any_source_tree_exits_0_1_or_2_with_one_clear_line(
    scratch: Path, tree: dict[bytes, bytes], command: list[str]
) -> None:
    work = _write(scratch, tree)
    try:
        outcome = run_compile([*command, "--no-config", "--no-cache"], work)
    finally:
        shutil.rmtree(work)
    assert_compile_well_behaved(outcome)


@settings(max_examples=budget("fuzz_compile_sources_subprocess"))
@given(tree=source_trees(), command=_COMMANDS)
def test_any_source_tree_exits_0_1_or_2_in_a_real_process(
    scratch: Path, tree: dict[bytes, bytes], command: list[str]
) -> None:
    work = _write(scratch, tree)
    try:
        outcome = run_compile_process([*command, "--no-config", "--no-cache"], work)
    finally:
        shutil.rmtree(work)
    assert_compile_well_behaved(outcome)
