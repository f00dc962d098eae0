"""The real ``vrb-compile`` program, driven through a subprocess as users and CI run it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vrb_compile.rules.registry import RULES

STEPS = """\
from runtime import step


@step("charge")
async def charge(amount):
    return amount
"""

CLEAN = """\
from runtime import workflow

from .steps import charge


@workflow("clean-flow")
async def clean_flow(ctx, order):
    paid = await charge(order["total"])
    return {"paid": paid}
"""

CLOCK = """\
import time

from runtime import workflow

from .steps import charge


def stamp():
    return time.time()


@workflow("clock-flow")
async def clock_flow(ctx, order):
    started = stamp()
    await charge(order["total"])
    return {"started": started, "at": time.time()}
"""

LOOP = """\
from runtime import workflow

from .steps import charge


@workflow("loop-flow")
async def loop_flow(ctx, order):
    count = 0
    while count < order["n"]:
        await charge(count)
        count += 1
    return count
"""

SYNTAX = "def broken(:\n    pass\n"

GITHUB_LINE = re.compile(
    r"^::(error|warning) file=[^,:]+,line=\d+,col=\d+,endLine=\d+,endColumn=\d+,"
    r"title=VRB\d{3}::[^\r\n]*$"
)


def vrb(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vrb_compile", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def make_package(root: Path, **modules: str) -> Path:
    package = root / "shop"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(STEPS)
    for name, text in modules.items():
        (package / f"{name}.py").write_text(text)
    return package


def assert_one_error_line(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vrb-compile: error: ")
    assert fragment in lines[0]


def test_clean_package_exits_0_with_the_summary(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLEAN)
    proc = vrb(tmp_path, "check", "shop")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "All checks passed: 3 files, 1 workflow.\n"
    assert proc.stderr == ""


def test_errors_exit_1_with_location_excerpt_chain_and_hint(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK)
    proc = vrb(tmp_path, "check", "shop")
    assert proc.returncode == 1
    out = proc.stdout
    assert "shop/flows.py:9:12: VRB101 " in out  # inside the helper, reached from the body
    assert "  via: clock_flow -> stamp" in out
    assert "shop/flows.py:16:39: VRB101 " in out
    assert "        return time.time()\n               ^^^^^^^^^^^\n" in out
    assert "  hint: " in out
    assert out.endswith("Found 2 errors and 0 warnings in 3 files (1 workflow).\n")


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    make_package(tmp_path, flows=LOOP)
    proc = vrb(tmp_path, "check", "shop")
    assert proc.returncode == 0, proc.stdout
    assert "VRB305 warning: " in proc.stdout
    assert proc.stdout.endswith("Found 0 errors and 1 warning in 3 files (1 workflow).\n")


def test_missing_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLEAN)
    proc = vrb(tmp_path, "check", "shop", "no/such/dir")
    assert_one_error_line(proc, "no/such/dir: no such file or directory")


def test_syntax_error_is_vrb001_and_exit_1(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLEAN, bad=SYNTAX)
    proc = vrb(tmp_path, "check", "shop", "--format", "json")
    assert proc.returncode == 1
    diagnostics = json.loads(proc.stdout)["diagnostics"]
    assert [(d["code"], d["path"], d["line"]) for d in diagnostics] == [
        ("VRB001", "shop/bad.py", 1)
    ]
    assert "Traceback" not in proc.stderr


def test_json_output_matches_the_documented_shape(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK)
    proc = vrb(tmp_path, "check", "shop", "--format", "json")
    assert proc.returncode == 1
    document = json.loads(proc.stdout)
    assert set(document) == {"version", "diagnostics", "summary"}
    assert document["version"] == 1
    assert document["summary"] == {"files": 3, "workflows": 1, "errors": 2, "warnings": 0}
    required = {
        "code": str,
        "severity": str,
        "message": str,
        "path": str,
        "line": int,
        "column": int,
        "end_line": int,
        "end_column": int,
        "workflow": str,
        "hint": str,
    }
    for diagnostic in document["diagnostics"]:
        for key, kind in required.items():
            assert isinstance(diagnostic[key], kind), (key, diagnostic)
        assert diagnostic["severity"] in ("error", "warning")
        assert diagnostic["line"] >= 1
        assert diagnostic["column"] >= 1
        assert (diagnostic["end_line"], diagnostic["end_column"]) > (
            diagnostic["line"],
            diagnostic["column"],
        )
    first = document["diagnostics"][0]
    assert (first["code"], first["path"], first["line"], first["column"]) == (
        "VRB101",
        "shop/flows.py",
        9,
        12,
    )
    assert first["workflow"] == "clock-flow"
    assert first["chain"] == ["clock_flow", "stamp"]


def test_sarif_output_has_what_code_scanning_requires(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK)
    proc = vrb(tmp_path, "check", "shop", "--format", "sarif")
    assert proc.returncode == 1
    document = json.loads(proc.stdout)
    assert document["version"] == "2.1.0"
    assert "sarif-2.1.0" in document["$schema"]
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "vrb-compile"
    assert driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == ["VRB101"]
    rule = driver["rules"][0]
    for key in ("name", "shortDescription", "fullDescription", "help", "defaultConfiguration"):
        assert rule[key], key
    assert rule["properties"]["tags"]
    assert len(run["results"]) == 2
    for result in run["results"]:
        assert result["ruleId"] == "VRB101"
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == "error"
        assert result["message"]["text"]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact == {"uri": "shop/flows.py", "uriBaseId": "%SRCROOT%"}
        region = location["physicalLocation"]["region"]
        assert region["startLine"] >= 1
        assert region["startColumn"] >= 1
        assert result["partialFingerprints"]
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in run["results"]]
    assert regions[0] == {"startLine": 9, "startColumn": 12, "endLine": 9, "endColumn": 23}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"


def test_github_output_is_workflow_commands(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK, loop=LOOP.replace("loop-flow", "loop-flow-2"))
    proc = vrb(tmp_path, "check", "shop", "--format", "github")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert GITHUB_LINE.match(line), line
    assert lines[0].startswith("::error file=shop/flows.py,line=9,col=12,")
    assert lines[2].startswith("::warning file=shop/loop.py,")


def test_select_and_ignore_filter_by_prefix(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK, loop=LOOP.replace("loop-flow", "loop-flow-2"))

    def codes(*flags: str) -> list[str]:
        proc = vrb(tmp_path, "check", "shop", "--format", "json", *flags)
        return [d["code"] for d in json.loads(proc.stdout)["diagnostics"]]

    assert codes() == ["VRB101", "VRB101", "VRB305"]
    assert codes("--select", "VRB3") == ["VRB305"]
    assert codes("--ignore", "vrb101") == ["VRB305"]
    assert codes("--select", "VRB1,VRB3", "--ignore", "VRB305") == ["VRB101", "VRB101"]
    proc = vrb(tmp_path, "check", "shop", "--ignore", "VRB1")
    assert proc.returncode == 0


def test_unknown_code_in_select_is_exit_2(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLEAN)
    proc = vrb(tmp_path, "check", "shop", "--select", "VRB1,BOGUS")
    assert_one_error_line(proc, "unknown rule code or prefix 'BOGUS'")


def test_pyproject_configuration_is_found_and_applied(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK, loop=LOOP.replace("loop-flow", "loop-flow-2"))
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.vrb-compile]\nignore = ["VRB101"]\n'
    )
    proc = vrb(tmp_path, "check", "shop", "--format", "json")
    assert [d["code"] for d in json.loads(proc.stdout)["diagnostics"]] == ["VRB305"]
    assert proc.returncode == 0
    # The command line replaces the file's list; --no-config ignores the file.
    proc = vrb(tmp_path, "check", "shop", "--format", "json", "--ignore", "VRB3")
    assert [d["code"] for d in json.loads(proc.stdout)["diagnostics"]] == ["VRB101", "VRB101"]
    proc = vrb(tmp_path, "check", "shop", "--no-config")
    assert proc.returncode == 1


def test_exclude_is_relative_to_the_config_root_even_from_a_subdirectory(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLEAN, clock=CLOCK)
    (tmp_path / "pyproject.toml").write_text('[tool.vrb-compile]\nexclude = ["shop/clock.py"]\n')
    proc = vrb(tmp_path, "check", "shop")
    assert proc.returncode == 0, proc.stdout
    assert "3 files" in proc.stdout
    proc = vrb(tmp_path / "shop", "check", ".")
    assert proc.returncode == 0, proc.stdout
    assert "3 files" in proc.stdout


def test_explicit_config_file(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK)
    (tmp_path / "strict.toml").write_text('ignore = ["VRB101"]\n')
    proc = vrb(tmp_path, "check", "shop", "--config", "strict.toml")
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("[tool.vrb-compile]\nselect = 'VRB1'\n", "select must be a list of strings"),
        ("[tool.vrb-compile]\nignroe = ['VRB1']\n", "unknown key 'ignroe'"),
        ("[tool.vrb-compile]\nignore = ['VRB7']\n", "unknown rule code or prefix 'VRB7'"),
        ("[tool.vrb-compile\n", "is not valid TOML"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(
    tmp_path: Path, config: str, fragment: str
) -> None:
    make_package(tmp_path, flows=CLEAN)
    (tmp_path / "pyproject.toml").write_text(config)
    proc = vrb(tmp_path, "check", "shop")
    assert_one_error_line(proc, fragment)
    assert "pyproject.toml" in proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("check",), "the following arguments are required: PATH"),
        (("check", "shop", "--format", "xml"), "invalid choice: 'xml'"),
        (("check", "shop", "--jobs", "0"), "expected a positive integer"),
        (("check", "shop", "--config", "a.toml", "--no-config"), "not allowed with argument"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("check", "shop", "--config", "missing.toml"), "no such configuration file"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    make_package(tmp_path, flows=CLEAN)
    assert_one_error_line(vrb(tmp_path, *args), fragment)


def test_no_cache_leaves_no_cache_directory_and_the_cache_gives_the_same_report(
    tmp_path: Path,
) -> None:
    make_package(tmp_path, flows=CLOCK)
    uncached = vrb(tmp_path, "check", "shop", "--no-cache")
    assert not (tmp_path / ".vrb_cache").exists()
    cold = vrb(tmp_path, "check", "shop")
    assert (tmp_path / ".vrb_cache").is_dir()
    warm = vrb(tmp_path, "check", "shop")
    assert uncached.stdout == cold.stdout == warm.stdout
    assert uncached.returncode == cold.returncode == warm.returncode == 1


def test_output_file_receives_the_report(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK)
    proc = vrb(tmp_path, "check", "shop", "--format", "json", "--output", "report.json")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["errors"] == 2


def test_output_is_deterministic_across_runs_and_file_order(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK, loop=LOOP.replace("loop-flow", "loop-flow-2"))
    files = ["shop/loop.py", "shop/flows.py", "shop/steps.py", "shop/__init__.py"]
    for fmt in ("text", "json", "sarif", "github"):
        first = vrb(tmp_path, "check", "--no-cache", "--format", fmt, *files)
        again = vrb(tmp_path, "check", "--no-cache", "--format", fmt, *files)
        reordered = vrb(tmp_path, "check", "--no-cache", "--format", fmt, *reversed(files))
        assert first.stdout == again.stdout == reordered.stdout, fmt
        assert first.returncode == 1


def test_no_colour_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    make_package(tmp_path, flows=CLOCK)
    proc = vrb(tmp_path, "check", "shop", env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in proc.stdout


def test_rules_lists_every_code(tmp_path: Path) -> None:
    proc = vrb(tmp_path, "rules")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(RULES)
    assert lines[0].split()[:3] == ["VRB001", RULES["VRB001"].name, "error"]
    proc = vrb(tmp_path, "rules", "--format", "json")
    rules: list[dict[str, Any]] = json.loads(proc.stdout)
    assert [rule["code"] for rule in rules] == sorted(RULES)
    assert rules[0]["summary"] == RULES[rules[0]["code"]].summary


def test_explain_prints_rationale_and_examples(tmp_path: Path) -> None:
    proc = vrb(tmp_path, "explain", "vrb101")
    assert proc.returncode == 0
    rule = RULES["VRB101"]
    assert proc.stdout.startswith(f"VRB101 {rule.name} (error)\n\n{rule.summary}\n")
    assert "Why:\n" in proc.stdout
    assert "Instead:\n" in proc.stdout
    if rule.bad:
        assert "Rejected:\n" in proc.stdout
    assert "# vrb: ignore[VRB101]" in proc.stdout


def test_explain_unknown_code_is_exit_2_with_the_list_hint(tmp_path: Path) -> None:
    assert_one_error_line(vrb(tmp_path, "explain", "VRB999"), "run 'vrb-compile rules'")


def test_version(tmp_path: Path) -> None:
    proc = vrb(tmp_path, "--version")
    assert proc.returncode == 0
    assert re.fullmatch(r"vrb-compile \d+\.\d+\.\d+\S*\n", proc.stdout)


def test_console_script_runs_the_same_program(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "vrb-compile"
    if not script.exists():
        pytest.skip("the vrb-compile console script is not installed in this environment")
    make_package(tmp_path, flows=CLOCK)
    proc = subprocess.run(
        [str(script), "check", "shop", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == json.loads(
        vrb(tmp_path, "check", "shop", "--format", "json").stdout
    )


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    make_package(tmp_path, flows=CLOCK)

    def through_terminal(env: dict[str, str]) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "vrb_compile", "check", "shop"],
            cwd=tmp_path,
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closes when the program exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=120)
        os.close(leader)
        assert proc.returncode == 1
        return b"".join(chunks).decode()

    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[31mVRB101\x1b[0m" in through_terminal(environment)
    assert "\x1b[" not in through_terminal({**environment, "NO_COLOR": "1"})
