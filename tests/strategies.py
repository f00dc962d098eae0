"""Hypothesis strategies: workflow programs in the deterministic language, and how their steps behave.

A generated :class:`Scenario` is a workflow program (a small AST rendered to
the source of a module that defines three steps, up to two async helpers and
one workflow), the scripted behaviour of each step (its output, the attempts
that fail, whether it refuses retries, its rollback), the run's input, the
signals sent to the run with their arrival times, and sometimes ``max_events``.

The language covers SPEC section 3: step calls, pure assignments (conditional
expressions included), conditional expressions choosing between awaited steps,
``if/elif/else``, ``for`` over ``range``, list literals and a list variable,
``while`` (with ``else:``), ``break``/``continue``,
``try/except/else/finally`` with bare ``raise`` in handlers and ``finally``
blocks, ``ctx.parallel``, the ``asyncio.gather`` map, ``ctx.sleep``, signal
waits with and without timeouts, module-local async helpers awaiting steps
(inlined by the compiler), returns and raises.

Values are small ints (``% 10`` everywhere) so that arithmetic never grows and
step arguments repeat, which is what makes the behaviour of a step a function of
its arguments and attempt (see :meth:`StepPlan.attempt`): both executors, and a
worker re-running an attempt after a crash, see the same outcome.

Time is virtual and starts at 0 when the run is triggered: sleeps, retry
backoffs and signal timeouts move it, steps take none. A signal arrives at a
time after the trigger, or after the run began its k-th blocking signal wait
(:class:`Delivery`): it is sent then whatever the run is doing, so it may wait
buffered for a later wait, or come after a wait timed out. A signal arriving at
the very moment a wait times out is delivered (it is sent before the clock moves
on). Both executors follow that timeline (:class:`Mailbox`): the direct one on
its own clock, the worker on a manual clock the harness moves to the next
arrival or wake-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hypothesis import strategies as st

from runtime import NonRetryableError

__all__ = [
    "NONRETRYABLE",
    "STEPS",
    "Delivery",
    "Helper",
    "Mailbox",
    "Program",
    "Scenario",
    "SecretURL",
    "StepPlan",
    "Wait",
    "deliveries",
    "programs",
    "scenarios",
    "secret_urls",
    "step_plans",
]

STEPS = ("s0", "s1", "s2")
"""The steps every generated module defines (attribute names; registered as ``<module>.<name>``)."""

SIGNALS = ("g0", "g1")
VARS = ("v0", "v1", "v2", "v3")
LIST = "xs"
"""The workflow's one list variable (``for`` and the map iterate over it)."""
NONRETRYABLE = -1
"""A failure mode: the step raises NonRetryableError at its first attempt."""

# --------------------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Assign:
    var: str
    expr: str


