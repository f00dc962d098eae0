"""Text made inert (vrb_compile.terminal), and ``vrb-compile`` printing hostile paths, names and source.

A workflow module whose directory and file names, workflow names and source
lines hold ESC sequences, the C1 CSI, a carriage return and the bidi override
and isolate (Trojan Source) is checked in every format: text and GitHub lines
hold none of those characters raw (each shows as its escape, and the caret
still points at the span); JSON and SARIF are valid, inert, and give back the
path and names exactly; ``build`` refuses the name in one inert line, and
``graph`` draws it inert.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.properties import budget
from vrb_compile.diagnostics import Diagnostic, Severity
from vrb_compile.report import render_github, render_text
from vrb_compile.terminal import inert, inert_json, is_inert

REPO = Path(__file__).resolve().parents[1]
DEADLINE = 120.0  # seconds before a process is declared hung (a safety net, not a measurement)

HOSTILE = "\x1b[31mRED\x9b2J\rCR\x07\u202eRTL\u2066"
DIRECTORY = "pkg\x1b[1m\u202e"
FILE = "flows\x1b[31m\r\u2066.py"
WORKFLOW = "wf-" + HOSTILE
# The name as Python source spells it (the file stays free of raw ESC there).
WORKFLOW_SOURCE = "wf-\\x1b[31mRED\\x9b2J\\rCR\\x07\\u202eRTL\\u2066"
SOURCE = f'''import time

from runtime import workflow


@workflow("{WORKFLOW_SOURCE}")
async def flow(ctx):
    stamp = "\u202e\u2066\x1b[2K" and time.time()  # \u202e raw bidi, ESC, BEL\x07 here
    return stamp


@workflow("{WORKFLOW_SOURCE}")
async def again(ctx):
    return 1
'''
"""Two workflows of one hostile name (VRB302 quotes it), and a clock read behind raw bidi characters."""


def raw_controls(text: str) -> list[str]:
    """The characters of ``text`` that act on a terminal or hide text (line breaks aside)."""
    return [
        char
        for char in text
        if char != "\n" and unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")
    ]


# --------------------------------------------------------------------------- inert, inert_json


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("é ✓ 日本 ⟨step⟩", "é ✓ 日本 ⟨step⟩"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x9b2J", "\\x9b2J"),
        ("a\rb\x08c\x07\x7f", "a\\rb\\x08c\\x07\\x7f"),
        ("left\u202eright\u2066\u2069", "left\\u202eright\\u2066\\u2069"),
        ("zero\u200bwidth\ufeff\u00ad", "zero\\u200bwidth\\ufeff\\xad"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("lone\ud800", "lone\\ud800"),
        ("filler\u3164", "filler\\u3164"),
        ("a\nb\tc", "a\\nb\\tc"),
    ],
)
def test_inert_shows_each_control_and_hiding_character_as_its_escape(text: str, shown: str) -> None:
    assert inert(text) == shown


def test_inert_keeps_what_it_is_told_to_keep() -> None:
    assert inert("a\nb\tc\rd", keep="\n\t") == "a\nb\tc\\rd"


@settings(max_examples=budget("inert_text"))
@given(st.text(), st.sampled_from(["", "\n", "\n\t"]))
def test_inert_leaves_nothing_that_acts_and_is_a_fixed_point(text: str, keep: str) -> None:
    shown = inert(text, keep=keep)
    assert not [char for char in raw_controls(shown) if char not in keep]
    assert inert(shown, keep=keep) == shown
    assert is_inert(shown, keep=keep)


@settings(max_examples=budget("inert_text"))
@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_inert_json_means_the_same_document_and_holds_no_raw_control(value: object) -> None:
    for indent in (None, 2):
        text = inert_json(json.dumps(value, ensure_ascii=False, indent=indent))
        assert json.loads(text) == value
        assert not raw_controls(text)


def test_inert_json_escapes_what_json_dumps_leaves_raw() -> None:
    raw = json.dumps({"k": "\x7f\x9b\u202e\U000e0041"}, ensure_ascii=False)
    assert inert_json(raw) == '{"k": "\\u007f\\u009b\\u202e\\udb40\\udc41"}'


# --------------------------------------------------------------------------- renderers


def _diagnostic(**fields: object) -> Diagnostic:
    base: dict[str, object] = {
        "code": "VRB101",
        "severity": Severity.ERROR,
        "message": "m",
        "path": "a.py",
        "line": 1,
        "column": 1,
        "end_line": 1,
        "end_column": 2,
        "workflow": None,
        "hint": "",
    }
    base.update(fields)
    return Diagnostic(**base)  # type: ignore[arg-type]


def test_the_caret_points_at_the_span_behind_escaped_characters() -> None:
    line = 'x = "\x1b\u202e" and time.time()'
    column = line.index("time.time()") + 1
    found = _diagnostic(line=1, column=column, end_line=1, end_column=column + len("time.time()"))
    text = render_text([found], files=1, workflows=0, sources={"a.py": line + "\n"})
    shown, caret = text.splitlines()[1:3]
    assert shown == '    x = "\\x1b\\u202e" and time.time()'
    assert caret.index("^") == shown.index("time.time()")
    assert caret.count("^") == len("time.time()")


def test_colour_codes_are_the_renderer_s_own_and_the_data_s_are_escaped() -> None:
    found = _diagnostic(path=DIRECTORY + "/a.py", message="bad " + HOSTILE, hint=HOSTILE)
    text = render_text([found], files=1, workflows=0, color=True)
    assert "\x1b[31mVRB101" in text  # the code in red: the renderer's colour
    assert "\x1b[31mRED" not in text
    assert "\\x1b[31mRED" in text
    assert not [char for char in raw_controls(text) if char != "\x1b"]


_GITHUB = re.compile(r"^::(error|warning) ((?:[A-Za-z]+=[^,:]*,?)+)::(.*)$")


def _github_decode(text: str, *, prop: bool) -> str:
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


@settings(max_examples=budget("inert_text"))
@given(st.text(), st.text(min_size=1), st.text())
def test_a_github_annotation_is_one_line_that_decodes_to_the_inert_text(
    message: str, path: str, hint: str
) -> None:
    found = _diagnostic(message=message, path=path, hint=hint, chain=("flow", "helper"))
    line = render_github([found])
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert not raw_controls(line[:-1])
    match = _GITHUB.match(line[:-1])
    assert match is not None, line
    properties = dict(item.split("=", 1) for item in match.group(2).split(","))
    assert _github_decode(properties["file"], prop=True) == inert(path)
    data = _github_decode(match.group(3), prop=False)
    expected = inert(message, keep="\n") + "\nvia: flow -> helper"
    if hint:
        expected += "\nhint: " + inert(hint, keep="\n")
    assert data == expected


# --------------------------------------------------------------------------- vrb-compile


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``pkg<ESC>[1m<RLO>/flows<ESC>[31m<CR><LRI>.py``."""
    root = tmp_path_factory.mktemp("hostile")
    (root / DIRECTORY).mkdir()
    (root / DIRECTORY / FILE).write_text(SOURCE, encoding="utf-8")
    return root


