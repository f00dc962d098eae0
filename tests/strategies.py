"""Hypothesis strategies: workflow programs in the deterministic language, and how their steps behave.

A generated :class:`Scenario` is a workflow program (a small AST rendered to
the source of a module that defines three steps and one workflow), the scripted
behaviour of each step (its output, the attempts that fail, whether it refuses
retries, its rollback), the run's input and the signals sent to the run.

Values are small ints (``% 10`` everywhere) so that arithmetic never grows and
step arguments repeat, which is what makes the behaviour of a step a function of
its arguments and attempt (see :meth:`StepPlan.attempt`): both executors, and a
worker re-running an attempt after a crash, see the same outcome.

Signals come in *phases*: phase 0 is sent when the run is triggered; each later
phase is released only when the run is blocked waiting for a signal it has not
got (a durable run given back with ``wait_signals``; a direct wait on an empty
inbox). Timers never depend on wall time: the worker runs on a manual clock that
the harness advances to the run's ``wake_at`` when nothing else can happen.
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
    "Program",
    "Scenario",
    "StepPlan",
    "programs",
    "scenarios",
    "step_plans",
]

STEPS = ("s0", "s1", "s2")
"""The steps every generated module defines (attribute names; registered as ``<module>.<name>``)."""

SIGNALS = ("g0", "g1")
VARS = ("v0", "v1", "v2", "v3")
NONRETRYABLE = -1
"""A failure mode: the step raises NonRetryableError at its first attempt."""

# --------------------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Assign:
    var: str
    expr: str


@dataclass(frozen=True)
class Trace:
    expr: str


@dataclass(frozen=True)
class StepCall:
    target: str | None
    step: str
    expr: str


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[str, tuple[Any, ...]], ...]
    orelse: tuple[Any, ...] | None


@dataclass(frozen=True)
class For:
    var: str
    count: int
    body: tuple[Any, ...]
    orelse: tuple[Any, ...] | None


@dataclass(frozen=True)
class While:
    var: str
    count: int
    body: tuple[Any, ...]


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
    target: str
    step: str
    count: int
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
    """``break``, ``continue``, ``return ...`` or ``raise ...`` under an ``if``."""

    kind: str
    cond: str
    expr: str = ""


@dataclass(frozen=True)
class Program:
    """A workflow body (statements) over the variables ``v0..v3`` and a ``trace`` list."""

    body: tuple[Any, ...]


RESULT = '{"v": [v0, v1, v2, v3], "trace": trace}'


def _render_block(stmts: Sequence[Any], indent: int, out: list[str]) -> None:
    if not stmts:
        out.append("    " * indent + "pass")
    for stmt in stmts:
        _render(stmt, indent, out)


def _render(stmt: Any, indent: int, out: list[str]) -> None:
    pad = "    " * indent
    if isinstance(stmt, Assign):
        out.append(f"{pad}{stmt.var} = {stmt.expr}")
    elif isinstance(stmt, Trace):
        out.append(f"{pad}trace.append({stmt.expr})")
    elif isinstance(stmt, StepCall):
        target = f"{stmt.target} = " if stmt.target else ""
        out.append(f"{pad}{target}await {stmt.step}({stmt.expr})")
    elif isinstance(stmt, If):
        for index, (cond, body) in enumerate(stmt.branches):
            out.append(f"{pad}{'if' if index == 0 else 'elif'} {cond}:")
            _render_block(body, indent + 1, out)
        if stmt.orelse is not None:
            out.append(f"{pad}else:")
            _render_block(stmt.orelse, indent + 1, out)
    elif isinstance(stmt, For):
        out.append(f"{pad}for {stmt.var} in range({stmt.count}):")
        _render_block(stmt.body, indent + 1, out)
        if stmt.orelse is not None:
            out.append(f"{pad}else:")
            _render_block(stmt.orelse, indent + 1, out)
    elif isinstance(stmt, While):
        out.append(f"{pad}{stmt.var} = 0")
        out.append(f"{pad}while {stmt.var} < {stmt.count}:")
        # The counter moves first, so a `continue` anywhere in the body still ends the loop.
        out.append(f"{pad}    {stmt.var} += 1")
        _render_block(stmt.body, indent + 1, out)
    elif isinstance(stmt, Try):
        out.append(f"{pad}try:")
        _render_block(stmt.body, indent + 1, out)
        for kind, body in stmt.handlers:
            out.append(f"{pad}{kind}:")
            _render_block(body, indent + 1, out)
        if stmt.orelse is not None:
            out.append(f"{pad}else:")
            _render_block(stmt.orelse, indent + 1, out)
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
            f"*({stmt.step}({stmt.expr}) for x in range({stmt.count})))"
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
        else:
            out.append(f"{pad}    {stmt.kind}")
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
    """

    name: str
    retries: int
    backoff: float
    modes: tuple[int, ...]
    mul: int
    add: int
    rollback: bool
    rollback_fails: bool

    def attempt(self, x: int, attempt: int) -> int:
        """The output of attempt ``attempt`` on argument ``x``, or raise its failure."""
        mode = self.modes[x % len(self.modes)]
        if mode == NONRETRYABLE:
            raise NonRetryableError(f"{self.name} refuses {x}")
        if attempt <= mode:
            raise ValueError(f"{self.name} attempt {attempt} failed on {x}")
        return (x * self.mul + self.add) % 10

    def undo(self, output: int) -> None:
        """The rollback's effect: raise when it is scripted to fail."""
        if self.rollback_fails:
            raise RuntimeError(f"{self.name} cannot undo {output}")


