"""Renderers of check results: text, JSON, SARIF 2.1.0 and GitHub annotations.

Every renderer is a pure function from diagnostics (and counts) to a string; the
CLI decides where the string goes and whether colour is wanted. The bare
message of a :class:`~vrb_compile.diagnostics.Diagnostic` stays apart from its
rendering, so each format shows the same finding its own way.
"""

from __future__ import annotations

from .github import escape_data, escape_property, render_github
from .json_format import JSON_SCHEMA_VERSION, render_json
from .sarif import SARIF_SCHEMA, render_sarif
from .text import render_summary, render_text

__all__ = [
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

FORMATS = ("text", "json", "sarif", "github")
"""The output formats of ``vrb-compile check --format``."""
