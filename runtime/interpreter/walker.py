"""The graph walker: advances a run through its step graph.

The walker evaluates control flow and pure code itself and delegates every
durable operation (a step, a sleep, a signal wait, a saga) to a :class:`Host`,
which answers from the run's journal when the history already holds the
outcome and performs (and records) it otherwise. The walker has no clock and
does no I/O: given the same graph and the same host answers it takes the same
path, which is what makes replay safe.

It also checks, as it goes, that it reaches the durable operations in the order
the history recorded them with the same step names; a divergence raises
:class:`Diverged` (carrying a :class:`runtime.NondeterminismError`) instead of
corrupting the run.

Loops
-----
A loop whose body awaits nothing never reaches a durable operation, so no
checkpoint would ever stop it, and evaluating it never gives the event loop
back. The walker therefore counts loop *turns* (arrivals at a loop node from
inside its body):

* every :data:`TURNS_PER_PAUSE` turns it lets the host pause (:meth:`Host.pause`):
  yield to the event loop, so that the worker's other runs and its lease
  heartbeat go on, and stop the run if it must stop anyway: its lease lost,
  cancellation, ``execution_timeout``, the worker stopping;
* a ``while`` loop may turn at most ``max_events`` x :data:`LOOP_TURNS_PER_EVENT`
  times in a row without the walk passing a durable operation; one more turn
  trips the ``max_events`` breaker. The turns are counted from the code alone
  (reset by each durable operation, replayed or not), so a replay trips at the
  very turn the live run did. ``for`` loops are not counted: their iterables
  end (a generator that never ends is the exception), and a long pure ``for``
  is legitimate work, not a runaway.
"""

from __future__ import annotations

import operator
import random as _random
import uuid as _uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from vrb_compile.ir.models import (
    BranchNode,
    CallNode,
    CodeNode,
    EndNode,
    ExceptNode,
    Graph,
    LoopNode,
    MapNode,
    Node,
    ParallelNode,
    RaiseNode,
    ReturnNode,
    SignalNode,
    SleepNode,
    StartNode,
    StepNode,
)

from ..context import WorkflowContext
from ..durations import parse_duration
from ..errors import ConfigurationError, NondeterminismError, StepFailed
from .evaluate import assign, bind_params, call_args, evaluate, execute, module_namespace
from .state import ControlFlow, Journal, Tripped, step_key

__all__ = [
    "LOOP_TURNS_PER_EVENT",
    "TURNS_PER_PAUSE",
    "BodyFailed",
    "Diverged",
    "Host",
    "StepCall",
    "StepFailure",
    "WalkState",
    "Walker",
]

#: Under ``max_events``, a ``while`` loop's turns in a row without a durable
#: operation are capped at ``max_events`` times this. Generous: a pure loop that
#: ends (digits of a number, a search in memory) must not trip the breaker; one
#: that never ends trips after a bounded amount of work.
LOOP_TURNS_PER_EVENT = 1000

#: Loop turns between two host pauses (:meth:`Host.pause`). A tight turn costs
#: some 7 us and a zero sleep some 4: pausing at every turn made
#: ``while i < n: i += 1`` 65% slower, at every 64th turn 4%.
TURNS_PER_PAUSE = 64


@dataclass(frozen=True)
class StepCall:
    """One step invocation the walker asks the host for."""

    key: str
    step: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class StepFailure(Exception):
    """A step failed for good (host -> walker); the walker runs the saga, then raises StepFailed.

    Attributes:
        step: The step name.
        cause: The error of its last attempt.
    """

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(step)
        self.step = step
        self.cause = cause


class Diverged(ControlFlow):
    """The walk and the history disagree; ``error`` says where."""

    def __init__(self, error: NondeterminismError) -> None:
        super().__init__(str(error))
        self.error = error