@dataclass(frozen=True)
class SetList:
    """``xs = [...]`` (rebinding: a loop already iterating the old list is not affected)."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Trace:
    expr: str


@dataclass(frozen=True)
class StepCall:
    target: str | None
    step: str
    expr: str


@dataclass(frozen=True)
class CondCall:
    """``target = await a(x) if cond else await b(y)`` (a branch node); an arm may be a plain expr."""

    target: str | None
    cond: str
    body: str
    orelse: str


@dataclass(frozen=True)
class HelperCall:
    """``target = await h0(expr)``: a module-local async helper (inlined by the compiler)."""

    target: str | None
    helper: str
    expr: str


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[str, tuple[Any, ...]], ...]
    orelse: tuple[Any, ...] | None


@dataclass(frozen=True)
class For:
    """``for var in iterable`` (``range(k)``, a list literal or the list variable)."""

    var: str
    iterable: str
    body: tuple[Any, ...]
    orelse: tuple[Any, ...] | None


@dataclass(frozen=True)
class While:
    var: str
    count: int
    body: tuple[Any, ...]
    orelse: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Try:
    body: tuple[Any, ...]
    handlers: tuple[tuple[str, tuple[Any, ...]], ...]
    orelse: tuple[Any, ...] | None
    final: tuple[Any, ...] | None


@dataclass(frozen=True)
class Parallel:
    target: str
    calls: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Map:
    """``asyncio.gather(*(step(expr) for x in iterable))``."""

    target: str
    step: str
    iterable: str
    expr: str


@dataclass(frozen=True)
class Sleep:
    duration: str


@dataclass(frozen=True)
class Signal:
    target: str
    name: str
    timeout: str | None


@dataclass(frozen=True)
class Jump:
    """``break``, ``continue``, ``return ...``, ``raise ...`` or a bare ``raise`` under an ``if``."""

    kind: str
    cond: str
    expr: str = ""


@dataclass(frozen=True)
class Leave:
    """``if cond: return expr`` inside a helper."""

    cond: str
    expr: str


@dataclass(frozen=True)
class Stamp:
    """``target = <a value of ctx.now() or ctx.random()>`` read through an alias of the method."""

    target: str
    source: str


@dataclass(frozen=True)
class _Raw:
    """A statement rendered as given (a handler's look at ``error``)."""

    text: str


@dataclass(frozen=True)
class Helper:
    """``async def name(a: int) -> int`` over its argument ``a`` and a local ``t``."""

    name: str
    body: tuple[Any, ...]


@dataclass(frozen=True)
class Program:
    """A workflow body over ``v0..v3``, ``xs`` and a ``trace`` list, and the helpers it calls.

    Attributes:
        body: The body's statements.
        helpers: The module's async helpers.
        aliases: The body binds ``clock = ctx.now`` and ``rand = ctx.random`` first
            (:class:`Stamp` statements read them).
    """

    body: tuple[Any, ...]
    helpers: tuple[Helper, ...] = ()
    aliases: bool = False


RESULT = '{"v": [v0, v1, v2, v3], "xs": xs, "trace": trace}'


def _render_block(stmts: Sequence[Any], indent: int, out: list[str]) -> None:
    if not stmts:
        out.append("    " * indent + "pass")
    for stmt in stmts:
        _render(stmt, indent, out)


def _render_orelse(orelse: tuple[Any, ...] | None, indent: int, out: list[str]) -> None:
    if orelse is not None:
        out.append("    " * indent + "else:")
        _render_block(orelse, indent + 1, out)


def _render(stmt: Any, indent: int, out: list[str]) -> None:
    pad = "    " * indent
    if isinstance(stmt, Assign):
        out.append(f"{pad}{stmt.var} = {stmt.expr}")
    elif isinstance(stmt, SetList):
        out.append(f"{pad}{LIST} = [{', '.join(stmt.items)}]")
    elif isinstance(stmt, Trace):
        out.append(f"{pad}trace.append({stmt.expr})")
    elif isinstance(stmt, StepCall | HelperCall):
        target = f"{stmt.target} = " if stmt.target else ""
        callee = stmt.step if isinstance(stmt, StepCall) else stmt.helper
        out.append(f"{pad}{target}await {callee}({stmt.expr})")
    elif isinstance(stmt, CondCall):
        target = f"{stmt.target} = " if stmt.target else ""
        out.append(f"{pad}{target}{stmt.body} if {stmt.cond} else {stmt.orelse}")
    elif isinstance(stmt, If):
        for index, (cond, body) in enumerate(stmt.branches):
            out.append(f"{pad}{'if' if index == 0 else 'elif'} {cond}:")
            _render_block(body, indent + 1, out)
        _render_orelse(stmt.orelse, indent, out)
    elif isinstance(stmt, For):
        out.append(f"{pad}for {stmt.var} in {stmt.iterable}:")
        _render_block(stmt.body, indent + 1, out)
        _render_orelse(stmt.orelse, indent, out)
    elif isinstance(stmt, While):
        out.append(f"{pad}{stmt.var} = 0")
        out.append(f"{pad}while {stmt.var} < {stmt.count}:")
        # The counter moves first, so a `continue` anywhere in the body still ends the loop.
        out.append(f"{pad}    {stmt.var} += 1")
        _render_block(stmt.body, indent + 1, out)
        _render_orelse(stmt.orelse, indent, out)
    elif isinstance(stmt, Try):
        out.append(f"{pad}try:")
        _render_block(stmt.body, indent + 1, out)
        for kind, body in stmt.handlers:
            out.append(f"{pad}{kind}:")
            _render_block(body, indent + 1, out)
        _render_orelse(stmt.orelse, indent, out)
        if stmt.final is not None:
            out.append(f"{pad}finally:")
            _render_block(stmt.final, indent + 1, out)
    elif isinstance(stmt, Parallel):
        branches = ", ".join(f"lambda: {step}({expr})" for step, expr in stmt.calls)
        out.append(f"{pad}{stmt.target} = await ctx.parallel([{branches}])")
        out.append(f"{pad}trace.append({stmt.target})")
    elif isinstance(stmt, Map):
        out.append(
            f"{pad}{stmt.target} = await asyncio.gather("
            f"*({stmt.step}({stmt.expr}) for x in {stmt.iterable}))"
        )
        out.append(f"{pad}trace.append({stmt.target})")
    elif isinstance(stmt, Sleep):
        out.append(f"{pad}await ctx.sleep({stmt.duration})")
    elif isinstance(stmt, Signal):
        timeout = "" if stmt.timeout is None else f", timeout={stmt.timeout}"
        out.append(f'{pad}{stmt.target} = await ctx.wait_for_signal("{stmt.name}"{timeout})')
    elif isinstance(stmt, Jump):
        out.append(f"{pad}if {stmt.cond}:")
        if stmt.kind == "return":
            out.append(f"{pad}    return {RESULT}")
        elif stmt.kind == "raise":
            out.append(f"{pad}    raise ValueError({stmt.expr})")
        elif stmt.kind == "reraise":
            out.append(f"{pad}    raise")
        else:
            out.append(f"{pad}    {stmt.kind}")
    elif isinstance(stmt, Leave):
        out.append(f"{pad}if {stmt.cond}:")
        out.append(f"{pad}    return {stmt.expr}")
    elif isinstance(stmt, Stamp):
        value = "int(clock().timestamp())" if stmt.source == "now" else "int(rand() * 10)"
        out.append(f"{pad}{stmt.target} = {value} % 10")
    elif isinstance(stmt, _Raw):
        out.append(f"{pad}{stmt.text}")
    else:  # pragma: no cover - the generator makes nothing else
        raise TypeError(stmt)


# --------------------------------------------------------------------------- step behaviour


@dataclass(frozen=True)
class StepPlan:
    """How one step behaves, as a function of its argument and attempt.

    Attributes:
        name: The step's attribute name (``s0``...).
        retries: The step's ``retries`` option.
        backoff: The initial backoff delay in seconds (virtual: the clock is manual).
        modes: Failure modes, chosen by ``x % len(modes)``: ``k >= 0`` fails the
            first ``k`` attempts (exhausting the retries when ``k > retries``);
            :data:`NONRETRYABLE` refuses at once.
        mul: Output is ``(x * mul + add) % 10``.
        add: See ``mul``.
        rollback: The step has a ``rollback_fn``.
        rollback_fails: Its rollback raises.
        constants: The module gives the step's options through module-level
            constants (and an expression of them), not literals.
        wait: A signal the step's body waits for (``ctx.wait_for_signal``) before
            it acts; the step then acts on its argument plus the payload, and a
            timeout fails the attempt. Only in scenarios for the worker alone (the direct executor
            does not model it).
        wait_timeout: That wait's timeout (source text), or ``None``.
    """

    name: str
    retries: int
    backoff: float
    modes: tuple[int, ...]
    mul: int
    add: int
    rollback: bool
    rollback_fails: bool
    constants: bool = False
    wait: str | None = None
    wait_timeout: str | None = None

    def attempt(self, x: int, attempt: int) -> int:
        """The output of attempt ``attempt`` on argument ``x``, or raise its failure."""
        mode = self.modes[x % len(self.modes)]
        if mode == NONRETRYABLE:
            raise NonRetryableError(f"{self.name} refuses {x}")
        if attempt <= mode:
            raise ValueError(f"{self.name} attempt {attempt} failed on {x}")
        return (x * self.mul + self.add) % 10

    def final(self, x: int, attempt: int) -> bool:
        """Whether a failure of attempt ``attempt`` on ``x`` is the step's last."""
        return self.modes[x % len(self.modes)] == NONRETRYABLE or attempt > self.retries

    def undo(self, output: int) -> None:
        """The rollback's effect: raise when it is scripted to fail."""
        if self.rollback_fails:
            raise RuntimeError(f"{self.name} cannot undo {output}")


@dataclass(frozen=True)
class Delivery:
    """A signal sent to the run at some moment (virtual time).

    Attributes:
        name: The signal's name; ``None`` (only with ``wait``): the name that
            wait waits for.
        payload: Its payload.
        at: Seconds after the run was triggered; with ``wait``, seconds after
            that wait began, and ``None`` for the very moment its timeout runs
            out (never, for a wait without one).
        wait: Count from the ``wait``-th (from 0) blocking signal wait the run
            begins: a wait that found no signal of its name already there. A
            delivery for a wait the run never begins is never sent.
    """

    name: str | None
    payload: int
    at: float | None
    wait: int | None = None


@dataclass(frozen=True)
class Wait:
    """A blocking signal wait as both executors see it (seconds after the trigger)."""

    start: float
    deadline: float | None
    name: str


class Mailbox:
    """The signals of a scenario not sent yet, in the order they are due.

    Both executors send (or put in the inbox) every signal whose arrival time
    has come before the clock moves past it, in order of arrival, then as
    generated. Arrival times are seconds after the trigger.

    Args:
        signals: The scenario's signals.
        sent: Indexes (into ``signals``) already sent.
    """

    def __init__(self, signals: Sequence[Delivery], sent: Sequence[int] = ()) -> None:
        self.signals = tuple(signals)
        self.sent: list[int] = list(sent)
        """Indexes of the signals sent, in the order they were."""

    def due(self, waits: Sequence[Wait]) -> list[tuple[float, int, str]]:
        """``(arrival, index, name)`` of each unsent signal whose arrival is known, in order.

        Args:
            waits: The blocking signal waits the run began so far, in order.
        """
        found: list[tuple[float, int, str]] = []
        for index, delivery in enumerate(self.signals):
            if index in self.sent:
                continue
            if delivery.wait is None:
                assert delivery.name is not None
                assert delivery.at is not None
                found.append((delivery.at, index, delivery.name))
                continue
            if delivery.wait >= len(waits):
                continue
            wait = waits[delivery.wait]
            arrival = wait.deadline if delivery.at is None else wait.start + delivery.at
            if arrival is not None:
                found.append((arrival, index, delivery.name or wait.name))
        return sorted(found)

    def take(self, index: int) -> int:
        """Mark signal ``index`` sent; return its payload."""
        self.sent.append(index)
        return self.signals[index].payload


@dataclass(frozen=True)
class Scenario:
    """A generated program with everything its run depends on.

    Attributes:
        program: The workflow body and its helpers.
        plans: One plan per step of :data:`STEPS`.
        input: The run's argument ``n``.
        signals: The signals sent to the run (see the module docstring).
        max_events: The workflow's ``max_events`` (``None``: no breaker).
    """

    program: Program
    plans: tuple[StepPlan, ...]
    input: int
    signals: tuple[Delivery, ...] = ()
    max_events: int | None = None
    module: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.source_for("MODULE").encode()).hexdigest()[:16]
        object.__setattr__(self, "module", f"vrb_gen_{digest}")

    def plan(self, step: str) -> StepPlan:
        """The plan of a step by attribute or registered name."""
        short = step.rpartition(".")[2]
        return next(plan for plan in self.plans if plan.name == short)

    @property
    def workflow_name(self) -> str:
        """The registered name of the generated workflow."""
        return self.module

    @property
    def source(self) -> str:
        """The module's source text."""
        return self.source_for(self.module)

    def source_for(self, module: str) -> str:
        """The module's source text under the module name ``module``."""
        lines = [
            '"""A generated workflow module (tests/strategies.py)."""',
            "",
            "import asyncio",
            "",
            "from runtime import SignalTimeout, StepContext, StepFailed, WorkflowContext, step, workflow",
            "from tests.direct_executor import SCRIPT",
            "",
        ]
        for plan in self.plans:
            body = [f"    return await SCRIPT.step(ctx, {plan.name!r}, x)"]
            if plan.wait is not None:
                timeout = "" if plan.wait_timeout is None else f", timeout={plan.wait_timeout}"
                body = [
                    f'    got = await ctx.wait_for_signal("{plan.wait}"{timeout})',
                    f"    return await SCRIPT.step(ctx, {plan.name!r}, (x + got) % 10)",
                ]
            lines += [
                "",
                f"async def _{plan.name}(ctx: StepContext, x: int) -> int:",
                *body,
                "",
            ]
            retries: str = str(plan.retries)
            initial = repr(plan.backoff)
            if plan.constants:
                upper = plan.name.upper()
                lines += [f"{upper}_RETRIES = {plan.retries}", f"{upper}_INITIAL = {initial}"]
                retries, initial = f"{upper}_RETRIES", f"{upper}_INITIAL * 1"
            options = (
                f'retries={retries}, backoff={{"initial": {initial}, "factor": 2.0, "max": 600.0}}'
            )
            if plan.rollback:
                lines += [
                    "",
                    f"async def _undo_{plan.name}(error: BaseException, output: int) -> None:",
                    f"    await SCRIPT.rollback({plan.name!r}, error, output)",
                    "",
                ]
                options += f", rollback_fn=_undo_{plan.name}"
            lines += [
                "",
                f'{plan.name} = step("{module}.{plan.name}", _{plan.name}, {options})',
                "",
            ]
        for helper in self.program.helpers:
            lines += ["", "", f"async def {helper.name}(a: int) -> int:", "    t = a"]
            _render_block(helper.body, 1, lines)
            lines.append("    return (t + a) % 10")
        breaker = "" if self.max_events is None else f", max_events={self.max_events}"
        lines += [
            "",
            "",
            f'@workflow("{module}"{breaker})',
            "async def flow(ctx: WorkflowContext, n: int) -> dict[str, list[object]]:",
            "    trace: list[object] = []",
            "    v0 = n",
            "    v1 = 1",
            "    v2 = 2",
            "    v3 = 3",
            f"    {LIST} = [n, (n + 1) % 10]",
        ]
        if self.program.aliases:
            lines += ["    clock = ctx.now", "    rand = ctx.random"]
        _render_block(self.program.body, 1, lines)
        lines.append(f"    return {RESULT}")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class _Env:
    """What a statement may use where it is generated.

    Attributes:
        names: The int variables in scope.
        depth: The nesting depth (compound statements stop at 2).
        in_loop: Inside a loop of this function (``break``/``continue`` allowed).
        reraise: Inside an ``except`` handler or a ``finally`` block (a bare
            ``raise`` there is generated).
        helpers: The helpers this function may call.
        helper: Generating a helper's body (over ``a`` and ``t``), not the workflow's.
        aliases: The body has the aliases of :attr:`Program.aliases`.
    """

    names: tuple[str, ...]
    depth: int
    in_loop: bool
    reraise: bool = False
    helpers: tuple[str, ...] = ()
    helper: bool = False
    aliases: bool = False

    def nested(self, **changes: Any) -> _Env:
        fields = {
            "names": self.names,
            "depth": self.depth + 1,
            "in_loop": self.in_loop,
            "reraise": self.reraise,
            "helpers": self.helpers,
            "helper": self.helper,
            "aliases": self.aliases,
        }
        return _Env(**{**fields, **changes})


