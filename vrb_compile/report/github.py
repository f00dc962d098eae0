"""``--format github``: GitHub Actions workflow commands that annotate a pull request.

One line per diagnostic::

    ::error file=shop/flows.py,line=12,col=9,endLine=12,endColumn=23,title=VRB101::message

GitHub decodes ``%25``, ``%0D`` and ``%0A`` in the message, and additionally
``%3A`` and ``%2C`` in property values; anything else would cut the command short
(the same escapes as ``escapeData``/``escapeProperty`` of ``@actions/core``).
Every other control character, and the bidi overrides, are made inert
(:func:`~vrb_compile.terminal.inert`) first: the Actions log interprets ANSI
escape sequences, and a line break in a name must not end the command early.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..diagnostics import Diagnostic, Severity
from ..terminal import inert

__all__ = ["escape_data", "escape_property", "render_github"]


def escape_data(text: str) -> str:
    """Escape the message part of a workflow command (after ``::``)."""
    text = inert(text, keep="\r\n")
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value of a workflow command (``file=...``, ``title=...``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(diagnostic: Diagnostic) -> str:
    command = "error" if diagnostic.severity is Severity.ERROR else "warning"
    properties = {
        "file": inert(diagnostic.path),
        "line": str(diagnostic.line),
        "col": str(diagnostic.column),
        "endLine": str(diagnostic.end_line),
        "endColumn": str(diagnostic.end_column),
        "title": inert(diagnostic.code),
    }
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    # A line break in the message is kept (escaped as %0A below); nothing else in it acts.
    message = inert(diagnostic.message, keep="\n")
    if diagnostic.chain:
        message += f"\nvia: {' -> '.join(inert(name) for name in diagnostic.chain)}"
    if diagnostic.hint:
        message += "\nhint: " + inert(diagnostic.hint, keep="\n")
    return f"::{command} {rendered}::{escape_data(message)}"


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """Render one ``::error``/``::warning`` command per diagnostic.

    Returns:
        The commands, one per line, with a trailing newline; empty when there is
        nothing to report.
    """
    return "".join(_annotation(diagnostic) + "\n" for diagnostic in diagnostics)
