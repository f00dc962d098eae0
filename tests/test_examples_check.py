"""The examples compile cleanly; each broken example triggers the diagnostic it names,
and the corrected version it points to shows the fix."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vrb_compile.api import CheckConfig, check_paths
from vrb_compile.discover import discover
from vrb_compile.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BROKEN = EXAMPLES / "broken"
EXPECTED = re.compile(r"^Expected diagnostic: (VRB\d{3})\b", re.MULTILINE)

GOOD_FILES = sorted(p for p in EXAMPLES.glob("*.py"))
BROKEN_FILES = sorted(p for p in BROKEN.glob("*.py") if p.name != "__init__.py")

# What the corrected version of each diagnostic must contain, and where: in a
# workflow body, in a step, or at module level. A pointer to a module that
# merely avoids the mistake teaches nothing; the reader must find the fix there.
SHOWN_FIX: dict[str, tuple[str, str]] = {
    "VRB101": ("ctx.now()", "workflow"),
    "VRB102": ("ctx.random()", "workflow"),
    "VRB103": ("ctx.uuid4()", "workflow"),
    "VRB104": ("os.environ", "step"),
    "VRB109": ("for item_id in item_ids:", "workflow"),
    "VRB112": ('TODOS[todo_id]["runId"] = run_id', "step"),
    "VRB206": ('@step("fetch-large-dataset", timeout="30s")', "module"),
    "VRB215": ("record_transaction(payment, final)", "workflow"),
}


def _where(path: Path, line: int) -> str:
    """``workflow``, ``step`` or ``module``: what holds line ``line`` of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    enclosing = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.lineno <= line <= (node.end_lineno or node.lineno)
    ]
    if not enclosing:
        return "module"
    index = discover([SourceFile.from_path(path, cwd=ROOT)])
    innermost = enclosing[-1]
    if innermost in {info.function_qualname for info in index.workflows}:
        return "workflow"
    if innermost in {info.function_qualname for info in index.steps.values()}:
        return "step"
    return f"function {innermost}"


def test_every_example_checks_with_zero_diagnostics() -> None:
    # All together, so cross-module checks (duplicate step or workflow names) apply too.
    result = check_paths(GOOD_FILES, CheckConfig(), cwd=ROOT)
    assert [f"{d.path}:{d.line}:{d.column}: {d.code} {d.message}" for d in result.diagnostics] == []
    assert result.files == len(GOOD_FILES)
    assert result.workflows >= 14


@pytest.mark.parametrize("path", GOOD_FILES, ids=lambda p: p.stem)
def test_example_module_alone_has_zero_diagnostics(path: Path) -> None:
    result = check_paths([path], CheckConfig(), cwd=ROOT)
    assert [f"{d.line}:{d.column}: {d.code} {d.message}" for d in result.diagnostics] == []


@pytest.mark.parametrize("path", BROKEN_FILES, ids=lambda p: p.stem)
def test_broken_example_reports_the_diagnostic_its_header_names(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    match = EXPECTED.search(text)
    assert match is not None, f"{path.name} does not name its expected diagnostic"
    corrected = re.search(r"Corrected version: (examples/\w+\.py)", text)
    assert corrected is not None, f"{path.name} does not point to its corrected version"
    target = ROOT / corrected.group(1)
    assert target.is_file()
    assert match.group(1) in SHOWN_FIX, f"say what {match.group(1)}'s corrected version shows"
    fix, where = SHOWN_FIX[match.group(1)]
    lines = target.read_text(encoding="utf-8").splitlines()
    found = [number for number, line in enumerate(lines, 1) if fix in line]
    assert found, f"{corrected.group(1)} does not show the fix for {path.name}: {fix}"
    assert where in {_where(target, number) for number in found}, (fix, where)
    result = check_paths([path], CheckConfig(), cwd=ROOT)
    codes = {d.code for d in result.diagnostics}
    assert match.group(1) in codes, f"{path.name}: expected {match.group(1)}, got {sorted(codes)}"
    assert result.errors >= 1