def _atoms(env: _Env) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(env.names), st.integers(0, 9).map(str))


def conds(env: _Env) -> st.SearchStrategy[str]:
    """A condition over the names in scope."""
    name = st.sampled_from(env.names)
    return st.one_of(
        st.tuples(name, st.integers(2, 3), st.integers(0, 2)).map(
            lambda t: f"{t[0]} % {t[1]} == {t[2] % t[1]}"
        ),
        st.tuples(name, st.integers(0, 9)).map(lambda t: f"{t[0]} > {t[1]}"),
        st.tuples(name, name).map(lambda t: f"{t[0]} == {t[1]}"),
    )


def exprs(env: _Env) -> st.SearchStrategy[str]:
    """A small int expression over the names in scope (always in ``0..9``)."""
    binary = st.tuples(_atoms(env), st.sampled_from("+-*"), _atoms(env)).map(
        lambda t: f"({t[0]} {t[1]} {t[2]}) % 10"
    )
    conditional = st.tuples(_atoms(env), conds(env), _atoms(env)).map(
        lambda t: f"({t[0]} if {t[1]} else {t[2]}) % 10"
    )
    return st.one_of(_atoms(env).map(lambda a: f"{a} % 10"), binary, conditional)


def _list_literals(env: _Env) -> st.SearchStrategy[str]:
    return st.lists(exprs(env), max_size=3).map(lambda items: f"[{', '.join(items)}]")


