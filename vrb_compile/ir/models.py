"""The step graph: the compiled form of one workflow, as immutable pydantic models.

A :class:`Graph` is what ``vrb-compile build`` writes and what the runtime's
interpreter walks. Every expression it stores is exact Python source, to be
evaluated by the runtime with ``eval``/``exec`` in the run's namespace (built on
the workflow module's globals, one namespace per frame). Control flow is fully
explicit: a node says where control goes next only through its outgoing edges.

How the interpreter walks a graph
---------------------------------
* ``start`` binds the run's arguments to :attr:`Graph.params` (and ``ctx`` /
  ``self`` to :attr:`Graph.context_param` / :attr:`Graph.self_param`), then
  follows its ``next`` edge.
* Every other non-terminal node does its work, then follows its one *control*
  edge, whichever of ``next`` (fall through), ``loop`` (back to a loop header:
  the end of a loop body or a ``continue``) or ``exit`` (a ``break``: straight
  past the loop and its ``else``) it has. ``branch`` and ``except`` nodes have a
  ``true`` and a ``false`` edge instead, and either may lead straight back to a
  loop header (an ``if`` ending a loop body, or ``if x: continue``); ``loop``
  nodes have a ``next`` (run the body once more) and an ``exit`` (done: to the
  ``else`` block or past the loop).
* An exception raised by a node (a failing step, a code node, a ``raise``, an
  unmatched ``except`` chain) follows the node's ``error`` edge when it has one:
  that leads to the first ``except`` clause of the innermost enclosing ``try``
  (or to a copy of its ``finally`` block that ends with a bare ``raise``; when
  that copy starts with ``break`` or ``continue``, straight to the jump's
  target: as in Python, the jump discards the exception). A node without an
  ``error`` edge lets the exception end the run. ``raise`` with no
  expression re-raises the exception being handled.
* ``finally`` blocks are lowered once per way out of the ``try`` (normal exit,
  exception, ``return``, ``break``, ``continue``), so every path is explicit and
  the interpreter needs no pending-action state. A ``return`` inside such a
  ``try`` evaluates its value into ``_vrb_return`` (a rewritten code node) before
  the ``finally`` copy runs, then returns ``_vrb_return``.
* ``return`` in the workflow body goes to the single ``end`` node by ``next``;
  the value is the run's result. ``end`` is terminal.

Loops and step keys
-------------------
Each node lists in :attr:`NodeBase.loops` the ids of the ``loop`` nodes that
enclose it, outermost first. The interpreter keeps one iteration counter per
active loop. Whether control arrives at a loop node to start it or to advance it
is decided by where it comes from, not by the edge kind (a ``continue`` after an
``if`` arrives on a ``true``/``false`` edge): arriving from a node whose
``loops`` contains this loop (its own body) advances the counter; arriving from
anywhere else starts it at 0 (a ``for`` evaluates its iterable then). A step's deterministic key is its node id plus the current counter of each
loop in ``loops`` (plus the branch index inside ``parallel``/``map``).

Inlined helpers
---------------
A call to a module-local ``async def`` helper becomes a ``call`` node that
pushes a new frame (its :attr:`CallNode.params` bound from the evaluated
arguments, like a Python call) and continues into the helper's inlined body.
Nodes of that body carry the call node's id in :attr:`NodeBase.scope`; their
``return`` nodes pop the frame, bind the value to the call's ``target`` in the
caller's frame, and follow their ``next`` edge back into the caller. Nodes of
the helper have ``error`` edges only to handlers inside the helper: an
exception escaping the helper pops its frame and follows the call node's
``error`` edge (or ends the run), so the caller's handler runs in the caller's
frame.

Compensation (sagas)
--------------------
Each ``step`` node whose step has a ``rollback_fn`` (and each ``parallel`` branch
or ``map`` whose step has one) has a ``compensate`` edge to its own ``rollback``
node. A rollback node has ``compensate`` edges to the rollback nodes of the
rollback-capable steps that may have completed just before its step, on any
path: following ``compensate`` edges from a rollback node walks the saga in the
order it runs (reverse completion order). A rollback node without outgoing
edges ends the saga. Rollback nodes are documentation of the order and tell the
interpreter which rollback belongs to which step node; at run time the
interpreter compensates from the log (the steps that actually completed).

The content hash
----------------
:attr:`Graph.hash` is the sha256 of the canonical JSON of :func:`hash_payload`:
the graph without ``hash`` itself, without the source ``path`` and ``sha256``,
without every node's ``line``/``end_line``, and with every field that holds
Python source (code, expressions, assignment targets, defaults; see
:func:`normalised_source`) replaced by its syntax tree. The graph file keeps
the source text verbatim (the runtime finds code nodes at their lines in the
module); the hash covers what it means. So a change that does not change the
graph does not change the hash: editing or adding a comment, reformatting a
statement (``total = 0`` to ``total  =  0``, a literal split over lines,
quotes), moving the workflow in its file. Changing what runs does.
:func:`canonical_json` is ``json.dumps`` with sorted keys, ``(",", ":")``
separators and ``ensure_ascii=False``, encoded as UTF-8.
"""

