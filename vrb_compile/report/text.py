"""``--format text``: what a person reads in a terminal, in the style of ruff and mypy.

::

    shop/flows.py:12:13: VRB101 `datetime.now()` reads the wall clock
        stamp = datetime.now()
                ^^^^^^^^^^^^^^
      via: order_flow -> stamp_order
      hint: use `ctx.now()`, which is recorded and identical on replay

    Found 1 error and 0 warnings in 3 files (2 workflows).

Paths, messages, call chains, hints and source lines are made inert
(:func:`~vrb_compile.terminal.inert`) before the colours go on: a control
character or a bidi override in a file name, a workflow name or a source line
(Trojan Source) is shown as an escape, and the caret still points at the span.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..diagnostics import Diagnostic, Severity
from ..terminal import inert

__all__ = ["render_summary", "render_text"]

_RESET = "\033[0m"
_BOLD = "\033[1m"
_RED = "\033[31m"
_YELLOW = "\033[33m"
_CYAN = "\033[36m"
_DIM = "\033[2m"
_TAB = 4
_BREAK = "\n"  # the one control character a message or a hint may keep
# The line breaks Python's tokenizer knows (str.splitlines would also split on \f, \x1c ...).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def render_summary(*, files: int, workflows: int, errors: int, warnings: int) -> str:
    """The closing line of the text report.

    Returns:
        ``Found N errors and M warnings in F files (W workflows).`` when anything
        was found, else ``All checks passed: F files, W workflows.`` (singular
        nouns for a count of one).
    """
    scope = f"{_plural(files, 'file')}"
    flows = _plural(workflows, "workflow")
    if errors or warnings:
        return (
            f"Found {_plural(errors, 'error')} and {_plural(warnings, 'warning')} "
            f"in {scope} ({flows})."
        )
    return f"All checks passed: {scope}, {flows}."


def _snippet(diagnostic: Diagnostic, lines: Sequence[str], color: bool) -> list[str]:
    if not 1 <= diagnostic.line <= len(lines):
        return []
    raw = lines[diagnostic.line - 1].rstrip("\r\n")

    def width_of(text: str) -> int:
        # Measured as shown: each escaped character takes the width of its escape.
        return len(inert(text, keep="\t").expandtabs(_TAB))

    shown = inert(raw, keep="\t").expandtabs(_TAB).rstrip()
    if not shown.strip():
        return []
    start = width_of(raw[: max(diagnostic.column - 1, 0)])
    if diagnostic.end_line == diagnostic.line and diagnostic.end_column > diagnostic.column:
        end = width_of(raw[: diagnostic.end_column - 1])
    else:
        # A span running over several lines is underlined to the end of its first line.
        end = len(shown)
    width = max(end - start, 1)
    caret = " " * start + "^" * width
    style = _RED if diagnostic.severity is Severity.ERROR else _YELLOW
    return [f"    {shown}", f"    {_paint(caret, style, color)}"]


def _render_one(diagnostic: Diagnostic, lines: Sequence[str] | None, color: bool) -> list[str]:
    path = inert(diagnostic.path)
    location = _paint(f"{path}:{diagnostic.line}:{diagnostic.column}:", _BOLD, color)
    is_error = diagnostic.severity is Severity.ERROR
    code = _paint(inert(diagnostic.code), _RED if is_error else _YELLOW, color)
    label = "" if is_error else _paint("warning: ", _YELLOW, color)
    # A message may run over lines (it quotes the source); nothing else in it acts.
    out = [f"{location} {code} {label}{inert(diagnostic.message, keep=_BREAK)}"]
    if lines is not None:
        out.extend(_snippet(diagnostic, lines, color))
    if diagnostic.chain:
        chain = " -> ".join(inert(name) for name in diagnostic.chain)
        out.append(f"  {_paint('via:', _DIM, color)} {chain}")
    if diagnostic.hint:
        out.append(f"  {_paint('hint:', _CYAN, color)} {inert(diagnostic.hint, keep=_BREAK)}")
    return out


def render_text(
    diagnostics: Sequence[Diagnostic],
    *,
    files: int,
    workflows: int,
    sources: Mapping[str, str] | None = None,
    color: bool = False,
) -> str:
    """Render diagnostics for a terminal.

    Args:
        diagnostics: The findings, already in report order.
        files: How many files were checked.
        workflows: How many workflows were found in them.
        sources: File text by diagnostic ``path``, for the source line and caret
            under each finding; a path missing here is shown without its line.
        color: Use ANSI colours (the CLI sets it only for a TTY without ``NO_COLOR``).

    Returns:
        One block per diagnostic, a blank line, and the summary line, ending in a
        newline.
    """
    split: dict[str, list[str]] = {}
    out: list[str] = []
    for position, diagnostic in enumerate(diagnostics):
        if position:
            out.append("")  # one blank line between findings, as ruff does
        lines: list[str] | None = None
        if sources is not None and diagnostic.path in sources:
            if diagnostic.path not in split:
                split[diagnostic.path] = _LINE_BREAK.split(sources[diagnostic.path])
            lines = split[diagnostic.path]
        out.extend(_render_one(diagnostic, lines, color))
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    summary = render_summary(
        files=files, workflows=workflows, errors=errors, warnings=len(diagnostics) - errors
    )
    if out:
        out.append("")
    out.append(_paint(summary, _BOLD, color) if color else summary)
    return "\n".join(out) + "\n"
