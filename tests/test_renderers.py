"""The renderer harness itself: a broken diagram must be reported as broken."""

from __future__ import annotations

import pytest

from tests.renderers import render_dot, render_mermaid


def test_mermaid_harness_renders_valid_and_reports_invalid_diagrams() -> None:
    results = render_mermaid(
        ['flowchart TD\n  a["start"] --> b{"x > 1"}\n  b -.->|undo| a', "flowchart TD\n  a -->"]
    )
    assert results[0]["ok"] is True
    assert "<svg" in results[0]["svg"]
    assert results[1]["ok"] is False
    assert "Parse error" in results[1]["error"]


def test_dot_harness_renders_valid_and_rejects_invalid_graphs() -> None:
    assert "<svg" in render_dot("digraph G { a -> b [style=dashed]; }")
    with pytest.raises(AssertionError, match="dot rejected"):
        render_dot("digraph G { a -> }")
