"""``# vrb: ignore[CODE, ...]`` comments.

A suppression is a trailing comment on the line where a diagnostic starts,
or on the first line of the statement holding it. Comments are found with
:mod:`tokenize`, so ``"# vrb: ignore"`` inside a string is not a suppression.
A bare ``# vrb: ignore`` suppresses everything on its line and is itself a
``VRB002`` warning; an unknown code in the list is a ``VRB003`` warning.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass

from .diagnostics import Diagnostic
from .rules.registry import RULES
from .source import SourceFile

__all__ = ["Suppression", "apply_suppressions", "find_suppressions"]

_PATTERN = re.compile(r"#\s*vrb:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)


@dataclass(frozen=True)
class Suppression:
    """One suppression comment.

    Attributes:
        line: 1-based line of the comment.
        column: 1-based column of the comment.
        end_column: Column just past the comment.
        codes: The codes listed; empty for a bare ``# vrb: ignore``.
    """

    line: int
    column: int
    end_column: int
    codes: tuple[str, ...]


def find_suppressions(text: str) -> list[Suppression]:
    """Every suppression comment in ``text`` (empty when the file does not tokenize)."""
    if "vrb:" not in text.lower():
        return []
    found: list[Suppression] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.COMMENT:
                continue
            match = _PATTERN.search(token.string)
            if match is None:
                continue
            raw = match.group("codes")
            codes = tuple(c.strip().upper() for c in raw.split(",") if c.strip()) if raw else ()
            line, col = token.start
            found.append(Suppression(line, col + 1, col + 1 + len(token.string), codes))
    except (tokenize.TokenError, SyntaxError):
        return []
    return found


def _statement_lines(source: SourceFile) -> dict[int, int]:
    """Map each line inside a multi-line statement to the statement's first line."""
    tree = source.ast_tree
    if tree is None:
        return {}
    import ast

    mapping: dict[int, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.end_lineno and node.end_lineno > node.lineno:
            if isinstance(
                node,
                ast.FunctionDef
                | ast.AsyncFunctionDef
                | ast.ClassDef
                | ast.If
                | ast.For
                | ast.While
                | ast.Try
                | ast.With
                | ast.AsyncFor
                | ast.AsyncWith,
            ):
                continue  # compound statements: only their header line counts
            for line in range(node.lineno + 1, node.end_lineno + 1):
                mapping.setdefault(line, node.lineno)
    return mapping


def apply_suppressions(
    source: SourceFile, diagnostics: Sequence[Diagnostic], *, comment_warnings: bool = True
) -> list[Diagnostic]:
    """Drop suppressed diagnostics; add VRB002/VRB003 for bare and unknown suppressions.

    Args:
        source: The file the diagnostics are in.
        diagnostics: Its findings.
        comment_warnings: Report VRB002/VRB003 for the file's own comments
            (off for a context file, which is not being checked).
    """
    suppressions = find_suppressions(source.text)
    if not suppressions:
        return list(diagnostics)
    by_line = {s.line: s for s in suppressions}
    statement_of = _statement_lines(source) if diagnostics else {}
    kept: list[Diagnostic] = []
    for diag in diagnostics:
        lines = {diag.line, statement_of.get(diag.line, diag.line)}
        hidden = False
        for line in lines:
            sup = by_line.get(line)
            if sup is not None and (not sup.codes or diag.code in sup.codes):
                hidden = True
        if not hidden:
            kept.append(diag)
    if not comment_warnings:
        return kept
    for sup in suppressions:
        if not sup.codes:
            rule = RULES["VRB002"]
            kept.append(
                Diagnostic(
                    "VRB002",
                    rule.severity,
                    "`# vrb: ignore` without codes suppresses every finding on this line",
                    source.display_path,
                    sup.line,
                    sup.column,
                    sup.line,
                    sup.end_column,
                    None,
                    rule.hint,
                )
            )
        for code in sup.codes:
            if code not in RULES:
                rule = RULES["VRB003"]
                kept.append(
                    Diagnostic(
                        "VRB003",
                        rule.severity,
                        f"`# vrb: ignore[{code}]` names no known rule",
                        source.display_path,
                        sup.line,
                        sup.column,
                        sup.line,
                        sup.end_column,
                        None,
                        rule.hint,
                    )
                )
    return kept
