"""How ``vrb`` prints: JSON documents, rich tables in a terminal, plain columns otherwise.

Output goes through :class:`Output`. When stdout is a terminal, tables are
drawn with rich (colours follow ``NO_COLOR`` and ``TERM=dumb``, which rich
honours); when it is not (a pipe, a file, CI logs), tables are plain columns
separated by two spaces, with no escape codes or box drawing, so ``grep`` and
``cut`` work on them. ``--json`` prints one JSON document instead, whose keys
are fixed by the ``*_doc`` functions here.

Whatever :class:`Output` prints is inert (:mod:`vrb_compile.terminal`): run
ids, workflow and signal names, payloads and error messages come from the
store, and a control character or a bidi override in them is shown as an
escape (``\\x1b``, ``\\u202e``), never sent to the terminal; in JSON documents
as a ``\\uXXXX`` escape, so the document still means the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from vrb_compile.terminal import inert, inert_json

from ..client import RunInfo
from ..codec import describe, is_encoded
from ..events import Event
from ..stores.base import WorkflowStats

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "Column",
    "Output",
    "compact_json",
    "error_text",
    "event_doc",
    "fit_columns",
    "iso",
    "payload_summary",
    "run_doc",
    "stats_doc",
]

_STATUS_STYLES = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "waiting": "blue",
    "pending": "magenta",
}


def iso(moment: datetime | None) -> str | None:
    """A timestamp as ISO 8601 in UTC with a ``Z`` (``None`` stays ``None``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def short_time(moment: datetime) -> str:
    """A timestamp for tables: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def compact_json(value: Any, limit: int | None = None) -> str:
    """``value`` as one-line JSON, cut to ``limit`` characters with ``...``.

    A value the codec left encoded (or read without one) is shown as such,
    ``<encrypted: key k2>``, never its ciphertext as if it were data.
    """
    if is_encoded(value):
        return describe(value)
    text = inert_json(json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str))
    if limit is not None and len(text) > limit:
        return text[: max(limit - 3, 1)] + "..."
    return text


def error_text(error: dict[str, Any] | None) -> str:
    """``Type: message`` of a recorded error (empty for ``None``)."""
    if not error:
        return ""
    kind = str(error.get("type") or "Error")
    message = _one_line(str(error.get("message") or ""))
    return f"{kind}: {message}" if message else kind


# --------------------------------------------------------------------------- documents


def run_doc(run: RunInfo) -> dict[str, Any]:
    """A run as a JSON object with stable keys."""
    return {
        "run_id": run.run_id,
        "workflow_name": run.workflow_name,
        "status": run.status,
        "result": run.result,
        "error": run.error,
        "graph_hash": run.graph_hash,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
    }


def event_doc(event: Event) -> dict[str, Any]:
    """An event as a JSON object: ``seq``, ``type``, ``key``, ``payload``, ``at``."""
    return {
        "seq": event.seq,
        "type": event.type,
        "key": event.key,
        "payload": event.payload.model_dump(mode="json"),
        "at": iso(event.at),
    }


def stats_doc(stats: WorkflowStats, workflow_name: str | None) -> dict[str, Any]:
    """Workflow statistics as a JSON object with stable keys."""
    return {
        "workflow_name": workflow_name,
        "total_runs": stats.total_runs,
        "success_rate": stats.success_rate,
        "avg_duration_ms": stats.avg_duration_ms,
        "by_status": dict(stats.by_status),
    }


def payload_summary(event_type: str, payload: dict[str, Any], limit: int = 80) -> str:
    """A short, readable line for an event's payload (for the history table)."""

    def value(item: Any) -> str:
        return compact_json(item, limit)

    def attempt(data: dict[str, Any]) -> str:
        number = data.get("attempt", 1)
        return f" (attempt {number})" if isinstance(number, int) and number > 1 else ""

    error = error_text(payload.get("error"))
    step = payload.get("step", "")
    match event_type:
        case "run_created":
            text = f"input {value(payload.get('input'))}"
        case "run_started":
            graph = str(payload.get("graph_hash") or "")[:12]
            text = f"worker {payload.get('worker_id')}" + (f", graph {graph}" if graph else "")
        case "step_started":
            text = f"{step}{attempt(payload)}"
        case "step_completed":
            text = f"{step}{attempt(payload)} -> {value(payload.get('output'))}"
        case "step_retrying":
            text = f"{step} attempt {payload.get('attempt')}: {error}; retry at {payload.get('retry_at')}"
        case "step_failed":
            text = f"{step} attempt {payload.get('attempt')}: {error}"
        case "wait_created":
            parts = []
            if payload.get("signal"):
                parts.append(f"signal {payload['signal']}")
            parts.append(f"until {payload['until']}" if payload.get("until") else "no timeout")
            text = ", ".join(parts)
        case "wait_completed":
            text = str(payload.get("outcome", ""))
        case "signal_received":
            text = f"{payload.get('name')} {value(payload.get('payload'))}"
        case "signal_consumed":
            text = f"{payload.get('name')} {value(payload.get('payload'))}"
        case "rollback_started":
            text = step
        case "rollback_completed":
            text = f"{step} -> {value(payload.get('output'))}"
        case "rollback_failed":
            text = f"{step}: {error}"
        case "circuit_breaker_tripped":
            text = f"{payload.get('breaker')} (limit {payload.get('limit')})"
        case "run_completed":
            text = f"result {value(payload.get('result'))}"
        case "run_failed":
            text = error
        case "run_cancelled":
            text = str(payload.get("reason") or "")
        case _:
            text = value(payload)
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Column:
    """A table column.

    In a terminal, every column but the wide one is drawn at the width of its
    longest cell and never wraps (an id cut in two cannot be copied); the wide
    column gets the room left and its cells end with an ellipsis when cut.

    Attributes:
        header: Its title.
        justify: ``left`` or ``right``.
        status: Its cells are run statuses (coloured in a terminal).
        wide: It holds long text that may be cut to fit a terminal.
        optional: It is left out in a terminal too narrow for it (optional
            columns go right to left) so the wide column keeps some room.
    """

    header: str
    justify: str = "left"
    status: bool = False
    wide: bool = False
    optional: bool = False


WIDE_PREFERRED = 20
"""Optional columns make way while the wide column would be narrower than this."""

WIDE_MINIMUM = 8
"""The wide column is never narrower; a narrower terminal wraps the table's lines."""


def fit_columns(
    columns: Sequence[Column], natural: Sequence[int], width: int, frame: Callable[[int], int]
) -> list[tuple[int, int]]:
    """Which columns a terminal ``width`` wide shows, and how wide each is.

    Args:
        columns: The table's columns.
        natural: The width of each column's longest cell (header included).
        width: The terminal's width.
        frame: The width of a table's borders and padding for a number of columns.

    Returns:
        ``(column index, width)`` of the columns to draw, in order.
    """
    keep = list(range(len(columns)))
    wide = [index for index in keep if columns[index].wide]
    while True:
        fixed = sum(natural[index] for index in keep if not columns[index].wide)
        room = width - frame(len(keep)) - fixed
        share = room // len(wide) if wide else 0
        wanted = min([WIDE_PREFERRED, *(natural[index] for index in wide)])
        optional = [index for index in keep if columns[index].optional]
        if not wide or share >= wanted or not optional:
            break
        keep.remove(optional[-1])
    return [
        (
            index,
            max(min(share, natural[index]), WIDE_MINIMUM)
            if columns[index].wide
            else natural[index],
        )
        for index in keep
    ]


class Output:
    """Where a command prints.

    Args:
        json_mode: ``--json`` was given.
        stream: stdout (tests pass another stream).
    """

    def __init__(self, json_mode: bool, stream: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stream = stream if stream is not None else sys.stdout
        self.tty = _isatty(self.stream)

    def document(self, data: Any) -> None:
        """Print one JSON document (inert: see the module docstring)."""
        self.stream.write(inert_json(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")
        self.stream.flush()

    def line(self, text: str = "") -> None:
        """Print a line of text, inert but for the line breaks it means to have."""
        self.stream.write(inert(text, keep="\n") + "\n")
        self.stream.flush()

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Print ``name  value`` lines with the values aligned."""
        width = max((len(name) for name, _ in pairs), default=0)
        for name, text in pairs:
            self.line(f"{name.ljust(width)}  {_one_line(text)}".rstrip())

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
        """Print a table: rich in a terminal, aligned plain columns otherwise."""
        cells = [[_one_line(cell) for cell in row] for row in rows]
        if self.tty:
            self._rich_table(columns, cells)
            return
        widths = [
            max([len(column.header)] + [len(row[index]) for row in cells])
            for index, column in enumerate(columns)
        ]
        for row in [[column.header for column in columns], *cells]:
            padded = [
                cell.rjust(width) if column.justify == "right" else cell.ljust(width)
                for cell, width, column in zip(row, widths, columns, strict=True)
            ]
            self.line("  ".join(padded).rstrip())

    def _rich_table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
        from rich.cells import cell_len
        from rich.console import Console
        from rich.text import Text

        console = Console(file=self.stream, highlight=False)
        natural = [
            max([cell_len(column.header)] + [cell_len(row[index]) for row in rows])
            for index, column in enumerate(columns)
        ]

        def frame(count: int) -> int:
            # Measured, not computed: borders and padding are rich's to decide.
            return console.measure(_rich_table([(Column(""), 1)] * count)).maximum - count

        layout = fit_columns(columns, natural, console.width, frame)
        table = _rich_table([(columns[index], width) for index, width in layout])
        for row in rows:
            cells = [(row[index], columns[index]) for index, _ in layout]
            table.add_row(
                *(
                    Text(cell, style=_STATUS_STYLES.get(cell, "") if column.status else "")
                    for cell, column in cells
                )
            )
        # rich shrinks every column of a table wider than the terminal, ids
        # included; a terminal too narrow even for the fixed columns wraps the
        # table's lines instead.
        console.width = max(console.width, console.measure(table).maximum)
        console.print(table)


def _rich_table(layout: Sequence[tuple[Column, int]]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for column, width in layout:
        table.add_column(
            column.header,
            justify="right" if column.justify == "right" else "left",
            width=width,
            no_wrap=True,
            overflow="ellipsis",
        )
    return table


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _one_line(text: str) -> str:
    # Escaped before the whitespace collapses: a \r or a \u2028 is shown, not made a space.
    return " ".join(inert(str(text), keep="\n\t").split())