from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticUndefined

__all__ = [
    "SCHEMA_VERSION",
    "Argument",
    "BackoffOptions",
    "BranchNode",
    "CallNode",
    "CodeNode",
    "Edge",
    "EdgeKind",
    "EndNode",
    "ExceptNode",
    "Graph",
    "LoopNode",
    "MapNode",
    "Node",
    "NodeBase",
    "ParallelBranch",
    "ParallelNode",
    "Param",
    "RaiseNode",
    "ReturnNode",
    "RollbackNode",
    "SignalNode",
    "SignalRef",
    "SleepNode",
    "SourceInfo",
    "StartNode",
    "StepNode",
    "StepRef",
    "WorkflowOptions",
    "canonical_json",
    "compute_hash",
    "hash_payload",
    "normalised_source",
]

SCHEMA_VERSION = 1
"""Version of the graph format; the loader refuses any other."""

EdgeKind = Literal["next", "true", "false", "loop", "exit", "error", "compensate"]
"""The kinds of edge (SPEC section 5)."""

CONTROL_EDGE_KINDS: frozenset[str] = frozenset({"next", "loop", "exit"})
"""Edge kinds that pass control on after a node has done its work."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _source(default: Any = PydanticUndefined, *, description: str) -> Any:
    """A field holding Python source: the content hash covers its syntax tree, not its text."""
    return Field(default, description=description, json_schema_extra={"python_source": True})


class WorkflowOptions(_Model):
    """The workflow's name and circuit breakers."""

    name: str = Field(description="Registered workflow name, used to trigger runs.")
    max_events: int | None = Field(description="Cap on the run's event log, or null.")
    execution_timeout: float | None = Field(
        description="Cap on the run's wall time in seconds, or null."
    )


class SourceInfo(_Model):
    """Where the workflow was compiled from."""

    module: str = Field(description="Dotted module name that defines the workflow.")
    qualname: str = Field(description="Qualified name of the body function or class.")
    path: str = Field(description="Source file path as given to the compiler (posix).")
    sha256: str = Field(description="sha256 of the source file's bytes (hex).")
    style: Literal["functional", "decorator", "class"] = Field(
        description="Authoring style of the workflow."
    )


class Param(_Model):
    """One parameter of the workflow body or of an inlined helper."""

    name: str = Field(description="Parameter name.")
    kind: Literal[
        "positional_only", "positional_or_keyword", "var_positional", "keyword_only", "var_keyword"
    ] = Field(description="Python parameter kind, as inspect.Parameter names them (lowercase).")
    default: str | None = _source(
        default=None, description="Source of the default expression, or null when required."
    )


class BackoffOptions(_Model):
    """A step's retry backoff in seconds; see ``runtime.Backoff``."""

    initial: float = Field(description="Delay before the first retry.")
    factor: float = Field(description="Multiplier per further retry.")
    max: float = Field(description="Upper bound of any delay.")