def _iterables(env: _Env) -> st.SearchStrategy[str]:
    """What a ``for`` loop or a map iterates: ``range(k)``, a list literal, the list variable."""
    choices = [st.integers(0, 3).map(lambda k: f"range({k})"), _list_literals(env)]
    if not env.helper:
        choices.append(st.just(LIST))
    return st.one_of(*choices)


def _steps() -> st.SearchStrategy[str]:
    return st.sampled_from(STEPS)


@cache
def _statement(env: _Env) -> st.SearchStrategy[Any]:
    # Built once per environment: building strategies on every draw costs more than running
    # the example.
    targets = st.just("t") if env.helper else st.sampled_from(VARS[1:])
    call = st.builds(StepCall, targets, _steps(), exprs(env))
    # Steps are what the properties are about: weigh them up, and make them what the
    # simplest examples (which Hypothesis tries often) are made of.
    simple: list[st.SearchStrategy[Any]] = [
        call,
        st.builds(StepCall, st.none(), _steps(), exprs(env)),
        call,
        call,
        st.builds(Assign, targets, exprs(env)),
    ]
    awaited = st.tuples(_steps(), exprs(env)).map(lambda t: f"await {t[0]}({t[1]})")
    arm = st.one_of(awaited, awaited, exprs(env))
    simple.append(st.builds(CondCall, st.one_of(targets, st.none()), conds(env), awaited, arm))
    if env.helpers:
        simple.append(
            st.builds(
                HelperCall, st.one_of(st.none(), targets), st.sampled_from(env.helpers), exprs(env)
            )
        )
    parallel = st.builds(
        Parallel,
        st.just(f"p{env.depth}"),
        st.lists(st.tuples(_steps(), exprs(env)), min_size=1, max_size=3).map(tuple),
    )
    fan_out = st.builds(
        Map,
        st.just(f"p{env.depth}"),
        _steps(),
        _iterables(env),
        exprs(_Env((*env.names, "x"), env.depth, env.in_loop)),
    )
    wait = st.builds(Signal, targets, st.sampled_from(SIGNALS), st.sampled_from([None, "3", "60"]))
    if env.helper:
        simple += [
            st.builds(Jump, st.just("raise"), conds(env), exprs(env)),
            st.builds(Leave, conds(env), exprs(env)),
        ]
    else:
        simple += [
            st.builds(Trace, exprs(env)),
            st.builds(SetList, st.lists(exprs(env), max_size=3).map(tuple)),
            parallel,
            parallel,
            fan_out,
            st.builds(Sleep, st.sampled_from(["0", "1", "2.5", '"5m"'])),
            wait,
            wait,
            st.builds(Jump, st.sampled_from(["raise", "return"]), conds(env), exprs(env)),
        ]
        if env.aliases:
            simple.append(st.builds(Stamp, targets, st.sampled_from(["now", "random"])))
    if env.in_loop:
        simple.append(st.builds(Jump, st.sampled_from(["break", "continue"]), conds(env)))
    if env.reraise:
        simple.append(st.builds(Jump, st.just("reraise"), conds(env)))
    if env.depth >= 2:
        return st.one_of(*simple)
    block = _block(env.nested())
    loop_var = f"i{env.depth}"
    while_var = f"w{env.depth}"
    compound: list[st.SearchStrategy[Any]] = [
        st.builds(
            If,
            st.lists(st.tuples(conds(env), block), min_size=1, max_size=3).map(tuple),
            st.one_of(st.none(), block),
        ),
        st.builds(
            For,
            st.just(loop_var),
            _iterables(env),
            _block(env.nested(names=(*env.names, loop_var), in_loop=True)),
            st.one_of(st.none(), block),
        ),
        st.builds(
            While,
            st.just(while_var),
            st.integers(0, 3),
            _block(env.nested(names=(*env.names, while_var), in_loop=True)),
            st.one_of(st.none(), block),
        ),
        st.builds(
            Try,
            block,
            st.lists(_handlers(env.nested(reraise=True)), min_size=1, max_size=2).map(tuple),
            st.one_of(st.none(), block),
            st.one_of(st.none(), _block(env.nested(reraise=True))),
        ),
    ]
    return st.one_of(*simple, *compound)


