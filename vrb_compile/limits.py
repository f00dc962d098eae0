"""How long and how deep a source the compiler accepts, and the scan that enforces it.

The compiler's trees are walked recursively: by LibCST (its parser builds Python
objects recursively, its visitors and code generation recurse once or more per
level) and by the checker and the lowering. Python bounds that recursion (1,000
frames by default); the compiler never raises the limit, because that is a
process-wide side effect on whoever imports it, and because the stack itself is
not raised with it: with the limit at 5,000, a workflow module holding 5,000
chained ``.f()`` calls crashed LibCST's parser after a minute (a segfault, not an
exception). LibCST's parser is also quadratic in the length of a chain of calls
or subscripts and allocates hundreds of megabytes for a few thousand nested
``not``/``lambda``/conditional expressions.

So every source is measured at the door, before LibCST sees it, on Python's own
``ast`` tree (parsed anyway for the file's summary; the scan is iterative and
costs about a tenth of that parse), and refused with a ``VRB001`` naming the
limit when it is:

* longer than :data:`MAX_SOURCE_BYTES` bytes (the rest is not even read);
* deeper than :data:`MAX_DEPTH` levels, counted as LibCST nests (see
  :func:`deepest`: each operator of a chain ``a + b + ...``, each ``.attr``,
  ``(...)`` or ``[...]`` after an expression, each bracket and each block is
  one level or more);
* too deep for Python's own parser (``RecursionError``/``MemoryError`` while
  it builds the tree: 5,000 chained calls, a 100,000-term sum).

The deepest file of the standard library and of every package this project
installs (4,871 files) is 65 levels deep (a union of 64 types); at
:data:`MAX_DEPTH` LibCST and the walkers still have a third of the default
recursion limit to spare, however the tree nests. Whatever still runs out of
stack (implicit string concatenation, flat in ``ast``, nests in LibCST; a
caller with a very deep stack) raises ``RecursionError``, which the checker
and the lowering report as a ``VRB001`` on the file too.

:data:`MAX_HELPER_DEPTH` bounds the chain of helpers the checker follows from
a workflow body (``h0`` calls ``h1`` calls ... ``h1999``): the chain's findings
are reported up to that depth and the call beyond it is a ``VRB111`` (a call the
compiler cannot prove deterministic), so a longer chain is refused, never passed.
"""

from __future__ import annotations

import ast

__all__ = [
    "LIMIT_HINT",
    "MAX_DEPTH",
    "MAX_HELPER_DEPTH",
    "MAX_SOURCE_BYTES",
    "deepest",
    "parse_limited",
    "too_deep",
    "too_long",
]

#: The deepest syntax tree (in LibCST levels, see :func:`deepest`) the compiler accepts.
MAX_DEPTH = 200
#: The longest source file, in bytes (4 MiB; the largest module of the standard
#: library, ``pydoc_data/topics.py``, is 0.75 MB).
MAX_SOURCE_BYTES = 4 * 1024 * 1024
#: How many helpers deep the checker follows calls from a workflow body.
MAX_HELPER_DEPTH = 32


#: How many LibCST nodes stand between a node and its child in that field, where
#: it is more than one (``f(x)``: Call, Arg, Name; ``a[i]``: Subscript,
#: SubscriptElement, Index, Name; a statement in a block: the block, then the statement).
_FIELD_WEIGHT = {
    (ast.Call, "args"): 2,
    (ast.List, "elts"): 2,
    (ast.Tuple, "elts"): 2,
    (ast.Set, "elts"): 2,
    (ast.Dict, "keys"): 2,
    (ast.Dict, "values"): 2,
    (ast.Compare, "comparators"): 2,
    (ast.Subscript, "slice"): 3,
    **{(kind, "body"): 2 for kind in (ast.Module, ast.Interactive)},
    **{
        (kind, name): 2
        for kind in (
            ast.FunctionDef,
            ast.AsyncFunctionDef,
            ast.ClassDef,
            ast.For,
            ast.AsyncFor,
            ast.While,
            ast.If,
            ast.With,
            ast.AsyncWith,
            ast.Try,
            ast.TryStar,
            ast.ExceptHandler,
            ast.match_case,
        )
        for name in ("body", "orelse", "finalbody", "handlers")
    },
}


