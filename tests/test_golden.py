"""Golden graphs: every example's graph JSON and Mermaid are checked in and compared.

On a mismatch the failure shows the diff and the command that regenerates the
goldens (review the diff, then commit the regenerated files).
"""

from __future__ import annotations

import difflib

import pytest

from tests.regen_golden import GOLDEN, REGEN_COMMAND, expected_outputs

OUTPUTS = expected_outputs()


def test_every_example_workflow_has_golden_files() -> None:
    on_disk = sorted(p.name for p in GOLDEN.iterdir() if p.suffix in (".json", ".mmd"))
    assert on_disk == sorted(OUTPUTS), f"golden files are out of date: run `{REGEN_COMMAND}`"
    assert len(OUTPUTS) >= 2 * 5


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_golden_output_matches(name: str) -> None:
    path = GOLDEN / name
    actual = OUTPUTS[name]
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"tests/golden/{name} (checked in)",
                tofile=f"{name} (compiled now)",
            )
        )
        pytest.fail(
            f"{name} differs from its golden file; if the change is intended run "
            f"`{REGEN_COMMAND}` and commit the result.\n{diff}",
            pytrace=False,
        )