@dataclass(frozen=True)
class Scenario:
    """A generated program with everything its run depends on.

    Attributes:
        program: The workflow body.
        plans: One plan per step of :data:`STEPS`.
        input: The run's argument ``n``.
        phases: Signals ``(name, payload)`` per phase (see the module docstring).
        max_events: The workflow's ``max_events`` (``None``: no breaker).
    """

    program: Program
    plans: tuple[StepPlan, ...]
    input: int
    phases: tuple[tuple[tuple[str, int], ...], ...]
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
            lines += [
                "",
                f"async def _{plan.name}(ctx: StepContext, x: int) -> int:",
                f"    return await SCRIPT.step(ctx, {plan.name!r}, x)",
                "",
            ]
            options = (
                f"retries={plan.retries}, "
                f'backoff={{"initial": {plan.backoff!r}, "factor": 2.0, "max": 600.0}}'
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
        breaker = "" if self.max_events is None else f", max_events={self.max_events}"
        lines += [
            "",
            f'@workflow("{module}"{breaker})',
            "async def flow(ctx: WorkflowContext, n: int) -> dict[str, list[object]]:",
            "    trace: list[object] = []",
            "    v0 = n",
            "    v1 = 1",
            "    v2 = 2",
            "    v3 = 3",
        ]
        _render_block(self.program.body, 1, lines)
        lines.append(f"    return {RESULT}")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class _Env:
    """What a statement may use where it is generated."""

    names: tuple[str, ...]
    depth: int
    in_loop: bool


def _atoms(env: _Env) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(env.names), st.integers(0, 9).map(str))


def exprs(env: _Env) -> st.SearchStrategy[str]:
    """A small int expression over the names in scope (always in ``0..9``)."""
    binary = st.tuples(_atoms(env), st.sampled_from("+-*"), _atoms(env)).map(
        lambda t: f"({t[0]} {t[1]} {t[2]}) % 10"
    )
    return st.one_of(_atoms(env).map(lambda a: f"{a} % 10"), binary)


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


def _targets() -> st.SearchStrategy[str]:
    return st.sampled_from(VARS[1:])


def _steps() -> st.SearchStrategy[str]:
    return st.sampled_from(STEPS)


