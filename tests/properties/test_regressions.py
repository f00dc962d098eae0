"""Counterexamples the properties found, kept as plain tests (shrunk, as Hypothesis gave them).

Each names what it found; the properties' own databases are not relied on, so a
fresh clone still checks every one of them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.strategies import (
    Assign,
    Jump,
    Parallel,
    Program,
    Scenario,
    Sleep,
    StepCall,
    StepPlan,
    Trace,
    Try,
    _Raw,
)

from .test_crash import check_crash_equivalence
from .test_source_graph import check_equivalent


def _plans(*changed: StepPlan) -> tuple[StepPlan, ...]:
    plain = {name: StepPlan(name, 0, 0.5, (0,), 0, 0, False, False) for name in ("s0", "s1", "s2")}
    plain.update({plan.name: plan for plan in changed})
    return tuple(plain.values())


def test_a_finally_reraises_its_pending_exception_after_a_nested_try_caught_another() -> None:
    # The bug: the walker kept one "exception being handled" per frame, so the
    # StepFailed caught by the try inside the finally replaced the ValueError the
    # finally had to re-raise; the run failed with StepFailed instead of ValueError.
    scenario = Scenario(
        Program(
            body=(
                Trace(expr="n % 10"),
                Try(
                    body=(Jump(kind="raise", cond="n % 2 == 1", expr="n % 10"),),
                    handlers=(("except SignalTimeout", (_Raw("trace.append(-1)"), Sleep("0"))),),
                    orelse=None,
                    final=(
                        Try(
                            body=(StepCall(target=None, step="s0", expr="n % 10"),),
                            handlers=(
                                (
                                    "except Exception as error",
                                    (
                                        _Raw("trace.append(type(error).__name__)"),
                                        Assign(var="v1", expr="n % 10"),
                                    ),
                                ),
                            ),
                            orelse=None,
                            final=None,
                        ),
                    ),
                ),
            )
        ),
        _plans(StepPlan("s0", 0, 0.5, (1,), 0, 0, False, False)),
        1,
        (),
    )
    check_equivalent(scenario, "memory://")


def test_parallel_branches_resumed_after_a_crash_may_complete_in_another_order() -> None:
    # Not a runtime bug: the crash property compared logs in commit order, and a
    # resumed run (its clock moved past the lease, so a branch's pending retry is
    # due at once) may commit its concurrent branches in another order.
    scenario = Scenario(
        Program(
            body=(
                Assign(var="v1", expr="n % 10"),
                Parallel(target="p0", calls=(("s2", "n % 10"), ("s0", "n % 10"))),
            )
        ),
        _plans(StepPlan("s2", 1, 0.5, (1,), 0, 0, False, False)),
        0,
        (),
    )
    check_crash_equivalence(scenario, "memory://")


def test_branches_due_at_the_same_moment_may_call_their_steps_in_either_order() -> None:
    # Not a runtime bug: property 1 compared step calls in order, and two retries
    # of parallel branches due at the same virtual moment ran in another order on
    # SQLite (each branch commits before it calls its step).
    scenario = Scenario(
        Program(
            body=(
                Assign(var="v1", expr="n % 10"),
                Parallel(
                    target="p0", calls=(("s0", "n % 10"), ("s2", "n % 10"), ("s0", "v2 % 10"))
                ),
            )
        ),
        _plans(
            StepPlan("s0", 1, 1.0, (1,), 0, 0, False, False),
            StepPlan("s2", 1, 0.5, (1,), 0, 0, False, False),
        ),
        0,
        (),
    )
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(5):
            check_equivalent(scenario, f"sqlite:///{Path(directory) / 'vrb.db'}")