_HANDLERS = {
    "except StepFailed as error": (
        "trace.append(error.step)",
        "trace.append(error.compensated)",
        "trace.append(str(error))",
    ),
    "except SignalTimeout": ("trace.append(-1)",),
    "except ValueError as error": ("trace.append(str(error))",),
    "except Exception as error": ("trace.append(type(error).__name__)", "trace.append(str(error))"),
}
_HELPER_HANDLERS = {
    "except StepFailed as error": ("t = len(error.compensated) % 10", "t = len(str(error)) % 10"),
    "except ValueError as error": ("t = len(str(error)) % 10",),
    "except Exception as error": ("t = len(type(error).__name__) % 10",),
}


@cache
def _handlers(env: _Env) -> st.SearchStrategy[tuple[str, tuple[Any, ...]]]:
    # What the handler saw of the error goes to the trace (or the helper's local), so both
    # executors must agree on it.
    table = _HELPER_HANDLERS if env.helper else _HANDLERS
    views = [(kind, view) for kind, seen in sorted(table.items()) for view in seen]
    return st.tuples(st.sampled_from(views), _block(env)).map(
        lambda t: (t[0][0], (_Raw(t[0][1]), *t[1]))
    )


@cache
def _block(env: _Env) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(_statement(env), min_size=1, max_size=2).map(tuple)