class StepRef(_Model):
    """A step the workflow calls, and its options."""

    name: str = Field(description="Registered step name.")
    ref: str = Field(description='Import ref "module:attr" of the step object.')
    retries: int = Field(ge=0, description="Further attempts after the first failure.")
    timeout: float | None = Field(description="Per-attempt limit in seconds, or null.")
    backoff: BackoffOptions | None = Field(description="Retry backoff; null means the default.")
    rollback_ref: str | None = Field(
        description='Import ref "module:attr" of the rollback function, or null.'
    )


class SignalRef(_Model):
    """A signal the workflow can wait for."""

    name: str = Field(description="The signal name, or the name expression's source if dynamic.")
    literal: bool = Field(description="True when name is a string literal in the source.")
    where: str = Field(
        description='"body" for a wait in the workflow body, "step:<name>" for one in a step.'
    )


class Argument(_Model):
    """One argument of a call, as Python source."""

    expr: str = _source(description="Source of the argument expression.")
    keyword: str | None = Field(default=None, description="Keyword name, or null if positional.")
    star: Literal["", "*", "**"] = Field(default="", description="Unpacking: '', '*' or '**'.")


class NodeBase(_Model):
    """Fields every node has."""

    id: str = Field(description='Stable id, "n<k>" in lowering order.')
    line: int = Field(ge=1, description="1-based first source line the node comes from.")
    end_line: int = Field(ge=1, description="1-based last source line the node comes from.")
    loops: tuple[str, ...] = Field(
        default=(), description="Ids of the enclosing loop nodes, outermost first."
    )
    scope: str | None = Field(
        default=None, description="Id of the call node whose inlined helper holds this node."
    )


class StartNode(NodeBase):
    """The entry: binds the run's arguments to the parameters."""

    kind: Literal["start"] = "start"


class EndNode(NodeBase):
    """The single exit of the workflow body; the run's result is the last return value."""

    kind: Literal["end"] = "end"


class CodeNode(NodeBase):
    """A basic block of pure statements, executed with ``exec`` in the current frame."""

    kind: Literal["code"] = "code"
    code: str = _source(description="Python statements, one per line, at indentation zero.")
    assigns: tuple[str, ...] = Field(description="Names the statements bind, sorted.")
    rewritten: bool = Field(
        default=False,
        description=(
            "False when code is the statements' source verbatim (comments outside them "
            "removed); true when the compiler rewrote it (awaited steps replaced by the "
            "temporaries ``_vrb_t<k>`` bound by preceding step nodes, return values saved)."
        ),
    )


class StepNode(NodeBase):
    """An awaited step call."""

    kind: Literal["step"] = "step"
    step: str = Field(description="Name of the step, declared in Graph.steps.")
    args: tuple[Argument, ...] = Field(description="Arguments, in call order.")
    target: str | None = _source(
        description="Source of the assignment target of the result (a name, tuple, "
        "subscript ...), or null when the result is discarded."
    )


class BranchNode(NodeBase):
    """``if``/``elif``: follows ``true`` when the test is truthy, else ``false``."""

    kind: Literal["branch"] = "branch"
    test: str = _source(description="Source of the test expression.")


class LoopNode(NodeBase):
    """A loop header: ``next`` runs the body once more, ``exit`` leaves the loop."""

    kind: Literal["loop"] = "loop"
    loop: Literal["for", "while"] = Field(description="The loop statement.")
    target: str | None = _source(description="for: source of the loop target; while: null.")
    iter: str | None = _source(description="for: source of the iterable; while: null.")
    test: str | None = _source(description="while: source of the test; for: null.")


class SleepNode(NodeBase):
    """``await ctx.sleep(duration)``: a durable timer."""

    kind: Literal["sleep"] = "sleep"
    duration: str = _source(description="Source of the duration expression.")


class SignalNode(NodeBase):
    """``await ctx.wait_for_signal(name, timeout=...)``."""

    kind: Literal["signal"] = "signal"
    signal: str = _source(description="Source of the signal-name expression.")
    timeout: str | None = _source(description="Source of the timeout expression, or null.")
    target: str | None = _source(description="Source of the assignment target, or null.")


class ParallelBranch(_Model):
    """One branch of ``ctx.parallel``: a single step call."""

    step: str = Field(description="Name of the step, declared in Graph.steps.")
    args: tuple[Argument, ...] = Field(description="Arguments, in call order.")


