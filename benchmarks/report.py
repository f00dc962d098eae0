"""The Markdown table of ``results.json``, written between markers in docs/benchmarks.md.

Only the text between ``<!-- results:begin -->`` and ``<!-- results:end -->`` is
replaced, so the hand-written analysis around it survives every ``make bench``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

_SCALE = {"s/step": (1e6, "µs/step"), "s/workflow": (1e3, "ms/workflow"), "s": (1.0, "s")}


def _fig(stat: dict[str, float] | None, scale: float) -> str:
    if stat is None:
        return "-"
    return f"{stat['median'] * scale:.3g} ({stat['min'] * scale:.3g}-{stat['max'] * scale:.3g})"


def _ratio(stat: dict[str, float] | None) -> str:
    if stat is None:
        return "-"
    return f"**{stat['median']:.2f}x** ({stat['min']:.2f}-{stat['max']:.2f})"


def table(document: dict[str, Any]) -> str:
    """The results table and the machine line, as Markdown."""
    rows = [
        "| workload | database | unit | ours | floor | DBOS | ours / floor | ours / DBOS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload, by_db in document["results"].items():
        for db, entry in by_db.items():
            scale, unit = _SCALE.get(entry["unit"], (1.0, entry["unit"]))
            rows.append(
                f"| {workload} | {db} | {unit} | {_fig(entry.get('ours'), scale)} "
                f"| {_fig(entry.get('floor'), scale)} | {_fig(entry.get('peer'), scale)} "
                f"| {_ratio(entry.get('ours_over_floor'))} | {_ratio(entry.get('ours_over_peer'))} |"
            )
    extra = [
        f"- {workload} ({db}): {entry['note']}"
        for workload, by_db in document["results"].items()
        for db, entry in by_db.items()
        if entry.get("note") and db in ("sqlite", "none")
    ]
    asyncio_rows = [
        f"- sequential ({db}): a plain asyncio loop calling the step function costs "
        f"{entry['floor_asyncio']['median'] * 1e6:.2g} µs/step; ours is "
        f"{entry['ours_over_floor_asyncio']['median']:.0f}x that"
        for db, entry in document["results"].get("sequential", {}).items()
        if "floor_asyncio" in entry
    ]
    machine = document["machine"]
    settings = document["settings"]
    described = ", ".join(
        f"{key} {machine[key]}"
        for key in ("cpu", "cpus", "python", "sqlite", "postgres", "dbos")
        if machine.get(key) is not None
    )
    skipped = "".join(f"\n- skipped {k}: {v}" for k, v in document.get("skipped", {}).items())
    return (
        "\n".join(
            [
                f"Measured {machine['date']} on {described}; load average at the end "
                f"{', '.join(f'{x:.2f}' for x in machine['load_average'])}; "
                f"{settings['rounds']} round(s) per figure{' (--quick sizes)' if settings['quick'] else ''}.",
                "",
                "Figures are median (min-max) over the rounds; ratios are taken within each round "
                "(interleaved A/B) and summarised the same way. Below 1x means we are cheaper.",
                "",
                *rows,
                "",
                *extra,
                *asyncio_rows,
            ]
        )
        + skipped
    )


def render_markdown(document: dict[str, Any], path: Path) -> None:
    """Replace the marked region of ``path`` with the table (create the page if missing)."""
    block = f"{BEGIN}\n{table(document)}\n{END}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, _, rest = text.partition(BEGIN)
            _, _, tail = rest.partition(END)
            path.write_text(head + block + tail, encoding="utf-8")
            return
    path.write_text(f"# Benchmarks\n\n{block}\n", encoding="utf-8")
