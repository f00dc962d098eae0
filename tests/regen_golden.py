"""Regenerate the golden graphs of examples/: ``python -m tests.regen_golden``.

For every workflow of every module directly in ``examples/`` (``examples/broken``
holds code the checker rejects), writes ``tests/golden/<workflow>.graph.json``
(what ``vrb-compile build`` writes) and ``tests/golden/<workflow>.mmd`` (what
``vrb-compile graph --format mermaid`` prints), and removes goldens of
workflows that no longer exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vrb_compile.discover import discover
from vrb_compile.emit import render
from vrb_compile.lower import lower_workflow
from vrb_compile.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN_COMMAND = "python -m tests.regen_golden"


def expected_outputs() -> dict[str, str]:
    """Golden file name -> content, for every example workflow."""
    sources = [
        SourceFile.from_path(path, cwd=ROOT)
        for path in sorted(EXAMPLES.glob("*.py"))
        if path.name != "__init__.py"
    ]
    index = discover(sources)
    outputs: dict[str, str] = {}
    for info in index.workflows:
        graph = lower_workflow(info, index)
        outputs[f"{graph.workflow.name}.graph.json"] = render(graph, "json")
        outputs[f"{graph.workflow.name}.mmd"] = render(graph, "mermaid")
    return outputs


def main() -> int:
    """Write every golden file; print what changed."""
    GOLDEN.mkdir(exist_ok=True)
    outputs = expected_outputs()
    for name, text in sorted(outputs.items()):
        path = GOLDEN / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    for path in sorted(GOLDEN.iterdir()):
        if path.name not in outputs and path.suffix in (".json", ".mmd"):
            path.unlink()
            print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