def deepest(tree: ast.AST) -> tuple[int, int]:
    """How deep LibCST's tree of ``tree`` nests, and the line of its deepest node.

    Measured on the ``ast`` tree, without recursion, in LibCST's levels: a call's
    argument is two levels below the call (LibCST wraps it in an ``Arg``), an
    index three, a statement in a block three (the block, the line); ``a and b
    and c``, flat in ``ast``, is a chain in LibCST, while an ``elif`` is one level.

    Returns:
        ``(depth, line)``; ``line`` is 1 for a tree without positions.
    """
    best, line = 0, 1
    stack: list[tuple[ast.AST, int, int]] = [(tree, 1, 1)]
    pop, push = stack.pop, stack.append
    weights = _FIELD_WEIGHT
    while stack:
        node, depth, at = pop()
        at = getattr(node, "lineno", at)
        if depth > best:
            best, line = depth, at
        kind = type(node)
        chain = len(node.values) - 1 if kind is ast.BoolOp else 0  # type: ignore[attr-defined]
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                push((value, depth + weights.get((kind, name), 1) + chain, at))
            elif type(value) is list and value:
                below = depth + weights.get((kind, name), 1) + chain
                if (
                    kind is ast.If
                    and name == "orelse"
                    and len(value) == 1
                    and type(value[0]) is ast.If
                    and value[0].col_offset == node.col_offset  # type: ignore[attr-defined]
                ):
                    below = depth + 1  # elif: LibCST's If.orelse is the next If itself
                for item in value:
                    if isinstance(item, ast.AST):
                        push((item, below, at))
    return best, line


def parse_limited(
    text: str, filename: str
) -> tuple[ast.Module | None, tuple[str, int, int, str] | None]:
    """Parse ``text`` with :func:`ast.parse`, refusing what is too deep.

    Returns:
        The tree and ``None``, or ``None`` and the problem as ``(message, line,
        column, hint)``: a one-line message (naming the limit when it is one of
        ours), 1-based position, and :data:`LIMIT_HINT` or ``""`` (the rule's hint fits).
    """
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        message = (exc.msg or "invalid syntax").splitlines()[0]
        return None, (message, exc.lineno or 1, max(exc.offset or 1, 1), "")
    except ValueError as exc:  # e.g. null bytes in the source
        return None, (" ".join(str(exc).split()), 1, 1, "")
    except (RecursionError, MemoryError):
        # Python's parser gave up building the tree: deeper than any limit of ours.
        return None, (too_deep(), 1, 1, LIMIT_HINT)
    depth, line = deepest(tree)
    if depth > MAX_DEPTH:
        return None, (too_deep(depth), line, 1, LIMIT_HINT)
    return tree, None


LIMIT_HINT = (
    "the limit is vrb-compile's, not Python's (py_compile accepts the file): split the "
    "expression or statement into smaller ones (intermediate variables, helper functions), "
    "or the module into several"
)
"""The hint of a ``VRB001`` for a source past a limit of this module."""


def too_deep(depth: int | None = None, *, stack: bool = False) -> str:
    """The ``VRB001`` message for a source nested too deeply, naming the limit.

    Args:
        depth: The depth measured (:func:`deepest`), when known.
        stack: Within the limits, but the stack ran out (``RecursionError``).
    """
    what = "operators, calls, attributes, brackets or blocks inside one another"
    if stack:
        found = f"its {what}, or helpers calling helpers, exhaust the stack"
    elif depth is None:
        found = f"more levels of {what} than Python's parser accepts"
    else:
        found = f"{depth:,} levels of {what}"
    return (
        f"the source is nested too deeply for the compiler: {found} "
        f"(the limit is {MAX_DEPTH:,} levels)"
    )


def too_long() -> str:
    """The ``VRB001`` message for a file longer than :data:`MAX_SOURCE_BYTES`."""
    return (
        f"the file is too long for the compiler: more than {MAX_SOURCE_BYTES:,} bytes (its limit)"
    )