class BodyFailed(ControlFlow):
    """An exception escaped the workflow body: the run fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Host(Protocol):
    """What performs (or replays) the durable operations of one run."""

    run_id: str
    workflow_name: str

    async def checkpoint(self, keys: Sequence[str]) -> None:
        """Raise a control signal if the run must stop before the operations ``keys``.

        Operations the history already settled are replayed, never stopped.
        """

    async def pause(self, *, replaying: bool) -> None:
        """Give the event loop a turn; raise a control signal if the run must stop.

        Called every :data:`TURNS_PER_PAUSE` loop turns, where no operation key
        is at hand: a loop that awaits nothing would otherwise hold the event
        loop for good. Only what stops a run whatever its log says may stop it
        here (its lease lost, cancellation, the execution deadline passed, the
        worker stopping); the log-counted ``max_events`` decision stays at
        checkpoints, so a replay stops where the live run did.

        Args:
            replaying: The history records durable operations after this point: a
                claim before this one went past it, so only a lost lease or the
                worker stopping may stop the walk here.
        """

    async def run_step(self, call: StepCall) -> Any:
        """Return the step's output; raise :class:`StepFailure` if it failed for good."""

    async def run_parallel(self, calls: Sequence[StepCall]) -> list[Any]:
        """Run calls concurrently; outputs in order, or the first :class:`StepFailure`."""

    async def compensate(self, error: BaseException) -> list[str]:
        """Run the saga; return the names of the steps whose rollbacks completed."""

    async def sleep(self, key: str, seconds: float) -> None:
        """A durable timer."""

    async def wait_signal(self, key: str, name: str, timeout: float | None) -> Any:
        """The next payload of signal ``name``; raise SignalTimeout when it runs out."""

    def now(self) -> datetime:
        """The deterministic current time at this point of the walk.

        Answerable at any point, however the body reaches ``ctx.now`` (an alias,
        a helper, a value passed around): the host knows the time of every event
        the walk has passed.
        """


class _Backend:
    """The WorkflowContext backend inside a durable run: deterministic values only."""

    def __init__(self, host: Host) -> None:
        self._host = host
        # Seeded by the run id and consumed in walk order, so replay draws the same values.
        self._rng = _random.Random(f"vrb:{host.run_id}")

    def _refuse(self, what: str) -> Any:
        raise ConfigurationError(
            f"ctx.{what} can only be awaited as a statement of the compiled workflow body; "
            "rebuild the graph if the body changed"
        )

    async def sleep(self, seconds: float) -> None:
        self._refuse("sleep")

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        return self._refuse("wait_for_signal")

    async def parallel(self, branches: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
        return list(self._refuse("parallel"))

    def now(self) -> datetime:
        return self._host.now()

    def random(self) -> float:
        return self._rng.random()

    def uuid4(self) -> _uuid.UUID:
        return _uuid.UUID(int=self._rng.getrandbits(128), version=4)


@dataclass(frozen=True)
class WalkState:
    """Where a walk stands: what replay must rebuild exactly (see :meth:`Walker.state`).

    Attributes:
        node: The id of the node being executed (``None`` before the first).
        visited: Durable operations reached so far: the walk's position in the
            journal's order.
        idle_turns: ``while`` loop turns since the last durable operation (what
            the ``max_events`` loop budget counts; see the module docstring).
        counters: The iteration counter of each loop entered, by loop node id.
        remaining: Items a ``for`` loop has yet to take, by loop node id.
        frames: Each frame's namespace (the body's, then helper calls'), as a
            shallow copy: the values are the walk's own objects.
        errors: Each frame's exception being handled, if any.
        result: The value the body returned (``None`` until it returns).
    """

    node: str | None
    visited: int
    idle_turns: int
    counters: dict[str, int]
    remaining: dict[str, int]
    frames: tuple[dict[str, Any], ...]
    errors: tuple[BaseException | None, ...]
    result: Any


@dataclass
class _Frame:
    namespace: dict[str, Any]
    call: CallNode | None = None
    error: BaseException | None = None
    # Per node an error edge led to, the exception that arrived there: a handler
    # re-raises its own one even after a try nested inside it caught another.
    caught: dict[str, BaseException] = field(default_factory=dict)


@dataclass
class _Index:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, dict[str, str]] = field(default_factory=dict)


def _index(graph: Graph) -> _Index:
    index = _Index({node.id: node for node in graph.nodes})
    for edge in graph.edges:
        if edge.kind != "compensate":
            index.edges.setdefault(edge.source, {})[edge.kind] = edge.target
    return index