def _compile(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "vrb_compile", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def _check(root: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    done = _compile(root, "check", ".", "--no-config", "--no-cache", "--format", fmt)
    assert done.returncode == 1, done.stderr
    assert not raw_controls(done.stdout), done.stdout
    assert not raw_controls(done.stderr), done.stderr
    return done


def test_check_text_shows_path_name_and_source_line_as_escapes(hostile_tree: Path) -> None:
    lines = _check(hostile_tree, "text").stdout.splitlines()
    path = "pkg\\x1b[1m\\u202e/flows\\x1b[31m\\r\\u2066.py"
    assert lines[0].startswith(f"{path}:8:")
    assert "VRB101" in lines[0]
    assert (
        lines[1]
        == '        stamp = "\\u202e\\u2066\\x1b[2K" and time.time()  # \\u202e raw bidi, ESC, BEL\\x07 here'
    )
    assert lines[2].index("^") == lines[1].index("time.time()")
    duplicate = next(line for line in lines if "VRB302" in line)
    assert "\\x1b[31mRED\\x9b2J\\rCR\\x07\\u202eRTL\\u2066" in duplicate


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_check_json_and_sarif_are_inert_and_give_the_names_back(
    hostile_tree: Path, fmt: str
) -> None:
    document = json.loads(_check(hostile_tree, fmt).stdout)
    path = f"{DIRECTORY}/{FILE}"
    if fmt == "json":
        assert {d["path"] for d in document["diagnostics"]} == {path}
        assert {d["workflow"] for d in document["diagnostics"]} == {WORKFLOW}
        return
    results = document["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert {unquote(uri) for uri in uris} == {path}
    assert {r["properties"]["workflow"] for r in results} == {WORKFLOW}


def test_check_github_annotations_are_one_inert_line_each(hostile_tree: Path) -> None:
    lines = _check(hostile_tree, "github").stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert _GITHUB.match(line), line
        assert "file=pkg\\x1b[1m\\u202e/flows\\x1b[31m\\r\\u2066.py," in line


def test_build_refuses_the_hostile_name_in_one_inert_line(
    hostile_tree: Path, tmp_path: Path
) -> None:
    # A tree of its own: the module fixture's duplicate name would stop the build first.
    # A plain file name: a hostile one is refused earlier, as no module name (next test).
    (tmp_path / "flows.py").write_text(SOURCE.split("\n\n\n@workflow", 2)[0] + "\n" + _ONE_FLOW)
    done = _compile(tmp_path, "build", "flows.py", "--out", "out", "--no-config", "--no-cache")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert not raw_controls(done.stdout + done.stderr)
    assert done.stderr.count("\n") == 1
    assert "cannot be used as a file name" in done.stderr


def test_build_refuses_a_hostile_file_name_as_no_module_name_in_one_inert_line(
    hostile_tree: Path, tmp_path: Path
) -> None:
    (tmp_path / FILE).write_text(SOURCE.split("\n\n\n@workflow", 2)[0] + "\n" + _ONE_FLOW)
    done = _compile(tmp_path, "build", FILE, "--out", "out", "--no-config", "--no-cache")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert not raw_controls(done.stdout + done.stderr)
    assert done.stderr.count("\n") == 1
    assert "is not a dotted Python name" in done.stderr


_ONE_FLOW = f'''

@workflow("{WORKFLOW_SOURCE}")
async def flow(ctx):
    return 1
'''


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json"])
def test_graph_draws_the_hostile_name_inert(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "flows.py").write_text(
        "from runtime import workflow\n" + _ONE_FLOW, encoding="utf-8"
    )
    done = _compile(tmp_path, "graph", "flows.py", "--format", fmt, "--no-config", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert not raw_controls(done.stdout), done.stdout
    if fmt == "json":
        assert json.loads(done.stdout)["workflow"]["name"] == WORKFLOW
