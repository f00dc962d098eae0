"""Fixit-style rule tests: lists of valid and invalid snippets per rule family.

An :class:`Invalid` case marks every line where the rule must fire with a
trailing ``# !`` comment (in any of its files); the test asserts that the
rule's diagnostics fall on exactly those lines. A :class:`Valid` case must
produce no error at all (not only none of the family's code): a checker that
flags correct code trains users to suppress it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import CheckFiles
from vrb_compile.api import CheckResult
from vrb_compile.diagnostics import Diagnostic, Severity
from vrb_compile.rules.base import workflow_module

__all__ = ["MARK", "Invalid", "Valid", "cases", "check_invalid", "check_valid", "only", "wf"]

MARK = "# !"

Source = str | Mapping[str, str]


def wf(body: str, imports: str = "", *, extra: str = "", max_events: str = "") -> str:
    """A workflow module (``order_flow(ctx, order)`` with a ``charge`` step); see
    :func:`vrb_compile.rules.base.workflow_module`."""
    return workflow_module(body, imports, extra=extra, max_events=max_events)


@dataclass(frozen=True)
class Valid:
    """A snippet that must give no error (``allow``: codes it may also give)."""

    id: str
    source: Source
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invalid:
    """A snippet whose ``# !`` lines are exactly where rule ``code`` fires."""

    id: str
    code: str
    source: Source
    config: Mapping[str, Any] | None = None


def files_of(source: Source) -> dict[str, str]:
    """A single snippet is ``mod.py``."""
    return {"mod.py": source} if isinstance(source, str) else dict(source)


def marked(files: Mapping[str, str]) -> set[tuple[str, int]]:
    """``(path, line)`` of every line ending in the marker."""
    return {
        (path, number)
        for path, text in files.items()
        for number, line in enumerate(text.splitlines(), 1)
        if line.rstrip().endswith(MARK)
    }


def only(result: CheckResult, code: str) -> list[Diagnostic]:
    """The diagnostics of ``code``."""
    return [d for d in result.diagnostics if d.code == code]


def check_valid(check_files: CheckFiles, case: Valid, codes: Iterable[str]) -> None:
    """No error, and nothing of the family's ``codes``."""
    result = check_files(files_of(case.source))
    family = tuple(codes)
    bad = [
        (d.code, d.path, d.line, d.message)
        for d in result.diagnostics
        if d.code not in case.allow and (d.severity is Severity.ERROR or d.code in family)
    ]
    assert bad == []


def check_invalid(check_files: CheckFiles, case: Invalid) -> None:
    """The rule fires on exactly the marked lines."""
    files = files_of(case.source)
    expected = marked(files)
    assert expected, f"case {case.id} marks no line with {MARK!r}"
    result = check_files(files, **(case.config or {}))
    assert {(d.path, d.line) for d in only(result, case.code)} == expected


def cases(items: Iterable[Valid | Invalid]) -> Any:
    """``pytest.mark.parametrize`` over cases, ids from the cases."""
    listed = list(items)
    return pytest.mark.parametrize("case", listed, ids=[c.id for c in listed])