@st.composite
def _helpers(draw: st.DrawFn) -> tuple[Helper, ...]:
    helpers: list[Helper] = []
    for index in range(draw(st.integers(0, 2))):
        # A helper may call the helpers defined before it (never itself: no recursion).
        env = _Env(("a", "t"), 1, False, helpers=tuple(h.name for h in helpers), helper=True)
        body = draw(st.lists(_statement(env), min_size=1, max_size=3).map(tuple))
        helpers.append(Helper(f"h{index}", body))
    return tuple(helpers)


@st.composite
def programs(draw: st.DrawFn, *, aliases: bool = False) -> Program:
    """Workflow bodies of two to six statements, nested up to two levels, with their helpers.

    Args:
        aliases: Bind aliases of ``ctx.now`` and ``ctx.random`` and read them.
    """
    helpers = draw(_helpers())
    env = _Env(
        ("n", *VARS), 0, False, helpers=tuple(helper.name for helper in helpers), aliases=aliases
    )
    body = draw(st.lists(_statement(env), min_size=2, max_size=6).map(tuple))
    return Program(body, helpers, aliases)


def step_plans(name: str, *, waits: bool = False) -> st.SearchStrategy[StepPlan]:
    """The behaviour of one step.

    Args:
        waits: Some steps wait for a signal in their body.
    """
    wait = st.one_of(st.none(), st.none(), st.sampled_from(SIGNALS)) if waits else st.none()
    return st.builds(
        StepPlan,
        st.just(name),
        st.integers(0, 2),
        st.sampled_from([0.5, 1.0, 30.0]),
        st.lists(st.sampled_from([0, 0, 0, 1, 2, 3, NONRETRYABLE]), min_size=1, max_size=3).map(
            tuple
        ),
        st.integers(0, 9),
        st.integers(0, 9),
        # Rollbacks are what the saga checks are about: most steps have one.
        st.sampled_from([False, True, True, True]),
        st.booleans(),
        st.booleans(),
        wait,
        st.sampled_from([None, "3", "60"]),
    )


