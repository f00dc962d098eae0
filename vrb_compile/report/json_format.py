"""``--format json``: one object, the shape SPEC.md documents (schema version 1).

The text is inert JSON (:func:`~vrb_compile.terminal.inert_json`): a control
character or a bidi override in a path or a message is a ``\\uXXXX`` escape.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..diagnostics import Diagnostic, Severity
from ..terminal import inert_json

__all__ = ["JSON_SCHEMA_VERSION", "render_json"]

JSON_SCHEMA_VERSION = 1
"""Bumped only when a documented key changes meaning or disappears."""


def render_json(diagnostics: Sequence[Diagnostic], *, files: int, workflows: int) -> str:
    """Render diagnostics as the documented JSON object.

    Args:
        diagnostics: The findings, already in report order.
        files: How many files were checked.
        workflows: How many workflows were found in them.

    Returns:
        ``{"version": 1, "diagnostics": [...], "summary": {...}}`` as indented
        JSON text ending in a newline. Each diagnostic carries ``code``,
        ``severity``, ``message``, ``path``, ``line``, ``column``, ``end_line``,
        ``end_column``, ``workflow``, ``hint`` (and ``chain``, the call chain).
    """
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    document = {
        "version": JSON_SCHEMA_VERSION,
        "diagnostics": [d.to_dict() for d in diagnostics],
        "summary": {
            "files": files,
            "workflows": workflows,
            "errors": errors,
            "warnings": len(diagnostics) - errors,
        },
    }
    return inert_json(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