class ParallelNode(NodeBase):
    """``await ctx.parallel([lambda: s1(x), ...])``: results in branch order."""

    kind: Literal["parallel"] = "parallel"
    branches: tuple[ParallelBranch, ...] = Field(description="The branches, in order.")
    target: str | None = _source(description="Source of the target of the result list, or null.")


class MapNode(NodeBase):
    """``await asyncio.gather(*(s(x) for x in xs))``: one step call per item, concurrently."""

    kind: Literal["map"] = "map"
    step: str = Field(description="Name of the step, declared in Graph.steps.")
    args: tuple[Argument, ...] = Field(description="Arguments, evaluated per item.")
    item: str = _source(description="Source of the comprehension target (bound per item).")
    iter: str = _source(description="Source of the iterable.")
    ifs: tuple[str, ...] = _source(default=(), description="Sources of the comprehension's ifs.")
    target: str | None = _source(description="Source of the target of the result list, or null.")


class CallNode(NodeBase):
    """A call to an inlined module-local helper: pushes a frame, enters its body."""

    kind: Literal["call"] = "call"
    helper: str = Field(description="Qualified name of the helper function.")
    module: str = Field(description="Module whose globals the helper's frame is built on.")
    params: tuple[Param, ...] = Field(description="The helper's parameters.")
    args: tuple[Argument, ...] = Field(description="Arguments, in call order.")
    target: str | None = _source(description="Source of the target of the return value, or null.")


class RaiseNode(NodeBase):
    """``raise``: follows the ``error`` edge if any, else fails the run."""

    kind: Literal["raise"] = "raise"
    exc: str | None = _source(description="Source of the exception, or null to re-raise.")
    cause: str | None = _source(default=None, description="Source of the ``from`` clause, or null.")
    handling: str | None = Field(
        default=None,
        description="Id of the node where the exception being handled at this raise arrived "
        "(the first except clause of the handler, or the entry of a finally block run on the "
        "error path): a bare raise re-raises that exception, and it is the context of a new "
        "one. Null where no exception is handled.",
    )


class ReturnNode(NodeBase):
    """``return``: the run's result (or, with a scope, the inlined helper's value)."""

    kind: Literal["return"] = "return"
    value: str | None = _source(description="Source of the returned expression, or null.")


class ExceptNode(NodeBase):
    """One ``except`` clause: ``true`` when the exception matches, else ``false``."""

    kind: Literal["except"] = "except"
    type: str | None = _source(description="Source of the exception type, or null (bare except).")
    name: str | None = Field(description="The ``as`` name, or null.")


class RollbackNode(NodeBase):
    """The rollback of one step node (or parallel branch / map)."""

    kind: Literal["rollback"] = "rollback"
    step: str = Field(description="Name of the step it compensates.")
    rollback_ref: str = Field(description='Import ref "module:attr" of the rollback function.')
    of: str = Field(description="Id of the step, parallel or map node it compensates.")
    branch: int | None = Field(default=None, description="Parallel branch index, or null.")


Node = Annotated[
    StartNode
    | EndNode
    | CodeNode
    | StepNode
    | BranchNode
    | LoopNode
    | SleepNode
    | SignalNode
    | ParallelNode
    | MapNode
    | CallNode
    | RaiseNode
    | ReturnNode
    | ExceptNode
    | RollbackNode,
    Field(discriminator="kind"),
]
"""Any node, discriminated by ``kind``."""


class Edge(_Model):
    """A directed edge between two nodes."""

    source: str = Field(description="Id of the node control leaves.")
    target: str = Field(description="Id of the node control reaches.")
    kind: EdgeKind = Field(description="What the edge means; see the module docstring.")


