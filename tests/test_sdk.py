"""The authoring API: definitions, registration, and inline execution outside a run."""

from __future__ import annotations

import asyncio
import threading
import types
from typing import Any

import pytest

import runtime
from runtime import (
    ConfigurationError,
    LocalBackend,
    RegistrationError,
    SignalTimeout,
    Step,
    StepContext,
    Workflow,
    WorkflowContext,
    get_step,
    get_workflow,
    step,
    workflow,
)


async def _double(x: int) -> int:
    return 2 * x


def test_step_function_form_records_options_and_registers_by_name() -> None:
    s = step("test-sdk-double", _double, retries=3, timeout="30s", backoff={"initial": "2s"})
    assert isinstance(s, Step)
    assert (s.name, s.retries, s.timeout) == ("test-sdk-double", 3, 30.0)
    assert s.backoff.delay(1) == 2.0
    assert get_step("test-sdk-double") is s
    assert asyncio.run(s(21)) == 42


def test_step_decorator_form_binds_the_function() -> None:
    @step("test-sdk-upper")
    async def upper(text: str) -> str:
        return text.upper()

    assert isinstance(upper, Step)
    assert upper.__name__ == "upper"
    assert asyncio.run(upper("abc")) == "ABC"


def test_sync_steps_run_in_a_worker_thread() -> None:
    def where() -> str:
        return threading.current_thread().name

    s = step("test-sdk-thread", where)
    assert asyncio.run(s()) != threading.main_thread().name


def test_step_with_step_context_parameter_receives_it() -> None:
    @step("test-sdk-ctx")
    async def with_ctx(ctx: StepContext, x: int) -> dict[str, Any]:
        return {"step": ctx.step_name, "attempt": ctx.attempt, "x": x}

    assert asyncio.run(with_ctx(7)) == {"step": "test-sdk-ctx", "attempt": 1, "x": 7}


def test_two_different_functions_under_one_step_name_are_refused() -> None:
    async def one() -> None: ...

    async def two() -> None: ...

    step("test-sdk-dup", one)
    step("test-sdk-dup", one)  # the same definition again (a re-import) is fine
    with pytest.raises(RegistrationError, match=r"test-sdk-dup.*already registered"):
        step("test-sdk-dup", two)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": True}, "retries"),
        ({"timeout": "soon"}, "timeout"),
    ],
)
def test_bad_step_options_are_refused_with_the_step_name(
    kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        step("test-sdk-bad", _double, **kwargs)
    assert "test-sdk-bad" in str(info.value)


def test_workflow_run_registers_and_the_body_can_be_called_directly() -> None:
    async def body(ctx: WorkflowContext, x: int) -> int:
        return await step("test-sdk-inner", _double)(x) + 1

    wf = workflow("test-sdk-flow", max_events=10, execution_timeout="1m").run(body)
    assert get_workflow("test-sdk-flow") is wf
    assert wf.options() == {"max_events": 10, "execution_timeout": 60.0}
    ctx = WorkflowContext("r1", "test-sdk-flow", LocalBackend("r1"))
    assert asyncio.run(wf(ctx, 4)) == 9


def test_workflow_body_must_be_async() -> None:
    def body(ctx: WorkflowContext) -> None: ...

    with pytest.raises(ConfigurationError, match="async def"):
        workflow("test-sdk-sync").run(body)


def test_class_style_workflow_binds_run_and_step_methods() -> None:
    @Workflow("test-sdk-class", max_events=5)
    class Trip:
        @Step("test-sdk-class-book", retries=2)
        async def book(self, user: str) -> str:
            return f"booked {user}"

        async def run(self, ctx: WorkflowContext, user: str) -> str:
            return await self.book(user)

    wf = get_workflow("test-sdk-class")
    assert wf.cls is Trip
    assert get_step("test-sdk-class-book").retries == 2
    ctx = WorkflowContext("r2", "test-sdk-class", LocalBackend("r2"))
    assert asyncio.run(wf(ctx, "ada")) == "booked ada"


def test_unknown_workflow_lookup_names_the_registered_ones() -> None:
    with pytest.raises(LookupError, match="no workflow named 'nope'"):
        get_workflow("nope")


def test_local_context_values_are_seeded_by_run_id() -> None:
    a = WorkflowContext("same", "w", LocalBackend("same"))
    b = WorkflowContext("same", "w", LocalBackend("same"))
    assert [a.random(), a.uuid4()] == [b.random(), b.uuid4()]
    assert a.uuid4().version == 4


def test_local_signals_are_buffered_fifo_per_name_and_time_out() -> None:
    async def scenario() -> list[Any]:
        backend = LocalBackend()
        ctx = WorkflowContext("r", "w", backend)
        backend.send_signal("go", 1)
        backend.send_signal("go", 2)
        first = await ctx.wait_for_signal("go")
        second = await ctx.wait_for_signal("go")
        with pytest.raises(SignalTimeout, match=r"'go' did not arrive within 0\.01s"):
            await ctx.wait_for_signal("go", timeout=0.01)
        return [first, second]

    assert asyncio.run(scenario()) == [1, 2]


def test_local_parallel_keeps_branch_order() -> None:
    async def slow(x: int) -> int:
        await asyncio.sleep(0.01 * (3 - x))
        return x

    ctx = WorkflowContext("r", "w", LocalBackend())
    assert asyncio.run(ctx.parallel([lambda: slow(0), lambda: slow(1), lambda: slow(2)])) == [
        0,
        1,
        2,
    ]


def test_runtime_exports_exactly_its_public_names() -> None:
    public = {
        name
        for name in dir(runtime)
        if not name.startswith("_") and not isinstance(getattr(runtime, name), types.ModuleType)
    }
    assert public == set(runtime.__all__)
    assert sorted(runtime.__all__) == runtime.__all__
