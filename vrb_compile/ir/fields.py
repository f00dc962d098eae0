"""The values a graph holds besides its Python source and its structure, checked one by one.

The runtime takes these as they are: names go into stores and messages, ids
into step keys (``n3@0.1#2``, split at ``@``, ``#`` and ``/``), options into
``timedelta`` arithmetic and retry loops, parameters into an
``inspect.Signature``. So :func:`field_problems` holds each to what the compiler
writes and the runtime can use:

* workflow, step and signal names, in graph files (:func:`name_problems`): the
  runtime's identifier rule (1 to 255 characters, not only whitespace, no
  control character, no lone surrogate), the rule of ``runtime._identifiers``
  (the compiler does not import the runtime);
* node ids: a letter or ``_``, then letters, digits and ``_`` (the compiler
  writes ``n<k>``), at most 64 characters;
* modules: dotted Python names; import refs ``pkg.mod:attr``;
* parameter lists: what ``inspect.Signature`` accepts (valid, distinct names in
  a valid order), the body's not reusing the ``ctx``/``self`` names;
* call arguments: keywords are identifiers, given once, never with ``*``;
* options: ``max_events`` a positive int, durations finite and non-negative,
  none beyond :data:`MAX_SECONDS`, a backoff factor of at least 1;
* line numbers: ``1 <= line <= end_line``; hashes: 64 lowercase hex digits.
"""

from __future__ import annotations

import inspect
import keyword
import math
import re
from collections.abc import Sequence

from .models import (
    Argument,
    CallNode,
    CodeNode,
    ExceptNode,
    Graph,
    MapNode,
    ParallelNode,
    Param,
    RollbackNode,
    StepNode,
)

__all__ = [
    "MAX_COUNT",
    "MAX_SECONDS",
    "MAX_TEXT",
    "field_problems",
    "name_problem",
    "name_problems",
    "node_id_problem",
]

MAX_SECONDS = 100 * 365 * 86400.0
"""The longest duration a graph may hold (a century: ``now + timedelta`` stays in range)."""

MAX_COUNT = 2**63 - 1
"""The largest count (``max_events``, ``retries``) a graph may hold: an int64."""

MAX_TEXT = 4096
"""The longest free text (a path, a qualified name) a graph may hold."""

_MAX_NAME = 255
_MAX_LINE = 10**9
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NODE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_HEX = re.compile(r"[0-9a-f]{64}")
_KINDS = {
    "positional_only": inspect.Parameter.POSITIONAL_ONLY,
    "positional_or_keyword": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "var_positional": inspect.Parameter.VAR_POSITIONAL,
    "keyword_only": inspect.Parameter.KEYWORD_ONLY,
    "var_keyword": inspect.Parameter.VAR_KEYWORD,
}


def name_problem(value: str) -> str | None:
    """Why ``value`` breaks the runtime's identifier rule, or ``None``."""
    if not value:
        return "is empty"
    if len(value) > _MAX_NAME:
        return f"is {len(value)} characters long (at most {_MAX_NAME})"
    found = _FORBIDDEN.search(value)
    if found is not None:
        return f"holds the control character or surrogate U+{ord(found.group()):04X}"
    if value.isspace():
        return "is only whitespace"
    return None


def node_id_problem(value: str) -> str | None:
    """Why ``value`` is not a node id (see the module docstring), or ``None``."""
    if _NODE_ID.fullmatch(value):
        return None
    return f"node id {_shown(value)} is not a letter or _ then up to 63 of [A-Za-z0-9_]"


def _text_problem(value: str) -> str | None:
    if len(value) > MAX_TEXT:
        return f"is {len(value)} characters long (at most {MAX_TEXT})"
    found = _FORBIDDEN.search(value)
    if found is not None:
        return f"holds the control character or surrogate U+{ord(found.group()):04X}"
    return None


def _identifier(value: str) -> bool:
    return value.isidentifier() and not keyword.iskeyword(value)


def _dotted(value: str) -> bool:
    return len(value) <= MAX_TEXT and all(_identifier(part) for part in value.split("."))


def _import_ref(value: str) -> bool:
    # The attribute may be ``<lambda>`` (a rollback_fn written as a lambda).
    module, colon, attr = value.partition(":")
    return bool(colon and attr) and _dotted(module) and _text_problem(attr) is None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _seconds(value: float | None, what: str, *, minimum: float = 0.0) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < minimum or value > MAX_SECONDS:
        return (
            f"{what} is {value!r}: it must be a finite number from {minimum:g} to {MAX_SECONDS:g}"
        )
    return None


def _signature_problem(params: Sequence[Param], what: str) -> str | None:
    """What ``inspect.Signature`` (the interpreter's binding) says of ``params``, if anything."""
    for param in params:
        if not _identifier(param.name):
            return f"{what} has the parameter name {_shown(param.name)}, not a Python identifier"
    try:
        inspect.Signature(
            [
                inspect.Parameter(
                    param.name,
                    _KINDS[param.kind],
                    default=inspect.Parameter.empty if param.default is None else None,
                )
                for param in params
            ]
        )
    except ValueError as error:
        return f"{what} has parameters Python would refuse ({error})"
    return None


