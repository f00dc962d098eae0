"""The examples compile cleanly; each broken example triggers the diagnostic it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vrb_compile.api import CheckConfig, check_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BROKEN = EXAMPLES / "broken"
EXPECTED = re.compile(r"^Expected diagnostic: (VRB\d{3})\b", re.MULTILINE)

GOOD_FILES = sorted(p for p in EXAMPLES.glob("*.py"))
BROKEN_FILES = sorted(p for p in BROKEN.glob("*.py") if p.name != "__init__.py")


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
    assert (ROOT / corrected.group(1)).is_file()
    result = check_paths([path], CheckConfig(), cwd=ROOT)
    codes = {d.code for d in result.diagnostics}
    assert match.group(1) in codes, f"{path.name}: expected {match.group(1)}, got {sorted(codes)}"
    assert result.errors >= 1
