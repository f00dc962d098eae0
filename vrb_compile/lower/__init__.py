"""Lowering: from a discovered workflow (LibCST) to its step graph (IR).

Pure functions: no I/O, the same source always gives the same graph (node
ids are assigned in lowering order). See :mod:`vrb_compile.ir.models` for the
meaning of every node and edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import libcst as cst

from ..discover import Index, WorkflowInfo
from ..ir.graph import validate
from ..ir.models import (
    SCHEMA_VERSION,
    BackoffOptions,
    Edge,
    EndNode,
    Graph,
    SignalRef,
    SourceInfo,
    StartNode,
    StepRef,
    WorkflowOptions,
)
from ..limits import LIMIT_HINT, too_deep
from .adapter import IndexResolver, signals_in_step
from .context import Ctx, LoweringError, Resolver, Span, StepLike
from .lowerer import BodyLowerer, Pending, params_of, signal_name, statements_of
from .saga import add_compensation

__all__ = ["LoweringError", "Resolver", "Span", "StepLike", "lower_function", "lower_workflow"]


def lower_workflow(
    info: WorkflowInfo, index: Index, *, unreachable: list[Span] | None = None
) -> Graph:
    """Lower one discovered workflow to its validated step graph.

    Args:
        info: The workflow, from :func:`vrb_compile.discover.discover`.
        index: The discovery index of every analysed source.
        unreachable: Collects where each run of statements no path reaches starts
            (left out of the graph; ``build`` reports them as VRB306).

    Returns:
        The graph, with its content hash, validated.

    Raises:
        LoweringError: The body holds a construct the graph cannot express
            (the checker reports these first, with a rule code).
    """
    function = info.function
    source = info.body_source
    if function is None:
        raise LoweringError(
            source.display_path,
            info.definition.span[0],
            info.name,
            f"the body {info.qualname} was not found in the analysed sources",
        )
    steps = index.steps

    def step_signals(step: StepLike) -> list[str]:
        found = steps.get(step.name)
        return signals_in_step(found) if found is not None else []

    module, _, qualname = info.qualname.partition(":")
    try:
        source.display_path.encode("utf-8")
    except UnicodeEncodeError:
        # The graph records its file and module in JSON, and a worker imports the module
        # by that name: bytes that are not UTF-8 in a file name can be neither.
        raise LoweringError(
            source.display_path,
            info.definition.span[0],
            info.name,
            "its file name is not valid UTF-8, so no graph can name it and no worker can "
            "import it; rename the file",
        ) from None
    try:
        return lower_function(
            function,
            IndexResolver(index, info),
            name=info.name,
            max_events=info.max_events,
            execution_timeout=info.execution_timeout,
            source=SourceInfo(
                module=module,
                qualname=qualname,
                path=source.display_path,
                sha256=source.sha256,
                style=info.style,
            ),
            step_signals=step_signals,
            unreachable=unreachable,
        )
    except RecursionError:
        # within the limits of vrb_compile.limits, yet too deep from this stack
        raise LoweringError(
            source.display_path,
            info.definition.span[0],
            info.name,
            f"{too_deep(stack=True)}; {LIMIT_HINT}",
        ) from None


def lower_function(
    function: cst.FunctionDef,
    resolver: Resolver,
    *,
    name: str,
    max_events: int | None,
    execution_timeout: float | None,
    source: SourceInfo,
    step_signals: Callable[[StepLike], list[str]] = lambda step: [],
    unreachable: list[Span] | None = None,
) -> Graph:
    """Lower a workflow body function to its validated step graph.

    Args:
        function: The body (``run`` for a class-style workflow).
        resolver: What the callees are, and where nodes are in the source.
        name: The workflow name.
        max_events: The workflow's ``max_events``.
        execution_timeout: The workflow's ``execution_timeout`` in seconds.
        source: Where the body comes from.
        step_signals: Sources of the signal names a step's body waits for.
        unreachable: Collects where unreachable statements start (see
            :func:`lower_workflow`).

    Raises:
        LoweringError: A construct the graph cannot express.
    """
    skip_self = 1 if source.style == "class" else 0
    all_params = params_of(resolver, function.params)
    self_param = all_params[0].name if skip_self and all_params else None
    rest = all_params[skip_self:]
    ctx_param = rest[0].name if rest else None
    params = rest[1:]

    lowerer = BodyLowerer(resolver, name, source.path)
    lines = resolver.lines(function)
    def_line = resolver.lines(function.name)[0]
    start = StartNode(id=lowerer.next_id(), line=def_line, end_line=def_line)
    lowerer.add(start, [], None)
    returns: list[Pending] = []
    ctx = Ctx(
        scope=None,
        loops=(),
        loop=None,
        raisers=None,
        finallys=(),
        returns=returns,
        helpers=(),
        ctx_names=frozenset(() if ctx_param is None else (ctx_param,)),
    )
    out = lowerer.lower_block(statements_of(function.body), [(start.id, "next")], ctx)
    if out or returns:
        # A body that always raises has no end: every path ends at a raise.
        end = EndNode(id=lowerer.next_id(), line=lines[1], end_line=lines[1])
        lowerer.add(end, [*out, *returns], None)

    add_compensation(lowerer.nodes, lowerer.edges, lowerer.steps)
    graph = Graph(
        schema_version=SCHEMA_VERSION,
        workflow=WorkflowOptions(
            name=name, max_events=max_events, execution_timeout=execution_timeout
        ),
        source=source,
        context_param=ctx_param,
        self_param=self_param,
        params=tuple(params),
        steps=tuple(_step_ref(step) for _, step in sorted(lowerer.steps.items())),
        signals=_signals(lowerer.body_signals, lowerer.steps, step_signals),
        nodes=tuple(lowerer.nodes),
        edges=tuple(
            Edge.model_validate({"source": s, "target": t, "kind": k})
            for s, t, k in sorted(lowerer.edges, key=_edge_key)
        ),
        entry=start.id,
        hash="",
    ).with_hash()
    validate(graph)
    if unreachable is not None:
        unreachable.extend(lowerer.unreachable)
    return graph


# runtime.Backoff's defaults, for a backoff given with only some of its keys.
_DEFAULT_BACKOFF = {"initial": 1.0, "factor": 2.0, "max": 60.0}


def _edge_key(edge: tuple[str, str, str]) -> tuple[int, str, int]:
    return (int(edge[0][1:]), edge[2], int(edge[1][1:]))


def _step_ref(step: StepLike) -> StepRef:
    backoff: Mapping[str, float] | None = step.backoff
    return StepRef(
        name=step.name,
        ref=step.ref,
        retries=step.retries,
        timeout=step.timeout,
        backoff=None
        if backoff is None
        else BackoffOptions.model_validate({**_DEFAULT_BACKOFF, **backoff}),
        rollback_ref=step.rollback_ref,
    )


def _signals(
    body: set[tuple[str, bool]],
    steps: Mapping[str, StepLike],
    step_signals: Callable[[StepLike], list[str]],
) -> tuple[SignalRef, ...]:
    found = {(name, literal, "body") for name, literal in body}
    for step_name, step in steps.items():
        for expr in step_signals(step):
            name, literal = signal_name(expr)
            found.add((name, literal, f"step:{step_name}"))
    return tuple(
        SignalRef(name=name, literal=literal, where=where)
        for name, literal, where in sorted(found, key=lambda item: (item[2], item[0]))
    )