def _argument_problems(arguments: Sequence[Argument], what: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for argument in arguments:
        if argument.keyword is None:
            continue
        if not _identifier(argument.keyword):
            problems.append(f"{what} passes the keyword {_shown(argument.keyword)}")
        elif argument.star:
            problems.append(f"{what} passes keyword {argument.keyword!r} with {argument.star!r}")
        elif argument.keyword in seen:
            problems.append(f"{what} passes keyword {argument.keyword!r} twice")
        seen.add(argument.keyword)
    return problems


def _header_problems(graph: Graph) -> list[str]:
    problems: list[str] = []
    options = graph.workflow
    if options.max_events is not None and not 1 <= options.max_events <= MAX_COUNT:
        problems.append(f"max_events is {options.max_events}: it must be a positive int64")
    problem = _seconds(options.execution_timeout, "execution_timeout")
    if problem is not None:
        problems.append(problem)
    source = graph.source
    if not _dotted(source.module):
        problems.append(f"source module {_shown(source.module)} is not a dotted Python name")
    for what, value in (("source path", source.path), ("source qualname", source.qualname)):
        problem = _text_problem(value)
        if problem is not None:
            problems.append(f"{what} {problem}")
    for what, value in (("source sha256", source.sha256), ("hash", graph.hash)):
        if not _HEX.fullmatch(value):
            problems.append(f"{what} {_shown(value)} is not 64 lowercase hex digits")
    special = [name for name in (graph.context_param, graph.self_param) if name is not None]
    for name in special:
        if not _identifier(name):
            problems.append(f"the context or self parameter {_shown(name)} is not an identifier")
    if len(set(special)) != len(special):
        problems.append("the context and self parameters have the same name")
    problem = _signature_problem(graph.params, "the workflow")
    if problem is not None:
        problems.append(problem)
    clashing = sorted({param.name for param in graph.params} & set(special))
    if clashing:
        problems.append(f"parameter {clashing[0]!r} has the name of the context or self parameter")
    return problems


def _step_problems(graph: Graph) -> list[str]:
    problems: list[str] = []
    for ref in graph.steps:
        what = f"step {_shown(ref.name)}"
        if not _import_ref(ref.ref):
            problems.append(f"{what} has the ref {_shown(ref.ref)}, not 'module:attr'")
        if ref.rollback_ref is not None and not _import_ref(ref.rollback_ref):
            problems.append(f"{what} has the rollback_ref {_shown(ref.rollback_ref)}")
        if ref.retries > MAX_COUNT:
            problems.append(f"{what} has {ref.retries} retries (at most {MAX_COUNT})")
        problems += [
            f"{what}: {problem}"
            for problem in (
                _seconds(ref.timeout, "timeout"),
                None if ref.backoff is None else _seconds(ref.backoff.initial, "backoff initial"),
                None if ref.backoff is None else _seconds(ref.backoff.max, "backoff max"),
                None
                if ref.backoff is None
                else _seconds(ref.backoff.factor, "backoff factor", minimum=1.0),
            )
            if problem is not None
        ]
    for signal in graph.signals:
        problem = None if signal.literal else _text_problem(signal.name)
        if problem is not None:
            problems.append(f"the signal name {_shown(signal.name)} {problem}")
        if signal.where != "body" and not signal.where.startswith("step:"):
            problems.append(f"signal {_shown(signal.name)} is waited at {_shown(signal.where)}")
    return problems


def _node_field_problems(graph: Graph) -> list[str]:
    problems: list[str] = []
    for node in graph.nodes:
        what = f"{node.kind} node {_shown(node.id)}"
        refs = [node.id, *node.loops, node.scope, getattr(node, "handling", None)]
        if isinstance(node, RollbackNode):
            refs.append(node.of)
        for ref in refs:
            problem = None if ref is None else node_id_problem(ref)
            if problem is not None:
                problems.append(problem)
        if not node.line <= node.end_line <= _MAX_LINE:
            problems.append(f"{what} spans lines {node.line} to {node.end_line}")
        arguments: list[tuple[Sequence[Argument], str]] = []
        if isinstance(node, StepNode | MapNode):
            arguments.append((node.args, what))
        elif isinstance(node, ParallelNode):
            arguments += [(b.args, f"{what} branch {i}") for i, b in enumerate(node.branches)]
        elif isinstance(node, CallNode):
            arguments.append((node.args, what))
            if not _dotted(node.module):
                problems.append(f"{what} names the module {_shown(node.module)}")
            if not _dotted(node.helper):
                problems.append(f"{what} calls the helper {_shown(node.helper)}")
            problem = _signature_problem(node.params, f"{what} (helper {node.helper})")
            if problem is not None:
                problems.append(problem)
        elif isinstance(node, CodeNode):
            bad = [name for name in node.assigns if not _identifier(name)]
            if bad:
                problems.append(f"{what} assigns {_shown(bad[0])}, not an identifier")
        elif isinstance(node, ExceptNode):
            if node.name is not None and not _identifier(node.name):
                problems.append(f"{what} binds the exception to {_shown(node.name)}")
        elif isinstance(node, RollbackNode) and not _import_ref(node.rollback_ref):
            problems.append(f"{what} has the rollback_ref {_shown(node.rollback_ref)}")
        for args, where in arguments:
            problems += _argument_problems(args, where)
    return problems


def name_problems(graph: Graph) -> list[str]:
    """The workflow, step and literal signal names of ``graph`` that break the identifier rule.

    Checked on graph files (:func:`.loader.parse_graph`): the runtime stores these
    names and quotes them in one-line messages. The build refuses such a
    workflow name itself (it names a file), and the emitters escape any name.
    """
    named = [("workflow", graph.workflow.name)]
    named += [("step", ref.name) for ref in graph.steps]
    named += [("signal", signal.name) for signal in graph.signals if signal.literal]
    problems: list[str] = []
    for kind, name in named:
        problem = name_problem(name)
        if problem is not None:
            problems.append(f"the {kind} name {_shown(name)} {problem}")
    return problems


def field_problems(graph: Graph) -> list[str]:
    """Every value of ``graph`` the runtime could not use as it is (see the module docstring)."""
    return _header_problems(graph) + _step_problems(graph) + _node_field_problems(graph)