def deliveries() -> st.SearchStrategy[Delivery]:
    """A signal arriving at some time after the trigger, or after a blocking wait began.

    Times after the trigger fall before, between and after the generated sleeps
    (0, 1, 2.5 and 300 seconds) and timeouts (3 and 60 seconds). Times after a
    wait began are often its deadline (a signal arriving as the wait times out),
    and the signal is often the one that wait waits for.
    """
    names = st.sampled_from(SIGNALS)
    payload = st.integers(0, 9)
    absolute = st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0, 4.0, 30.0, 60.0, 63.0, 300.0, 1000.0])
    relative = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 3.5, 61.0, 400.0]))
    waits = st.sampled_from([0, 0, 1, 2])
    absolute_delivery = st.builds(Delivery, names, payload, absolute)
    relative_delivery = st.builds(Delivery, st.one_of(st.none(), names), payload, relative, waits)
    return st.one_of(absolute_delivery, relative_delivery, relative_delivery)


@st.composite
def scenarios(draw: st.DrawFn, *, worker_only: bool = False) -> Scenario:
    """A program, its steps' behaviour, its input and the signals it receives.

    Args:
        worker_only: Use what the direct executor does not model, for the
            properties comparing runs of the graph with each other: a
            ``max_events`` breaker (the log it counts), and values of ``ctx.now()``
            and ``ctx.random()`` read through aliases.
    """
    program = draw(programs(aliases=worker_only))
    plans = draw(st.tuples(*(step_plans(name, waits=worker_only) for name in STEPS)))
    waits = Scenario(program, plans, 0).source.count("ctx.wait_for_signal(")
    # A program that waits for signals gets some: which arrive when is the point.
    signals = draw(st.lists(deliveries(), min_size=min(waits, 2), max_size=4).map(tuple))
    breaker = draw(st.one_of(st.none(), st.integers(2, 40))) if worker_only else None
    return Scenario(program, plans, draw(st.integers(0, 9)), signals, breaker)


