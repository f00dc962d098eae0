"""The compiler's bounds (issue 16): deep or long sources are a VRB001, bad paths one exit-2 line.

The cases that crashed or hung ``vrb-compile`` before run it as a real process
(a segfault of LibCST's native parser must fail the test, not kill pytest),
asserting the exit status and the one line that says what is wrong, never a
duration. The limits themselves (:mod:`vrb_compile.limits`) are checked in
this process.
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fuzz.compile_harness import (
    assert_compile_well_behaved,
    run_compile,
    run_compile_process,
)
from tests.fuzz.compile_strategies import SHAPES, WORKFLOW_HEAD
from vrb_compile.api import CheckConfig, check_paths
from vrb_compile.limits import LIMIT_HINT, MAX_DEPTH, MAX_HELPER_DEPTH, MAX_SOURCE_BYTES, deepest
from vrb_compile.source import SourceFile
from vrb_compile.summary import summarise

TOO_DEEP = "syntax error: the source is nested too deeply for the compiler"
LIMIT = f"(the limit is {MAX_DEPTH} levels)"


def _body(expression: str) -> str:
    return WORKFLOW_HEAD + (
        '@workflow("w", max_events=10)\nasync def w(ctx: WorkflowContext, x):\n'
        f"    y = {expression}\n    return await s(y)\n"
    )


def _helpers(n: int, *, asynchronous: bool) -> str:
    defs, call = ("async def", "await ") if asynchronous else ("def", "")
    chain = "".join(f"{defs} h{i}(v):\n    return {call}h{i + 1}(v)\n\n\n" for i in range(n))
    last = f"{defs} h{n}(v):\n    return {'await s(v)' if asynchronous else 'v'}\n\n\n"
    body = "    return await h0(x)\n" if asynchronous else "    return await s(h0(x))\n"
    flow = '@workflow("w", max_events=10)\nasync def w(ctx: WorkflowContext, x):\n' + body
    return WORKFLOW_HEAD + chain + last + flow


# -- sources that crashed, hung or raised before: a real process each ---------------

SOURCES: dict[str, tuple[Callable[[], str], str]] = {
    "5,000 chained calls": (lambda: _body("x" + ".f()" * 5_000), TOO_DEEP),
    "20,000 chained attributes": (lambda: _body("x" + ".a" * 20_000), TOO_DEEP),
    "a 100,000-term sum": (lambda: _body(" + ".join(["x"] * 100_000)), TOO_DEEP),
    "5,000 nested brackets": (lambda: _body("(" * 5_000 + "x" + ")" * 5_000), "too many nested"),
    "190 nested lists": (lambda: _body("[" * 190 + "x" + "]" * 190), TOO_DEEP),
    "2,000 adjacent strings": (lambda: _body(" ".join(["'a'"] * 2_000)), TOO_DEEP),
    "3,000 elifs": (
        lambda: (
            WORKFLOW_HEAD
            + '@workflow("w", max_events=10)\nasync def w(ctx: WorkflowContext, x):\n'
            + "    if x == 0:\n        x = 1\n"
            + "".join(f"    elif x == {i}:\n        x = {i}\n" for i in range(1, 3_000))
            + "    return await s(x)\n"
        ),
        TOO_DEEP,
    ),
    "2,000 chained helpers": (
        lambda: _helpers(2_000, asynchronous=False),
        f"the compiler follows at most {MAX_HELPER_DEPTH}",
    ),
    "2,000 chained async helpers": (
        lambda: _helpers(2_000, asynchronous=True),
        f"the compiler follows at most {MAX_HELPER_DEPTH}",
    ),
    "a 5 MB file": (
        lambda: _body("'" + "a" * (MAX_SOURCE_BYTES + 10) + "'"),
        f"syntax error: the file is too long for the compiler: more than {MAX_SOURCE_BYTES:,} bytes",
    ),
}


BUILT = ("5,000 chained calls", "2,000 adjacent strings", "2,000 chained async helpers")


@pytest.mark.parametrize(
    ("case", "command"),
    [*((case, "check") for case in sorted(SOURCES)), *((case, "build") for case in BUILT)],
)
def test_a_pathological_source_is_one_diagnostic_not_a_crash(
    tmp_path: Path, case: str, command: str
) -> None:
    make, expected = SOURCES[case]
    (tmp_path / "flows.py").write_text(make(), encoding="utf-8")
    argv = [command, "flows.py", "--no-config", "--no-cache"]
    outcome = run_compile_process([*argv, "--out", "out"] if command == "build" else argv, tmp_path)
    assert outcome.status == 1, outcome
    report = outcome.out if command == "check" else outcome.err
    found = [line for line in report.splitlines() if line.startswith("flows.py:")]
    assert len(found) == 1, report[:2_000]
    assert expected in found[0]
    assert not (tmp_path / "out").exists()  # build wrote nothing


# -- paths and configuration ----------------------------------------------------------


def _no_permissions() -> list[str] | None:
    """How to run a process that file permissions apply to, or ``None`` when none can be."""
    if os.geteuid() != 0:
        return []
    capsh = shutil.which("capsh")
    if capsh is None:
        return None
    return [capsh, "--drop=cap_dac_override,cap_dac_read_search", "--"]


def _run_unprivileged(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    prefix = _no_permissions()
    if prefix is None:
        pytest.skip("running as root without capsh: permissions cannot be denied")
    command = [sys.executable, "-m", "vrb_compile", *argv]
    if prefix:
        command = [*prefix, "-c", " ".join(_quote(part) for part in command)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def _package(root: Path) -> Path:
    package = root / "pkg"
    package.mkdir()
    (package / "flows.py").write_text(_body("x"), encoding="utf-8")
    return package


@pytest.mark.parametrize(
    ("what", "reason"), [("directory", "Permission denied"), ("file", "Permission denied")]
)
def test_an_unreadable_path_below_a_package_is_an_error_naming_it(
    tmp_path: Path, what: str, reason: str
) -> None:
    package = _package(tmp_path)
    if what == "directory":
        locked = package / "locked"
        locked.mkdir()
        (locked / "hidden.py").write_text("import time\n", encoding="utf-8")
    else:
        locked = package / "locked.py"
        locked.write_text("x = 1\n", encoding="utf-8")
    locked.chmod(0)
    try:
        done = _run_unprivileged(["check", "pkg", "--no-config", "--no-cache"], tmp_path)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert done.returncode == 2, done
    name = "pkg/locked" if what == "directory" else "pkg/locked.py"
    assert done.stderr == f"vrb-compile: error: {name}: cannot be read: {reason}\n"
    assert done.stdout == ""


def test_an_unreadable_directory_that_is_excluded_is_not_read(tmp_path: Path) -> None:
    package = _package(tmp_path)
    (package / "data").mkdir()
    (package / "data").chmod(0)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.vrb-compile]\nexclude = ["data"]\n', encoding="utf-8"
    )
    try:
        done = _run_unprivileged(["check", "pkg", "--no-cache"], tmp_path)
    finally:
        (package / "data").chmod(stat.S_IRWXU)
    assert done.returncode == 0, done
    assert done.stdout == "All checks passed: 1 file, 1 workflow.\n"


def _symlink_loop(package: Path) -> None:
    os.symlink("b.py", package / "a.py")
    os.symlink("a.py", package / "b.py")


BAD_PATHS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "a symlink loop": (_symlink_loop, "pkg/a.py", "Too many levels of symbolic links"),
    "a dangling symlink": (
        lambda package: os.symlink("gone.py", package / "d.py"),
        "pkg/d.py",
        "it is a symlink to a path that does not exist",
    ),
    "a FIFO": (lambda package: os.mkfifo(package / "f.py"), "pkg/f.py", "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(BAD_PATHS))
def test_a_python_file_that_cannot_be_read_is_one_exit_2_line(tmp_path: Path, case: str) -> None:
    make, name, reason = BAD_PATHS[case]
    make(_package(tmp_path))
    outcome = run_compile_process(["check", "pkg", "--no-config", "--no-cache"], tmp_path)
    assert outcome.status == 2, outcome
    assert outcome.err == f"vrb-compile: error: {name}: cannot be read: {reason}\n"
    given = run_compile(["check", name, "--no-config", "--no-cache"], tmp_path)
    assert given.status == 2, given
    assert given.err.startswith(f"vrb-compile: error: {name}: cannot be read: ")


CONFIGS: dict[str, tuple[bytes, str]] = {
    "5,000 levels deep": (
        b"[tool.vrb-compile]\nselect = " + b"[" * 5_000 + b"]" * 5_000 + b"\n",
        "cannot be read: its arrays or tables are nested too deeply",
    ),
    "binary": (
        bytes(range(256)) * 16,
        "is not valid TOML: line 2 is not UTF-8 (invalid start byte)",
    ),
    "latin-1": (b'[tool.vrb-compile]\n# caf\xe9\nselect = ["VRB1"]\n', "is not valid TOML: line 2"),
    "over 1 MB": (b"# " + b"x" * (1024 * 1024) + b"\n", "is longer than 1,048,576 bytes"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_broken_pyproject_is_one_exit_2_line(tmp_path: Path, case: str) -> None:
    data, expected = CONFIGS[case]
    _package(tmp_path)
    (tmp_path / "pyproject.toml").write_bytes(data)
    outcome = run_compile_process(["check", "pkg", "--no-cache"], tmp_path)
    assert outcome.status == 2, outcome
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome
    assert lines[0].startswith("vrb-compile: error: ")
    assert f"pyproject.toml: {expected}" in lines[0]


def test_importing_the_compiler_leaves_the_recursion_limit_alone() -> None:
    code = (
        "import sys; before = sys.getrecursionlimit(); "
        "import vrb_compile.api, vrb_compile.build, vrb_compile.cli, vrb_compile.analysis.engine; "
        "print(before, sys.getrecursionlimit())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=True
    )
    before, after = done.stdout.split()
    assert before == after


# -- the limits, in this process ------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_source_just_within_the_depth_limit_is_checked_and_one_beyond_is_vrb001(
    tmp_path: Path, shape: str
) -> None:
    make = SHAPES[shape]

    def depth(n: int) -> int:
        try:
            return deepest(ast.parse(_body(make(n))))[0]
        except (SyntaxError, RecursionError, MemoryError):  # Python's own limits come first
            return MAX_DEPTH + 10**6

    if depth(5_000) <= MAX_DEPTH:
        pytest.skip(f"{shape} stays flat by this measure (the stack guard covers LibCST)")
    within = 1
    while depth(within + 1) <= MAX_DEPTH:
        within += 1
    line = _body("x").splitlines().index("    y = x") + 1
    for n, refused in ((within, False), (within + 1, True)):
        (tmp_path / "flows.py").write_text(_body(make(n)), encoding="utf-8")
        result = check_paths([tmp_path / "flows.py"], CheckConfig(jobs=1), cwd=tmp_path)
        deep = [d for d in result.diagnostics if d.code == "VRB001"]
        if not refused:
            assert deep == [], (n, deep)
            continue
        if depth(n) > MAX_DEPTH + 10**5:
            continue  # refused by Python's parser: its own message
        assert len(deep) == 1, (n, result.diagnostics)
        assert deep[0].message == (
            f"{TOO_DEEP}: {depth(n):,} levels of operators, calls, attributes, brackets or "
            f"blocks inside one another {LIMIT}"
        )
        assert deep[0].hint == LIMIT_HINT
        assert deep[0].line == line


def test_real_code_is_far_within_the_depth_limit() -> None:
    root = Path(__file__).resolve().parents[1]
    files = [
        *sorted((root / "vrb_compile").rglob("*.py")),
        *sorted((root / "runtime").rglob("*.py")),
    ]
    depths = [deepest(ast.parse(path.read_bytes()))[0] for path in files]
    assert max(depths) * 2 < MAX_DEPTH


def test_a_helper_chain_is_followed_to_its_limit_and_refused_beyond(tmp_path: Path) -> None:
    for n, refused in ((MAX_HELPER_DEPTH - 1, False), (MAX_HELPER_DEPTH, True)):
        (tmp_path / "flows.py").write_text(_helpers(n, asynchronous=True), encoding="utf-8")
        result = check_paths([tmp_path / "flows.py"], CheckConfig(jobs=1), cwd=tmp_path)
        found = [d for d in result.diagnostics if d.code == "VRB111"]
        assert bool(found) is refused, (n, result.diagnostics)
        if refused:
            assert found[0].message == (
                f"h{MAX_HELPER_DEPTH}() would be helper {MAX_HELPER_DEPTH + 1} of a chain of "
                f"calls from the workflow body; the compiler follows at most {MAX_HELPER_DEPTH}, "
                "so it cannot prove the chain deterministic"
            )


def test_an_unlistable_directory_is_an_error_whoever_runs_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path)
    (package / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if os.fspath(path).endswith("locked"):  # type: ignore[call-overload]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[call-overload]
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    outcome = run_compile(["check", "pkg", "--no-config", "--no-cache"], tmp_path)
    assert outcome.status == 2
    assert outcome.err == "vrb-compile: error: pkg/locked: cannot be read: Permission denied\n"


def test_a_summarised_source_does_not_keep_its_ast_tree(tmp_path: Path) -> None:
    path = tmp_path / "flows.py"
    path.write_text(_body("x"), encoding="utf-8")
    source = SourceFile.from_path(path, cwd=tmp_path)
    summary = summarise(source)
    assert [w.name for w in summary.workflows] == ["w"]
    assert source._ast is None
    assert summarise(source) is summary  # built once per file
    assert source.ast_tree is not None  # parsed again when asked for


@pytest.mark.parametrize("value", ["a\x00b", "\ud800"], ids=["NUL", "lone surrogate"])
@pytest.mark.parametrize(
    "argv",
    [
        ["check", "{}"],
        ["check", "pkg", "--config", "{}"],
        ["check", "pkg", "-o", "{}"],
        ["build", "pkg", "--out", "{}"],
        ["build", "pkg", "--out", "o", "--sign-key-file", "{}"],
        ["sign", "{}"],
    ],
)
def test_a_path_no_file_system_can_hold_is_refused_at_the_door(
    tmp_path: Path, argv: list[str], value: str
) -> None:
    _package(tmp_path)
    outcome = run_compile([part.replace("{}", value) for part in argv], tmp_path)
    assert_compile_well_behaved(outcome)
    assert outcome.status == 2
    assert "is not a path: it holds a" in outcome.err
