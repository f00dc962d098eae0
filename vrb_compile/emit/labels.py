"""What each node says in a drawing, shared by every renderer (plain text, unescaped).

Every label line is printable: whitespace runs (line breaks included) collapse
to one space and other control characters, bidi overrides and invisible format
characters show as Python escapes (``\\x1b``, ``\\u202e``; see :mod:`vrb_compile.terminal`),
so a name or an expression can never break a line of the output. Compiler
temporaries do not show: a step whose result only feeds a rewritten statement
shows no target, and the statement shows ``⟨step⟩`` where the temporary is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..ir.models import (
    Argument,
    BranchNode,
    CallNode,
    CodeNode,
    ExceptNode,
    Graph,
    LoopNode,
    MapNode,
    Node,
    ParallelNode,
    RaiseNode,
    ReturnNode,
    RollbackNode,
    SignalNode,
    SleepNode,
    StepNode,
)
from ..terminal import inert

__all__ = ["EDGE_LABELS", "label_lines", "shorten", "temporaries", "visible"]

MAX_WIDTH = 48
MAX_CODE_LINES = 3

#: Edge kinds drawn with a label (``next`` edges are drawn bare).
EDGE_LABELS = {
    "true": "true",
    "false": "false",
    "loop": "loop",
    "exit": "exit",
    "error": "error",
    "compensate": "compensate",
}


_TEMPORARY = re.compile(r"\b_vrb_(?:t\d+|return)\b")


def visible(text: str) -> str:
    """``text`` with control, format and line-separator characters as Python escapes (``\\n``)."""
    return inert(text)


def shorten(text: str, width: int = MAX_WIDTH) -> str:
    """One printable line of at most ``width`` characters (whitespace runs collapsed)."""
    text = visible(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def temporaries(graph: Graph) -> dict[str, str]:
    """What each compiler temporary of ``graph`` stands for in a label (``⟨step⟩``)."""
    found = {"_vrb_return": "⟨return value⟩"}
    for node in graph.nodes:
        target = getattr(node, "target", None)
        if not isinstance(target, str) or _TEMPORARY.fullmatch(target) is None:
            continue
        if isinstance(node, StepNode | MapNode):
            what = node.step
        elif isinstance(node, CallNode):
            what = f"{node.helper}()"
        else:
            what = node.kind
        found[target] = f"⟨{shorten(what, MAX_WIDTH // 2)}⟩"
    return found


def _hide(text: str, temps: Mapping[str, str]) -> str:
    if "_vrb_" not in text:
        return text
    return _TEMPORARY.sub(lambda match: temps.get(match.group(), match.group()), text)


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value:g}s"


def _args(args: tuple[Argument, ...]) -> str:
    parts = []
    for arg in args:
        prefix = f"{arg.keyword}=" if arg.keyword else arg.star
        parts.append(prefix + arg.expr)
    return ", ".join(parts)


def _assign(target: str | None, text: str) -> str:
    target = _shown(target)
    return f"{target} = {text}" if target else text


def _shown(target: str | None) -> str | None:
    """The target as drawn: none for a compiler temporary."""
    return None if target is None or _TEMPORARY.fullmatch(target) else target


def _into(text: str, target: str | None) -> str:
    target = _shown(target)
    return f"{text} → {target}" if target else text


def _options(graph: Graph, step: str) -> str:
    ref = graph.step_ref(step)
    parts = []
    if ref.retries:
        parts.append(f"retries {ref.retries}")
    if ref.timeout is not None:
        parts.append(f"timeout {_seconds(ref.timeout)}")
    if ref.rollback_ref:
        parts.append("rollback")
    return " · ".join(parts)


def label_lines(graph: Graph, node: Node, temps: Mapping[str, str] | None = None) -> list[str]:
    """The lines of text that label ``node`` (first line: what it is).

    Args:
        graph: The graph holding ``node``.
        node: The node.
        temps: :func:`temporaries` of ``graph`` (computed when not given).
    """
    lines = _label_lines(graph, node)
    if any("_vrb_" in line for line in lines):
        temps = temporaries(graph) if temps is None else temps
        lines = [_hide(line, temps) for line in lines]
    return lines


def _label_lines(graph: Graph, node: Node) -> list[str]:
    lines: list[str]
    if isinstance(node, StepNode):
        lines = [shorten(node.step), shorten(_into(f"({_args(node.args)})", node.target))]
        options = _options(graph, node.step)
        if options:
            lines.append(options)
    elif isinstance(node, CodeNode):
        code = node.code.splitlines()
        lines = [shorten(line) for line in code[:MAX_CODE_LINES]]
        if len(code) > MAX_CODE_LINES:
            lines.append(f"… {len(code) - MAX_CODE_LINES} more lines")
    elif isinstance(node, BranchNode):
        lines = [shorten(f"if {node.test}")]
    elif isinstance(node, LoopNode):
        header = f"for {node.target} in {node.iter}" if node.loop == "for" else f"while {node.test}"
        lines = [shorten(header)]
    elif isinstance(node, SleepNode):
        lines = [shorten(f"sleep {node.duration}")]
    elif isinstance(node, SignalNode):
        lines = ["wait for signal", shorten(_into(node.signal, node.target))]
        if node.timeout is not None:
            lines.append(shorten(f"timeout {node.timeout}"))
    elif isinstance(node, ParallelNode):
        lines = ["parallel", *(shorten(f"{b.step}({_args(b.args)})") for b in node.branches)]
        lines += [shorten(f"→ {_shown(node.target)}")] if _shown(node.target) else []
    elif isinstance(node, MapNode):
        lines = [
            shorten(f"map {node.step}"),
            shorten(f"({_args(node.args)}) for {node.item} in {node.iter}"),
        ]
        lines += [shorten(f"→ {_shown(node.target)}")] if _shown(node.target) else []
        options = _options(graph, node.step)
        if options:
            lines.append(options)
    elif isinstance(node, CallNode):
        lines = [
            shorten(_assign(node.target, f"{node.helper}({_args(node.args)})")),
            "inlined helper",
        ]
    elif isinstance(node, RaiseNode):
        lines = [shorten("raise" if node.exc is None else f"raise {node.exc}")]
    elif isinstance(node, ReturnNode):
        lines = [shorten("return" if node.value is None else f"return {node.value}")]
    elif isinstance(node, ExceptNode):
        text = "except" if node.type is None else f"except {node.type}"
        lines = [shorten(text + (f" as {node.name}" if node.name else ""))]
    elif isinstance(node, RollbackNode):
        lines = [shorten(f"rollback {node.step}"), shorten(node.rollback_ref)]
    elif node.kind == "start":
        params = ", ".join(p.name for p in graph.params)
        lines = [shorten(f"start({params})")]
    else:
        lines = ["end"]
    return lines
