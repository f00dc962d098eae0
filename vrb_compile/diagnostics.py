"""The diagnostic value every rule produces.

A diagnostic keeps its bare message apart from how it is rendered; the
renderers (text, JSON, SARIF, GitHub annotations) live in :mod:`vrb_compile.report`.
Lines and columns are 1-based everywhere (LibCST's columns are 0-based and are
converted where diagnostics are made).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Diagnostic", "Severity"]


class Severity(StrEnum):
    """How serious a finding is: errors fail ``check`` (exit 1), warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=False)
class Diagnostic:
    """One finding in one file.

    Attributes:
        code: The rule code, e.g. ``"VRB101"``.
        severity: ``error`` or ``warning``.
        message: What is wrong, one sentence, no location in it.
        path: The file, relative to the working directory when it lies below it.
        line: 1-based first line.
        column: 1-based first column.
        end_line: 1-based last line.
        end_column: 1-based column just past the end.
        workflow: The workflow whose body (or helper) holds the finding, if any.
        hint: What to write instead.
        chain: The call chain from the workflow body to the finding, outermost
            first (``("order_flow", "compute_total", "stamp")``); empty when the
            finding is in the body itself.
    """

    code: str
    severity: Severity
    message: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    workflow: str | None = None
    hint: str = ""
    chain: tuple[str, ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """The order diagnostics are reported in: path, line, column, code."""
        return (self.path, self.line, self.column, self.code, self.message)

    def to_dict(self) -> dict[str, Any]:
        """The diagnostic as the JSON output documents it."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "workflow": self.workflow,
            "hint": self.hint,
            "chain": list(self.chain),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostic:
        """Rebuild a diagnostic from :meth:`to_dict` output (used by the cache)."""
        return cls(
            code=data["code"],
            severity=Severity(data["severity"]),
            message=data["message"],
            path=data["path"],
            line=data["line"],
            column=data["column"],
            end_line=data["end_line"],
            end_column=data["end_column"],
            workflow=data.get("workflow"),
            hint=data.get("hint", ""),
            chain=tuple(data.get("chain", ())),
        )