@cache
def _statement(env: _Env) -> st.SearchStrategy[Any]:
    # Built once per environment: building strategies on every draw costs more than running
    # the example.
    simple: list[st.SearchStrategy[Any]] = [
        st.builds(Assign, _targets(), exprs(env)),
        st.builds(Trace, exprs(env)),
        # Steps are what the properties are about: weigh them up.
        st.builds(StepCall, st.one_of(st.none(), _targets()), _steps(), exprs(env)),
        st.builds(StepCall, _targets(), _steps(), exprs(env)),
        st.builds(StepCall, _targets(), _steps(), exprs(env)),
        st.builds(
            Parallel,
            st.just(f"p{env.depth}"),
            st.lists(st.tuples(_steps(), exprs(env)), min_size=1, max_size=3).map(tuple),
        ),
        st.builds(
            Map,
            st.just(f"p{env.depth}"),
            _steps(),
            st.integers(0, 3),
            exprs(_Env((*env.names, "x"), env.depth, env.in_loop)),
        ),
        st.builds(Sleep, st.sampled_from(["0", "1", "2.5", '"5m"'])),
        st.builds(
            Signal, _targets(), st.sampled_from(SIGNALS), st.sampled_from([None, None, "3", "60"])
        ),
        st.builds(Jump, st.sampled_from(["return", "raise"]), conds(env), exprs(env)),
    ]
    if env.in_loop:
        simple.append(st.builds(Jump, st.sampled_from(["break", "continue"]), conds(env)))
    if env.depth >= 2:
        return st.one_of(*simple)
    inner = _Env(env.names, env.depth + 1, env.in_loop)
    block = _block(inner)
    loop_var = f"i{env.depth}"
    loop_env = _Env((*env.names, loop_var), env.depth + 1, True)
    while_var = f"w{env.depth}"
    while_env = _Env((*env.names, while_var), env.depth + 1, True)
    compound: list[st.SearchStrategy[Any]] = [
        st.builds(
            If,
            st.lists(st.tuples(conds(env), block), min_size=1, max_size=3).map(tuple),
            st.one_of(st.none(), block),
        ),
        st.builds(
            For, st.just(loop_var), st.integers(0, 3), _block(loop_env), st.one_of(st.none(), block)
        ),
        st.builds(While, st.just(while_var), st.integers(0, 3), _block(while_env)),
        st.builds(
            Try,
            block,
            st.lists(_handlers(inner), min_size=1, max_size=2).map(tuple),
            st.one_of(st.none(), block),
            st.one_of(st.none(), block),
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


@cache
def _handlers(env: _Env) -> st.SearchStrategy[tuple[str, tuple[Any, ...]]]:
    # What the handler saw of the error goes to the trace, so both executors must agree on it.
    views = [(kind, view) for kind, seen in sorted(_HANDLERS.items()) for view in seen]
    return st.tuples(st.sampled_from(views), _block(env)).map(
        lambda t: (t[0][0], (_Raw(t[0][1]), *t[1]))
    )


@dataclass(frozen=True)
class _Raw:
    """A statement rendered as given (a handler's look at ``error``)."""

    text: str


@cache
def _block(env: _Env) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(_statement(env), min_size=1, max_size=2).map(tuple)


def programs() -> st.SearchStrategy[Program]:
    """Workflow bodies: up to six statements, nested up to two levels."""
    env = _Env(("n", *VARS), 0, False)
    return st.lists(_statement(env), min_size=2, max_size=5).map(lambda body: Program(tuple(body)))


def step_plans(name: str) -> st.SearchStrategy[StepPlan]:
    """The behaviour of one step."""
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
        st.booleans(),
        st.booleans(),
    )


def scenarios() -> st.SearchStrategy[Scenario]:
    """A program, its steps' behaviour, its input and the signals it receives."""
    signal = st.tuples(st.sampled_from(SIGNALS), st.integers(0, 9))
    return st.builds(
        Scenario,
        programs(),
        st.tuples(*(step_plans(name) for name in STEPS)),
        st.integers(0, 9),
        st.lists(st.lists(signal, max_size=2).map(tuple), max_size=3).map(tuple),
    )