def json_values(*, max_leaves: int = 40) -> st.SearchStrategy[Any]:
    """JSON values of every kind the stores take: nested lists and dicts of str, int,
    finite float, bool and None (ints up to 40 digits, strs of any codepoint UTF-8 encodes).
    """
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5), st.dictionaries(st.text(), children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


# --------------------------------------------------------------------------- store URLs with secrets

_SECRET_CORE = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789", min_size=4, max_size=10
)
# What users put in passwords and what breaks URL parsers: separators, a bad
# percent-escape, quotes, a backslash, whitespace, non-ASCII letters.
_SECRET_EDGES = st.text(alphabet="@:/?#%&=+ '\"[]\\;,!$~\tz%é密", max_size=3)


_SECRET_SCHEMES = [
    "postgresql://",
    "postgres://",
    "postgresql+psycopg://",
    "POSTGRESQL://",
    "mysql://",
    "sqlite://",
    "memory://",
    "http://",
    "",
    "postgresql:/",
]


@dataclass(frozen=True)
class SecretURL:
    """A store URL with a password in it, and every form of the password no output may show.

    Attributes:
        url: The URL (or libpq keyword string) as a user would pass it.
        password: The password as meant (percent-decoded).
        written: The password as it is written in ``url`` (raw or percent-encoded).
        core: The distinctive run of letters every form of the password holds:
            if no output holds it, no output shows the password, nor a piece of it
            cut at a separator.
    """

    url: str
    password: str
    written: str
    core: str

    def forms(self) -> tuple[str, ...]:
        """Every text that would give the password away."""
        from urllib.parse import quote, unquote

        return (self.core, self.password, self.written, unquote(self.written), quote(self.password))


@st.composite
def secret_urls(draw: st.DrawFn) -> SecretURL:
    """Store URLs holding a password: well formed or not, of every scheme, never openable.

    The password sits in the userinfo, in ``password=`` or ``sslpassword=`` of the
    query, or in libpq's keyword form; it is written raw (separators and all) or
    percent-encoded. Users are empty or ``vrb_no_such_user`` and the database is
    always ``vrb_no_such_db``, so no URL reaches a database that exists, however a
    parser splits it (a password with a raw ``/`` makes libpq read the rest as the
    database name); hosts are IP literals (no DNS), on a closed port, on the test
    server's port, with a bad port, or an IPv6 host that lacks its bracket.
    """
    from urllib.parse import quote

    core = "S3CRET" + draw(_SECRET_CORE)
    password = draw(_SECRET_EDGES) + core + draw(_SECRET_EDGES)
    written = draw(st.sampled_from([password, quote(password, safe="")]))
    user = draw(st.sampled_from(["vrb_no_such_user", ""]))
    host = draw(
        st.sampled_from(
            [
                "127.0.0.1:1",
                "127.0.0.1:5432",
                "[::1]:1",
                "[::1",
                "127.0.0.1:99999",
                "127.0.0.1:-1",
                "127.0.0.1:abc",
                "localhost:1",
            ]
        )
    )
    scheme = draw(st.sampled_from(_SECRET_SCHEMES))
    extra = draw(st.sampled_from(["", "connect_timeout=2", "sslmode=bogus", "schema=vrb_x"]))
    place = draw(st.sampled_from(["userinfo", "password", "sslpassword", "keyword", "both"]))
    if place == "keyword":
        host_name, _, port = host.partition(":")
        url = (
            f"host={host_name} port={port or 1} user={user or 'x'} password={written} "
            "dbname=vrb_no_such_db"
        )
        return SecretURL(url, password, written, core)
    userinfo = f"{user}:{written}@" if place in ("userinfo", "both") else f"{user}@" * bool(user)
    query = [extra] if extra else []
    if place in ("password", "both"):
        query.append(f"password={written}")
    if place == "sslpassword":
        query.append(f"sslpassword={written}")
    suffix = f"?{'&'.join(query)}" if query else ""
    return SecretURL(f"{scheme}{userinfo}{host}/vrb_no_such_db{suffix}", password, written, core)
