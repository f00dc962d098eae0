"""The Python source a graph holds, checked as the interpreter will run it.

Every field flagged ``python_source`` (see :mod:`.models`) is evaluated by the
runtime: an expression with ``eval``, a code block with ``exec``, an assignment
target as ``<target> = value``. :func:`source_problems` compiles each field the
way the interpreter does (``runtime.interpreter.evaluate``), so a graph that
loads never fails a run with a ``SyntaxError`` of its own. A field must be:

* ``expr``: one expression (``compile(source, ..., "eval")``);
* ``code``: statements at module level (``compile(source, ..., "exec")``: no
  ``return``, ``await``, ``yield``, ``break`` outside a loop ...);
* ``target``: an assignment target, ``<target> = _vrb_value`` being one plain
  assignment (chained targets ``a = b`` included, as the lowerer writes them).

Each is also bounded, before the parser sees it: :data:`MAX_SOURCE_CHARS`
characters and :data:`MAX_SOURCE_DEPTH` levels of syntax tree (Python's own
parser stops at 200 nested parentheses; a deeper tree makes ``compile``, and the
content hash's walk of the tree, run out of stack).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal, cast

from pydantic import BaseModel

from .models import (
    Argument,
    BranchNode,
    CallNode,
    CodeNode,
    ExceptNode,
    Graph,
    LoopNode,
    MapNode,
    ParallelNode,
    Param,
    RaiseNode,
    ReturnNode,
    SignalNode,
    SleepNode,
    StepNode,
)

__all__ = ["MAX_SOURCE_CHARS", "MAX_SOURCE_DEPTH", "SOURCE_KINDS", "source_problems"]

MAX_SOURCE_CHARS = 1_000_000
"""The longest Python source one field may hold, in characters."""

MAX_SOURCE_DEPTH = 200
"""The deepest syntax tree one field may hold (Python's limit on nested parentheses)."""

SourceKind = Literal["expr", "code", "target"]

SOURCE_KINDS: dict[tuple[type[BaseModel], str], SourceKind] = {
    (Param, "default"): "expr",
    (Argument, "expr"): "expr",
    (CodeNode, "code"): "code",
    (StepNode, "target"): "target",
    (BranchNode, "test"): "expr",
    (LoopNode, "target"): "target",
    (LoopNode, "iter"): "expr",
    (LoopNode, "test"): "expr",
    (SleepNode, "duration"): "expr",
    (SignalNode, "signal"): "expr",
    (SignalNode, "timeout"): "expr",
    (SignalNode, "target"): "target",
    (ParallelNode, "target"): "target",
    (MapNode, "item"): "target",
    (MapNode, "iter"): "expr",
    (MapNode, "ifs"): "expr",
    (MapNode, "target"): "target",
    (CallNode, "target"): "target",
    (RaiseNode, "exc"): "expr",
    (RaiseNode, "cause"): "expr",
    (ReturnNode, "value"): "expr",
    (ExceptNode, "type"): "expr",
}
"""How the interpreter runs each Python-source field (a test pins that it covers them all)."""

_VALUE = "_vrb_value"
_WHAT = {"expr": "an expression", "code": "Python statements", "target": "an assignment target"}


@lru_cache(maxsize=4096)
def source_problem(source: str, kind: SourceKind) -> str | None:
    """Why ``source`` cannot run as ``kind``, or ``None`` when it can."""
    if len(source) > MAX_SOURCE_CHARS:
        return f"is {len(source)} characters long, over the {MAX_SOURCE_CHARS} a field may hold"
    text = f"{source} = {_VALUE}" if kind == "target" else source
    mode = "eval" if kind == "expr" else "exec"
    try:
        tree = ast.parse(text, mode=mode)
    except (SyntaxError, ValueError) as error:  # ValueError: a NUL character
        return f"is not {_WHAT[kind]} ({_reason(error)})"
    except (RecursionError, MemoryError):  # the parser's own stack ran out
        return f"nests deeper than the {MAX_SOURCE_DEPTH} levels a field may hold"
    if kind == "target" and not _plain_assignment(tree):
        return f"is not {_WHAT[kind]}"
    if _depth(tree) > MAX_SOURCE_DEPTH:
        return f"nests deeper than the {MAX_SOURCE_DEPTH} levels a field may hold"
    try:
        # The symbol table's checks too: 'return' outside function, 'await' outside
        # an async function, 'break' outside a loop, nonlocal at module level.
        compile(cast("ast.Module | ast.Expression", tree), f"<vrb {mode}>", mode)
    except (SyntaxError, ValueError) as error:
        return f"is not {_WHAT[kind]} ({_reason(error)})"
    except (RecursionError, MemoryError):
        return f"nests deeper than the {MAX_SOURCE_DEPTH} levels a field may hold"
    return None


def _reason(error: Exception) -> str:
    message = error.msg if isinstance(error, SyntaxError) else str(error)
    return " ".join(str(message).split())[:120]


def _plain_assignment(tree: ast.AST) -> bool:
    """``<target> = _vrb_value`` parsed to one assignment of that value and nothing else."""
    if not isinstance(tree, ast.Module) or len(tree.body) != 1:
        return False
    statement = tree.body[0]
    return (
        isinstance(statement, ast.Assign)
        and isinstance(statement.value, ast.Name)
        and statement.value.id == _VALUE
    )


def _depth(tree: ast.AST) -> int:
    """The depth of the syntax tree, without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_SOURCE_DEPTH:
                return deepest
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _fields(model: BaseModel, where: str) -> Iterator[tuple[str, str, SourceKind]]:
    """``(where, source, kind)`` for each Python-source field set in ``model`` and below."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        kind = SOURCE_KINDS.get((type(model), name))
        if kind is not None:
            if isinstance(value, str):
                yield f"{where}{name}", value, kind
            elif isinstance(value, tuple):
                for index, item in enumerate(value):
                    yield f"{where}{name}[{index}]", item, kind
        elif isinstance(value, BaseModel):
            yield from _fields(value, f"{where}{name}.")
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _fields(item, f"{where}{name}[{index}].")


def source_problems(graph: Graph) -> list[str]:
    """Every Python-source field of ``graph`` that would not run as the interpreter runs it."""
    problems: list[str] = []
    for param in graph.params:
        for where, source, kind in _fields(param, f"parameter {param.name!r:.40} "):
            problem = source_problem(source, kind)
            if problem is not None:
                problems.append(f"{where} {problem}")
    for node in graph.nodes:
        for where, source, kind in _fields(node, f"{node.kind} node {node.id} "):
            problem = source_problem(source, kind)
            if problem is not None:
                problems.append(f"{where} {problem}")
    return problems