class Walker:
    """Walks one run of a graph from its start, replaying what the journal holds.

    Args:
        graph: The graph the run is pinned to.
        host: Performs durable operations.
        journal: The run's history, indexed.
        module: The module whose globals the body's namespace is built on.
        args: Positional run arguments.
        kwargs: Keyword run arguments.
        instance: For a class-style workflow, the ``self`` object.
    """

    def __init__(
        self,
        graph: Graph,
        host: Host,
        journal: Journal,
        *,
        module: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        instance: Any = None,
    ) -> None:
        self.graph = graph
        self.host = host
        self.journal = journal
        self._index = _index(graph)
        self._module = module
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._instance = instance
        self._frames: list[_Frame] = []
        self._counters: dict[str, int] = {}
        self._iterators: dict[str, Iterator[Any]] = {}
        self._visited = 0
        self._turns = 0
        self._idle_turns = 0
        self._max_events = graph.workflow.max_events
        self._result: Any = None
        self._node: str | None = None
        # Graphs built before RaiseNode.handling existed have it null everywhere; in newer
        # ones (every handler and finally copy ends in a raise that names it) null means
        # that no exception is being handled there.
        self._legacy_raises = not any(
            isinstance(node, RaiseNode) and node.handling is not None for node in graph.nodes
        )
        self.context = WorkflowContext(host.run_id, host.workflow_name, _Backend(host))

    def state(self) -> WalkState:
        """A snapshot of the walk, for tests and diagnostics; reading it changes nothing."""
        return WalkState(
            node=self._node,
            visited=self._visited,
            idle_turns=self._idle_turns,
            counters=dict(self._counters),
            remaining={
                loop: operator.length_hint(items) for loop, items in self._iterators.items()
            },
            frames=tuple(dict(frame.namespace) for frame in self._frames),
            errors=tuple(frame.error for frame in self._frames),
            result=self._result,
        )

    # ------------------------------------------------------------------ checks

    def _visit(self, key: str, step: str | None) -> None:
        order = self.journal.order
        index = self._visited
        self._visited += 1
        self._idle_turns = 0
        if index >= len(order):
            if key in self.journal.steps or key in self.journal.waits:
                self._diverge(key, step, f"{key} earlier in the run")
            return
        recorded = order[index]
        # Branches of one parallel/map node may have started in any order; the
        # node must match, and each branch key must hold the same step.
        same_node = recorded.partition("#")[0] == key.partition("#")[0]
        record = self.journal.steps.get(key)
        recorded_step = self.journal.order_steps.get(recorded if not same_node else key)
        if record is not None:
            recorded_step = record.step
        if not same_node or recorded_step != step:
            shown = self.journal.order_steps.get(recorded)
            what = f"step {shown!r}" if shown else "a wait"
            self._diverge(key, step, f"{what} at {recorded}")

    def _diverge(self, key: str, step: str | None, recorded: str) -> None:
        expected = f"step {step!r} at {key}" if step else f"a wait at {key}"
        raise Diverged(NondeterminismError(self.host.run_id, key, expected, recorded))

    def _finish_check(self) -> None:
        if self._visited < len(self.journal.order):
            recorded = self.journal.order[self._visited]
            raise Diverged(
                NondeterminismError(
                    self.host.run_id,
                    recorded,
                    "the run to end",
                    f"{self.journal.order_steps.get(recorded) or 'a wait'} at {recorded}",
                )
            )

    # ------------------------------------------------------------------ helpers

    @property
    def _ns(self) -> dict[str, Any]:
        return self._frames[-1].namespace

    def _key(self, node: Node, branch: int | None = None) -> str:
        return step_key(node.id, [self._counters.get(loop, 0) for loop in node.loops], branch)

    def _edge(self, node: Node, kind: str) -> str:
        try:
            return self._index.edges[node.id][kind]
        except KeyError:
            raise Diverged(
                NondeterminismError(
                    self.host.run_id,
                    node.id,
                    f"a {kind!r} edge from {node.id}",
                    "none in the graph",
                )
            ) from None

    # ------------------------------------------------------------------ the walk

    async def run(self) -> Any:
        """Walk to the end and return the workflow's result.

        Raises:
            BodyFailed: An exception escaped the body (the run fails).
            Diverged: The walk and the history disagree.
            ControlFlow: A suspension, cancellation or tripped breaker from the host.
        """
        node: Node = self._index.nodes[self.graph.entry]
        arrived = "next"
        previous: Node = node
        while True:
            if isinstance(node, LoopNode):
                # From inside its own body (a back edge, a `continue` branch) the
                # loop advances; from anywhere else it starts afresh.
                arrived = "loop" if node.id in previous.loops else arrived
            previous = node
            self._node = node.id
            if arrived == "loop" and isinstance(node, LoopNode):
                await self._turn(node)
            try:
                kind = await self._do(node, arrived)
            except ControlFlow:
                raise
            except StepFailure as failure:
                compensated = await self.host.compensate(failure.cause)
                error: BaseException = StepFailed(failure.step, failure.cause, compensated)
                node = self._raise_into(node, error)
                arrived = "error"
                continue
            except Exception as error:
                node = self._raise_into(node, error)
                arrived = "error"
                continue
            if kind is None:
                self._finish_check()
                return self._result
            if kind == "next":
                # A node's one control edge: fall through, back to a loop, or a break.
                edges = self._index.edges.get(node.id, {})
                kind = next((k for k in ("next", "loop", "exit") if k in edges), "next")
            node = self._index.nodes[self._edge(node, kind)]
            arrived = kind

    async def _turn(self, node: LoopNode) -> None:
        """One more turn of ``node``: let the host pause now and then; trip the loop budget."""
        if node.loop == "while":
            self._idle_turns += 1
            limit = self._max_events
            if limit is not None and self._idle_turns > limit * LOOP_TURNS_PER_EVENT:
                tripped = self.journal.tripped
                if tripped is not None:
                    # The log holds the trip already (its worker died compensating).
                    raise Tripped(tripped.payload.breaker, tripped.payload.limit)
                raise Tripped("max_events", limit)
        self._turns += 1
        if self._turns % TURNS_PER_PAUSE == 0:
            await self.host.pause(replaying=self._visited < len(self.journal.order))

    def _raise_into(self, node: Node, error: BaseException) -> Node:
        while True:
            target = self._index.edges.get(node.id, {}).get("error")
            if target is not None:
                self._frames[-1].error = error
                self._frames[-1].caught[target] = error
                return self._index.nodes[target]
            frame = self._frames[-1] if self._frames else None
            if frame is None or frame.call is None:
                raise BodyFailed(error)
            self._frames.pop()
            node = frame.call

    async def _do(self, node: Node, arrived: str) -> str | None:
        if isinstance(node, CodeNode):
            execute(node.code, self._ns)
            return "next"
        if isinstance(node, StepNode):
            key = self._key(node)
            self._visit(key, node.step)
            await self.host.checkpoint([key])
            args, kwargs = call_args(node.args, self._ns)
            output = await self.host.run_step(StepCall(key, node.step, args, kwargs))
            assign(node.target, output, self._ns)
            return "next"
        if isinstance(node, BranchNode):
            return "true" if evaluate(node.test, self._ns) else "false"
        if isinstance(node, LoopNode):
            return await self._loop(node, arrived)
        if isinstance(node, ReturnNode):
            value = None if node.value is None else evaluate(node.value, self._ns)
            if node.scope is not None:
                frame = self._frames.pop()
                assert frame.call is not None
                assign(frame.call.target, value, self._ns)
            else:
                self._result = value
            return "next"
        if isinstance(node, ExceptNode):
            error = self._frames[-1].error
            matched = (
                True if node.type is None else isinstance(error, evaluate(node.type, self._ns))
            )
            if matched and node.name is not None:
                self._ns[node.name] = error
            return "true" if matched else "false"
        if isinstance(node, RaiseNode):
            raise self._exception(node)
        if isinstance(node, SleepNode):
            key = self._key(node)
            self._visit(key, None)
            await self.host.checkpoint([key])
            seconds = parse_duration(evaluate(node.duration, self._ns), what="sleep duration")
            await self.host.sleep(key, seconds)
            return "next"
        if isinstance(node, SignalNode):
            key = self._key(node)
            self._visit(key, None)
            await self.host.checkpoint([key])
            name = evaluate(node.signal, self._ns)
            timeout = None
            if node.timeout is not None:
                timeout = parse_duration(evaluate(node.timeout, self._ns), what="signal timeout")
            payload = await self.host.wait_signal(key, name, timeout)
            assign(node.target, payload, self._ns)
            return "next"
        if isinstance(node, ParallelNode | MapNode):
            calls = self._fan_out(node)
            for call in calls:
                self._visit(call.key, call.step)
            if calls:
                # An empty map performs nothing durable: no checkpoint, so its replay (with
                # a journal whose later operations settle nothing here) cannot stop there.
                await self.host.checkpoint([call.key for call in calls])
            outputs = await self.host.run_parallel(calls)
            assign(node.target, list(outputs), self._ns)
            return "next"
        if isinstance(node, CallNode):
            args, kwargs = call_args(node.args, self._ns)
            namespace = self._namespace(node.module, node)
            bind_params(node.params, args, kwargs, namespace, what=f"helper {node.helper}()")
            self._frames.append(_Frame(namespace, call=node))
            return "next"
        if isinstance(node, StartNode):
            self._start()
            return "next"
        if isinstance(node, EndNode):
            return None
        raise Diverged(
            NondeterminismError(
                self.host.run_id, node.id, "a node control can reach", f"a {node.kind} node"
            )
        )

    def _namespace(self, module: str, node: Node) -> dict[str, Any]:
        """A fresh namespace on ``module``'s globals; the run fails if it cannot be imported.

        The graph names the module, not the workflow's code: the failure is not an
        exception of the body, and no handler of the body sees it.
        """
        try:
            return module_namespace(module)
        except ImportError as error:
            raise BodyFailed(
                ConfigurationError(
                    f"graph {self.graph.hash[:12]}... of workflow {self.graph.workflow.name!r}: "
                    f"{node.kind} node {node.id} runs in module {module!r}, which this worker "
                    f"cannot import ({error}); deploy the module with the worker, or rebuild "
                    "the graphs"
                )
            ) from None

    def _start(self) -> None:
        node = self._index.nodes[self.graph.entry]
        namespace = self._namespace(self._module, node)
        if self.graph.self_param is not None:
            namespace[self.graph.self_param] = self._instance
        if self.graph.context_param is not None:
            namespace[self.graph.context_param] = self.context
        bind_params(
            self.graph.params,
            self._args,
            self._kwargs,
            namespace,
            what=f"workflow {self.graph.workflow.name!r}",
        )
        self._frames = [_Frame(namespace)]

    async def _loop(self, node: LoopNode, arrived: str) -> str:
        if arrived == "loop":
            self._counters[node.id] = self._counters.get(node.id, 0) + 1
        else:
            self._counters[node.id] = 0
            if node.loop == "for":
                assert node.iter is not None
                self._iterators[node.id] = iter(evaluate(node.iter, self._ns))
        if node.loop == "for":
            try:
                item = next(self._iterators[node.id])
            except StopIteration:
                self._iterators.pop(node.id, None)
                return "exit"
            assign(node.target, item, self._ns)
            return "next"
        assert node.test is not None
        return "next" if evaluate(node.test, self._ns) else "exit"

    def _fan_out(self, node: ParallelNode | MapNode) -> list[StepCall]:
        calls: list[StepCall] = []
        if isinstance(node, ParallelNode):
            for index, branch in enumerate(node.branches):
                args, kwargs = call_args(branch.args, self._ns)
                calls.append(StepCall(self._key(node, index), branch.step, args, kwargs))
            return calls
        # A comprehension's target does not leak: bind each item in a copy.
        for item in evaluate(node.iter, self._ns):
            scratch = dict(self._ns)
            assign(node.item, item, scratch)
            if all(evaluate(test, scratch) for test in node.ifs):
                args, kwargs = call_args(node.args, scratch)
                calls.append(StepCall(self._key(node, len(calls)), node.step, args, kwargs))
        return calls

    def _handled(self, node: RaiseNode) -> BaseException | None:
        frame = self._frames[-1]
        if node.handling is None:
            # No exception is handled here (a bare raise is a RuntimeError), except in graphs
            # built before ``handling`` existed: there, the latest exception caught.
            return frame.error if self._legacy_raises else None
        return frame.caught.get(node.handling)

    def _exception(self, node: RaiseNode) -> BaseException:
        handled = self._handled(node)
        if node.exc is None:
            error = handled
            if error is None:
                return RuntimeError("No active exception to reraise")
            return error
        value = evaluate(node.exc, self._ns)
        error = value() if isinstance(value, type) else value
        if not isinstance(error, BaseException):
            return TypeError("exceptions must derive from BaseException")
        if node.cause is not None:
            cause = evaluate(node.cause, self._ns)
            error.__cause__ = cause() if isinstance(cause, type) else cause
        elif handled is not None:
            error.__context__ = handled
        return error
