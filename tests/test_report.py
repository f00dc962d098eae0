"""The renderers, on hand-made diagnostics: wording, escaping, colour, SARIF shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vrb_compile.diagnostics import Diagnostic, Severity
from vrb_compile.report import (
    escape_data,
    escape_property,
    render_github,
    render_json,
    render_sarif,
    render_summary,
    render_text,
)
from vrb_compile.rules.registry import RULES

SOURCE = "import time\n\nasync def flow(ctx):\n    stamp = time.time()\n"

CLOCK = Diagnostic(
    code="VRB101",
    severity=Severity.ERROR,
    message="time.time() reads the clock",
    path="shop/flows.py",
    line=4,
    column=13,
    end_line=4,
    end_column=24,
    workflow="order",
    hint="use ctx.now()",
    chain=("flow", "stamp"),
)
LOOP = Diagnostic(
    code="VRB305",
    severity=Severity.WARNING,
    message="`while` loop, 50%, a:b, c\nd",
    path="shop/flows.py",
    line=3,
    column=1,
    end_line=4,
    end_column=5,
    workflow="order",
    hint="",
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_text_shows_location_code_source_caret_chain_and_hint() -> None:
    text = render_text([CLOCK], files=2, workflows=1, sources={"shop/flows.py": SOURCE})
    assert text.splitlines() == [
        "shop/flows.py:4:13: VRB101 time.time() reads the clock",
        "        stamp = time.time()",
        "                ^^^^^^^^^^^",
        "  via: flow -> stamp",
        "  hint: use ctx.now()",
        "",
        "Found 1 error and 0 warnings in 2 files (1 workflow).",
    ]


def test_text_labels_warnings_and_underlines_a_multiline_span_to_the_line_end() -> None:
    text = render_text([LOOP], files=1, workflows=1, sources={"shop/flows.py": SOURCE})
    lines = text.splitlines()
    assert lines[0].startswith("shop/flows.py:3:1: VRB305 warning: `while` loop")
    assert lines[2] == "    async def flow(ctx):"
    assert lines[3] == "    " + "^" * len("async def flow(ctx):")
    assert lines[-1] == "Found 0 errors and 1 warning in 1 file (1 workflow)."


def test_text_without_source_omits_the_excerpt() -> None:
    lines = render_text([CLOCK], files=1, workflows=1).splitlines()
    assert lines[0].startswith("shop/flows.py:4:13: VRB101")
    assert not any("^" in line for line in lines)


def test_text_has_no_escape_codes_unless_colour_is_asked() -> None:
    plain = render_text([CLOCK, LOOP], files=1, workflows=1, sources={"shop/flows.py": SOURCE})
    coloured = render_text(
        [CLOCK, LOOP], files=1, workflows=1, sources={"shop/flows.py": SOURCE}, color=True
    )
    assert "\x1b[" not in plain
    assert "\x1b[31m" in coloured  # errors in red
    assert "\x1b[33m" in coloured  # warnings in yellow
    assert ANSI.sub("", coloured) == plain


def test_summary_wording() -> None:
    assert render_summary(files=3, workflows=2, errors=0, warnings=0) == (
        "All checks passed: 3 files, 2 workflows."
    )
    assert render_summary(files=1, workflows=1, errors=0, warnings=0) == (
        "All checks passed: 1 file, 1 workflow."
    )
    assert render_summary(files=5, workflows=0, errors=2, warnings=1) == (
        "Found 2 errors and 1 warning in 5 files (0 workflows)."
    )


def test_json_has_exactly_the_documented_shape() -> None:
    document = json.loads(render_json([CLOCK, LOOP], files=4, workflows=2))
    assert set(document) == {"version", "diagnostics", "summary"}
    assert document["version"] == 1
    assert document["summary"] == {"files": 4, "workflows": 2, "errors": 1, "warnings": 1}
    first = document["diagnostics"][0]
    assert first == {
        "code": "VRB101",
        "severity": "error",
        "message": "time.time() reads the clock",
        "path": "shop/flows.py",
        "line": 4,
        "column": 13,
        "end_line": 4,
        "end_column": 24,
        "workflow": "order",
        "hint": "use ctx.now()",
        "chain": ["flow", "stamp"],
    }
    assert document["diagnostics"][1]["severity"] == "warning"


def test_github_escaping_of_data_and_properties() -> None:
    assert escape_data("50%\r\nx") == "50%25%0D%0Ax"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_github_annotations_one_per_diagnostic() -> None:
    weird = Diagnostic(
        code="VRB305",
        severity=Severity.WARNING,
        message=LOOP.message,
        path="dir,x/a:b.py",
        line=3,
        column=1,
        end_line=4,
        end_column=5,
    )
    lines = render_github([CLOCK, weird]).splitlines()
    assert lines == [
        "::error file=shop/flows.py,line=4,col=13,endLine=4,endColumn=24,title=VRB101::"
        "time.time() reads the clock%0Avia: flow -> stamp%0Ahint: use ctx.now()",
        "::warning file=dir%2Cx/a%3Ab.py,line=3,col=1,endLine=4,endColumn=5,title=VRB305::"
        "`while` loop, 50%25, a:b, c%0Ad",
    ]
    assert render_github([]) == ""


def sarif_run(diagnostics: list[Diagnostic], tmp_path: Path) -> Any:
    document = json.loads(render_sarif(diagnostics, rules=RULES, version="9.9.9", srcroot=tmp_path))
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-2.1.0.json")
    assert len(document["runs"]) == 1
    return document["runs"][0]


def test_sarif_lists_only_fired_rules_and_points_results_at_them(tmp_path: Path) -> None:
    run = sarif_run([LOOP, CLOCK], tmp_path)
    driver = run["tool"]["driver"]
    assert driver["name"] == "vrb-compile"
    assert driver["version"] == "9.9.9"
    assert [rule["id"] for rule in driver["rules"]] == ["VRB101", "VRB305"]
    clock_rule = driver["rules"][0]
    assert clock_rule["name"] == RULES["VRB101"].name
    assert clock_rule["shortDescription"]["text"] == RULES["VRB101"].summary
    assert clock_rule["fullDescription"]["text"] == RULES["VRB101"].rationale
    assert clock_rule["help"]["text"] == RULES["VRB101"].hint
    assert "```python" in clock_rule["help"]["markdown"]
    assert clock_rule["defaultConfiguration"]["level"] == "error"
    assert driver["rules"][1]["defaultConfiguration"]["level"] == "warning"
    results = run["results"]
    assert [(r["ruleId"], r["ruleIndex"], r["level"]) for r in results] == [
        ("VRB305", 1, "warning"),
        ("VRB101", 0, "error"),
    ]


def test_sarif_locations_are_relative_one_based_and_fingerprinted(tmp_path: Path) -> None:
    run = sarif_run([CLOCK], tmp_path)
    result = run["results"][0]
    assert (
        result["message"]["text"]
        == "time.time() reads the clock (via flow -> stamp) Hint: use ctx.now()"
    )
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "shop/flows.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 4, "startColumn": 13, "endLine": 4, "endColumn": 24}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.resolve().as_uri() + "/"}}
    fingerprint = result["partialFingerprints"]["vrbFindingHash/v1"]
    moved = Diagnostic(**{**CLOCK.__dict__, "line": 40, "end_line": 40})
    moved_run = sarif_run([moved], tmp_path)
    assert moved_run["results"][0]["partialFingerprints"]["vrbFindingHash/v1"] == fingerprint
    other = Diagnostic(**{**CLOCK.__dict__, "path": "shop/other.py"})
    other_run = sarif_run([other], tmp_path)
    assert other_run["results"][0]["partialFingerprints"]["vrbFindingHash/v1"] != fingerprint


def test_sarif_absolute_path_outside_the_root_is_a_file_uri(tmp_path: Path) -> None:
    outside = Diagnostic(**{**CLOCK.__dict__, "path": "/elsewhere/flows.py"})
    run = sarif_run([outside], tmp_path)
    location = run["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "file:///elsewhere/flows.py"}


def test_sarif_with_no_findings_is_still_one_valid_run(tmp_path: Path) -> None:
    run = sarif_run([], tmp_path)
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []


def test_report_package_exports_are_pinned() -> None:
    import vrb_compile.report as report

    assert sorted(report.__all__) == [
        "FORMATS",
        "JSON_SCHEMA_VERSION",
        "SARIF_SCHEMA",
        "escape_data",
        "escape_property",
        "render_github",
        "render_json",
        "render_sarif",
        "render_summary",
        "render_text",
    ]
    assert report.FORMATS == ("text", "json", "sarif", "github")
    for name in report.__all__:
        assert hasattr(report, name), name