class Graph(_Model):
    """The compiled step graph of one workflow."""

    schema_version: Literal[1] = Field(description="Version of this format.")
    workflow: WorkflowOptions = Field(description="Name and circuit breakers.")
    source: SourceInfo = Field(description="Where the workflow was compiled from.")
    context_param: str | None = Field(description="Name of the WorkflowContext parameter.")
    self_param: str | None = Field(description="Class style: name of the self parameter.")
    params: tuple[Param, ...] = Field(description="Run parameters (after self and ctx).")
    steps: tuple[StepRef, ...] = Field(description="Steps the workflow calls, sorted by name.")
    signals: tuple[SignalRef, ...] = Field(
        description="Signals the workflow can wait for, sorted by (where, name)."
    )
    nodes: tuple[Node, ...] = Field(description="Nodes in id order; the first is the start.")
    edges: tuple[Edge, ...] = Field(description="Edges sorted by (source, kind, target).")
    entry: str = Field(description="Id of the start node.")
    hash: str = Field(description="sha256 content hash; see the module docstring.")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        # Literal[1] alone lets true and 1.0 through (they compare equal to 1).
        if type(value) is not int:
            raise ValueError(f"schema_version must be the integer {SCHEMA_VERSION}, not {value!r}")
        return value

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id``.

        Raises:
            KeyError: No such node.
        """
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def step_ref(self, name: str) -> StepRef:
        """The declared step called ``name``.

        Raises:
            KeyError: The graph does not declare it.
        """
        for ref in self.steps:
            if ref.name == name:
                return ref
        raise KeyError(name)

    def out_edges(self, node_id: str) -> list[Edge]:
        """Edges leaving ``node_id``, in canonical order."""
        return [edge for edge in self.edges if edge.source == node_id]

    def to_json(self) -> str:
        """The graph as it is written to disk: canonical, indented for review, newline-ended."""
        return (
            json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False)
            + "\n"
        )

    def with_hash(self) -> Graph:
        """A copy whose ``hash`` is the content hash of this graph."""
        return self.model_copy(update={"hash": compute_hash(self)})


def canonical_json(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, no ASCII escaping."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_payload(graph: Graph) -> dict[str, Any]:
    """What the content hash covers.

    The graph without ``hash``, the source ``path`` and ``sha256`` and every
    node's ``line``/``end_line``, with each Python source field (code,
    expressions, targets) replaced by :func:`normalised_source` of it.
    """
    data = graph.model_dump(mode="json")
    data.pop("hash")
    data["source"].pop("path")
    data["source"].pop("sha256")
    for node in data["nodes"]:
        node.pop("line")
        node.pop("end_line")
    _normalise_fields(graph, data)
    return data


def _normalise_fields(model: BaseModel, data: dict[str, Any]) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get("python_source"):
            if isinstance(value, str):
                data[name] = normalised_source(value)
            elif isinstance(value, tuple):
                data[name] = [normalised_source(item) for item in value]
        elif isinstance(value, BaseModel):
            _normalise_fields(value, data[name])
        elif isinstance(value, tuple):
            for item, dumped in zip(value, data[name], strict=True):
                if isinstance(item, BaseModel):
                    _normalise_fields(item, dumped)


@lru_cache(maxsize=4096)
def normalised_source(text: str) -> Any:
    """The syntax tree of Python source as plain JSON data, independent of its layout.

    Comments, whitespace, line breaks, redundant parentheses and the quoting of
    string literals do not show; anything that changes what the code does does.
    The form is built field by field (no ``ast.dump``, whose output changes
    between Python versions), leaving out empty and null fields, so the same
    source gives the same form on every supported Python.

    Text that does not parse (never written by the compiler) is kept as is.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    return _tree(tree)


def _tree(node: Any) -> Any:
    if isinstance(node, ast.AST):
        fields: dict[str, Any] = {}
        for name, value in ast.iter_fields(node):
            if name in ("kind", "type_comment", "type_ignores") or value is None or value == []:
                continue
            fields[name] = _tree(value)
        return [type(node).__name__, fields]
    if isinstance(node, list):
        return [_tree(item) for item in node]
    # Constants: str, bytes, numbers, bool, None, Ellipsis.
    return [type(node).__name__, repr(node)]


def compute_hash(graph: Graph) -> str:
    """The content hash of ``graph`` (whatever its ``hash`` field holds)."""
    return hashlib.sha256(canonical_json(hash_payload(graph))).hexdigest()
