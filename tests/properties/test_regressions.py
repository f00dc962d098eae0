"""Counterexamples the properties found, kept as plain tests (shrunk, as Hypothesis gave them).

Each names what it found; the properties' own databases are not relied on, so a
fresh clone still checks every one of them. Bugs in code this suite does not
own are kept as strict xfail tests until they are fixed (the properties leave
those cases out, naming the test here).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from tests.strategies import (
    Assign,
    Delivery,
    Jump,
    Map,
    Parallel,
    Program,
    Scenario,
    Signal,
    Sleep,
    StepCall,
    StepPlan,
    Trace,
    Try,
    _Raw,
)

from .saga import history_timeline, saga_view
from .test_crash import check_crash_equivalence, crash_and_resume
from .test_replay import check_replay_equivalence
from .test_source_graph import _on_worker, check_equivalent


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
        for attempt in range(5):
            # A fresh database each time: every run of a scenario has the same run id.
            check_equivalent(scenario, f"sqlite:///{Path(directory) / f'vrb-{attempt}.db'}")


def test_a_bare_raise_in_a_finally_run_after_the_handler_caught_the_error_is_a_runtime_error() -> (
    None
):
    # The bug (runtime/interpreter/walker.py): a raise whose RaiseNode.handling is null was
    # read as a graph built before `handling` existed, so it re-raised the latest exception
    # the frame had caught (the StepFailed its handler had dealt with) instead of raising
    # RuntimeError("No active exception to reraise") as Python does.
    scenario = Scenario(
        Program(
            body=(
                Try(
                    body=(StepCall(target=None, step="s0", expr="n % 10"),),
                    handlers=(
                        (
                            "except Exception as error",
                            (_Raw("trace.append(type(error).__name__)"),),
                        ),
                    ),
                    orelse=None,
                    final=(Jump(kind="reraise", cond="n == 0"),),
                ),
            )
        ),
        _plans(StepPlan("s0", 0, 0.5, (-1,), 0, 0, False, False)),
        0,
    )
    check_equivalent(scenario, "memory://")


def test_an_empty_map_is_no_checkpoint_so_its_replay_cannot_trip_the_breaker_there() -> None:
    # The bug (runtime/interpreter/walker.py): a map over nothing still asked the host for a
    # checkpoint, and with no key to find settled in the journal a replay applied
    # max_events there with the whole log counted: it tripped at the map, before the step
    # the live run had completed after it (the replay's state differed from the live one).
    scenario = Scenario(
        Program(
            body=(
                Map("p0", "s0", "range(0)", "n % 10"),
                StepCall("v1", "s0", "n % 10"),
                Sleep("0"),
            )
        ),
        _plans(),
        0,
        max_events=3,
    )
    check_replay_equivalence(scenario, lambda name: "memory://")


def test_a_step_in_flight_at_a_crash_does_not_make_max_events_trip() -> None:
    # The bug (runtime/worker_run.py), found by property 3: uninterrupted, the run logs 7
    # events (max_events=5 is checked before each step: 2 and 4 events). Crashed right after
    # the commit of the first step_started and resumed, the checkpoint before re-running that
    # attempt saw 3 events, and the one before the second step 5 (the re-written
    # step_started counted): the breaker tripped. A checkpoint whose operation the log shows
    # under way now passes as the live one did, and a restarted attempt counts once.
    scenario = Scenario(
        Program(body=(StepCall("v1", "s0", "n % 10"), StepCall("v1", "s0", "n % 10"))),
        _plans(),
        0,
        max_events=5,
    )
    crashed = asyncio.run(crash_and_resume(scenario, "memory://", 2, True))
    assert crashed is not None
    assert crashed.outcome.status == "completed", crashed.outcome


def test_a_parallel_node_resumed_after_a_retry_keeps_the_breaker_decision_of_its_first_claim() -> (
    None
):
    # Found first by property 3: branch 0 fails its first attempt and the run waits for the
    # retry; branch 1 completes. Resumed, the worker used to check max_events (4) before the
    # node again (guessing from commit times whether the live run had passed it), trip, and
    # compensate only the branches it had replayed. The decision is now read from the log:
    # the node's branches have events, so the claim that started them passed the check, and
    # the resumed run goes on as that claim did (the completed branches join the saga
    # whenever a run does stop at such a node: cancellation, execution_timeout).
    scenario = Scenario(
        Program(body=(Parallel("p0", (("s0", "n % 10"), ("s1", "n % 10"))),)),
        _plans(
            StepPlan("s0", 1, 0.5, (1,), 0, 0, False, False),
            StepPlan("s1", 0, 0.5, (0,), 0, 0, True, False),
        ),
        0,
        max_events=4,
    )
    record = _on_worker(scenario, "memory://")
    assert record.outcome.status == "completed", record.outcome
    assert [(e.type, e.key) for e in record.history if e.key == "n2#0"] == [
        ("step_started", "n2#0"),
        ("step_retrying", "n2#0"),
        ("step_started", "n2#0"),
        ("step_completed", "n2#0"),
    ]
    saga_view(history_timeline(record.history), scenario, failed=False)


def test_a_signal_wait_resumed_past_max_events_takes_its_signal_as_the_live_run_did() -> None:
    # Issue 13, found by property 2 on a fresh clone: a signal wait, then a step, under
    # max_events 4. The run waits with 3 events; the signal makes 4. The claim that resumes
    # it used to guess whether the wait's checkpoint had been passed and tripped the breaker
    # there, while replaying the 4-event prefix gave another answer. The wait has its
    # wait_created, so its checkpoint was passed: the signal is taken, and the breaker
    # trips at the step, on every path to it.
    scenario = Scenario(
        Program(body=(Signal("v1", "g0", None), StepCall("v2", "s0", "v1 % 10"))),
        _plans(),
        0,
        (Delivery("g0", 4, 1.0),),
        max_events=4,
    )
    record = _on_worker(scenario, "memory://")
    assert record.outcome.value["type"] == "MaxEventsExceeded", record.outcome
    assert [e.type for e in record.history][2:] == [
        "wait_created",
        "signal_received",
        "signal_consumed",
        "circuit_breaker_tripped",
        "run_failed",
    ]
    check_replay_equivalence(scenario, lambda name: "memory://")
    check_crash_equivalence(scenario, "memory://")


def test_a_run_resumed_while_compensating_a_tripped_breaker_records_the_trip_once() -> None:
    # The bug (runtime/worker_run.py), found by property 3 (and property 2: a replay of the
    # log up to the trip recorded the trip again instead of going on to compensate). The
    # crash comes right after the commit of the trip, before the rollback of the first step
    # ran. The journal now indexes the trip (a keyless event it used to skip).
    scenario = Scenario(
        Program(body=(StepCall("v1", "s0", "n % 10"), StepCall("v1", "s0", "n % 10"))),
        _plans(StepPlan("s0", 0, 0.5, (0,), 0, 0, True, False)),
        0,
        max_events=3,
    )
    crashed = asyncio.run(crash_and_resume(scenario, "memory://", 4, True))
    assert crashed is not None
    # The trip commits with the start of the first rollback, which the crash cuts short.
    assert [e.type for e in crashed.durable][-2:] == ["circuit_breaker_tripped", "rollback_started"]
    trips = [e for e in crashed.history if e.type == "circuit_breaker_tripped"]
    assert len(trips) == 1, [e.type for e in crashed.history]


@pytest.mark.parametrize(
    "branches", [("s0", "s1", "s2"), ("s2", "s0", "s1")], ids=["waits-last", "waits-first"]
)
def test_a_branch_failing_for_good_while_a_sibling_waits_for_a_signal_fails_the_node_at_once(
    branches: tuple[str, ...],
) -> None:
    # Issue 13, found by property 3 on a fresh clone once signals waited inside steps were
    # generated: branch 0 fails, branch 1 completes (it has a rollback), branch 2 waits for
    # g0, which never comes. The wait won over the failure: the run waited for good with
    # branch 1 never compensated. Now the node fails at once; the waiting branch is
    # recorded failed (BranchAbandoned), so a replay or a resumed run sees the same; the
    # node raises the failure, not the abandonment, whichever branch comes first.
    scenario = Scenario(
        Program(
            body=(
                Parallel("p0", tuple((name, "n % 10") for name in branches)),
                StepCall(None, "s0", "n % 10"),
            )
        ),
        _plans(
            StepPlan("s0", 0, 0.5, (1,), 0, 0, False, False),
            StepPlan("s1", 0, 0.5, (0,), 0, 0, True, False),
            StepPlan("s2", 0, 0.5, (0,), 0, 0, False, False, wait="g0"),
        ),
        0,
        (Delivery("g1", 0, 0.0),),
    )
    record = _on_worker(scenario, "memory://")
    assert record.outcome.status == "failed", record.outcome
    failed = [e for e in record.history if e.type == "step_failed"]
    assert sorted(e.payload.error.type for e in failed) == ["BranchAbandoned", "ValueError"]  # type: ignore[union-attr]
    assert "ValueError" in record.outcome.value["message"]
    saga_view(history_timeline(record.history), scenario, failed=True)
    check_replay_equivalence(scenario, lambda name: "memory://")
    check_crash_equivalence(scenario, "memory://")
