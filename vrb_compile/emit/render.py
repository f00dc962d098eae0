"""Renderers of a step graph: JSON, Mermaid, DOT and a self-contained HTML page.

Mermaid, DOT and HTML are jinja2 templates (``templates/*.j2``, with
``StrictUndefined``: a missing variable is an error, not an empty string). All
output is deterministic: nodes in id order, edges in the graph's canonical
order, labels fully escaped for the target language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import jinja2

from ..ir.graph import back_edges
from ..ir.models import Graph
from .labels import EDGE_LABELS, label_lines, temporaries, visible

__all__ = ["FORMATS", "Format", "dot_escape", "mermaid_escape", "render"]

Format = Literal["json", "mermaid", "dot", "html"]
FORMATS: tuple[Format, ...] = ("mermaid", "dot", "json", "html")

# kind -> (mermaid open, mermaid close, dot shape, dot style, css class)
_SHAPES: dict[str, tuple[str, str, str, str]] = {
    "start": ('(["', '"])', "oval", ""),
    "end": ('(["', '"])', "oval", "bold"),
    "return": ('(["', '"])', "oval", ""),
    "code": ('("', '")', "box", "rounded"),
    "step": ('["', '"]', "box", ""),
    "branch": ('{"', '"}', "diamond", ""),
    "except": ('{"', '"}', "diamond", "dashed"),
    "loop": ('{{"', '"}}', "hexagon", ""),
    "sleep": ('(("', '"))', "circle", ""),
    "signal": ('>"', '"]', "cds", ""),
    "parallel": ('[["', '"]]', "box3d", ""),
    "map": ('[["', '"]]', "box3d", ""),
    "call": ('[["', '"]]', "component", ""),
    "raise": ('[/"', '"\\]', "trapezium", ""),
    "rollback": ('[/"', '"/]', "parallelogram", "dashed"),
}

_MERMAID_ARROWS = {"compensate": "-.->", "error": "==>"}


def mermaid_escape(text: str) -> str:
    """Escape text for a double-quoted Mermaid label or a ``%%`` comment.

    Markup characters become entity codes (no raw HTML); control characters and
    line separators become visible Python escapes, so the text stays on its line.
    """
    out = []
    for char in visible(text):
        if char in '"#<>&`':
            out.append(f"#{ord(char)};")
        else:
            out.append(char)
    return "".join(out)


def dot_escape(text: str) -> str:
    """Escape text for a double-quoted DOT string, on one line.

    Control characters and line separators become visible Python escapes (a
    label's lines are joined with DOT's own ``\\n`` by the template).
    """
    return visible(text).replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class _Drawn:
    id: str
    kind: str
    lines: list[str]
    open: str
    close: str
    shape: str
    style: str
    line: int


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vrb_compile.emit", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=lambda name: name is not None and name.endswith("html.j2"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mermaid"] = mermaid_escape
    env.filters["dot"] = dot_escape
    env.filters["visible"] = visible
    return env


_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV  # one environment per process: templates are compiled once
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def _drawn(graph: Graph) -> list[_Drawn]:
    drawn = []
    temps = temporaries(graph)
    for node in graph.nodes:
        open_, close, shape, style = _SHAPES[node.kind]
        drawn.append(
            _Drawn(
                node.id,
                node.kind,
                label_lines(graph, node, temps),
                open_,
                close,
                shape,
                style,
                node.line,
            )
        )
    return drawn


def _edges(graph: Graph) -> list[dict[str, Any]]:
    loops_of = {node.id: node.loops for node in graph.nodes}
    edges = []
    for edge in graph.edges:
        label = EDGE_LABELS.get(edge.kind, "")
        # A branch (or a finally copy) going straight back to the header of a loop
        # it is in (`if x: continue`, an `if` ending the body) is a back edge too.
        back = edge.kind == "loop" or (
            edge.kind != "compensate" and edge.target in loops_of.get(edge.source, ())
        )
        if back and edge.kind != "loop":
            label = f"{label} · loop"
        edges.append(
            {
                "source": edge.source,
                "target": edge.target,
                "kind": edge.kind,
                "label": label,
                "back": back,
                "arrow": _MERMAID_ARROWS.get(edge.kind, "-->"),
            }
        )
    return edges


def _layout(graph: Graph) -> dict[str, Any]:
    """A layered layout for the HTML page: longest path on the graph minus back edges."""
    backs = back_edges(graph)
    succ: dict[str, list[str]] = {node.id: [] for node in graph.nodes}
    indegree = {node.id: 0 for node in graph.nodes}
    for edge in graph.edges:
        if (edge.source, edge.target, edge.kind) not in backs:
            succ[edge.source].append(edge.target)
            indegree[edge.target] += 1
    layer = {node.id: 0 for node in graph.nodes}
    ready = [node.id for node in graph.nodes if indegree[node.id] == 0]
    while ready:
        current = ready.pop(0)
        for target in succ[current]:
            layer[target] = max(layer[target], layer[current] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    rows: dict[int, list[str]] = {}
    for node in graph.nodes:
        rows.setdefault(layer[node.id], []).append(node.id)
    width, height, gap_x, gap_y = 260, 70, 40, 50
    boxes: dict[str, dict[str, Any]] = {}
    widest = max(len(row) for row in rows.values())
    for depth, row in rows.items():
        offset = (widest - len(row)) * (width + gap_x) / 2
        for index, node_id in enumerate(row):
            boxes[node_id] = {
                "x": 20 + offset + index * (width + gap_x),
                "y": 20 + depth * (height + gap_y),
                "w": width,
                "h": height,
            }
    return {
        "boxes": boxes,
        "width": 40 + widest * (width + gap_x),
        "height": 40 + len(rows) * (height + gap_y),
    }


def render(graph: Graph, fmt: Format) -> str:
    """Render ``graph`` in ``fmt`` (``json``, ``mermaid``, ``dot`` or ``html``).

    Returns:
        The text, ending with a newline.
    """
    if fmt == "json":
        return graph.to_json()
    context: dict[str, Any] = {"graph": graph, "nodes": _drawn(graph), "edges": _edges(graph)}
    if fmt == "mermaid":
        return _env().get_template("mermaid.j2").render(context)
    if fmt == "dot":
        return _env().get_template("dot.j2").render(context)
    if fmt == "html":
        mermaid = _env().get_template("mermaid.j2").render(context)
        return (
            _env()
            .get_template("html.j2")
            .render({**context, "layout": _layout(graph), "mermaid": mermaid})
        )
    raise ValueError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")
