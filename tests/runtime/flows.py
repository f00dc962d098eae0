"""Workflows the runtime behaviour tests run (compiled in-process by the worker)."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import (
    Backoff,
    NonRetryableError,
    SignalTimeout,
    StepContext,
    StepFailed,
    WorkflowContext,
    step,
    workflow,
)

CALLS: list[Any] = []
"""Every step execution and rollback, in order (reset by the tests)."""

FLAKY_FAILURES = 2
BRANCH_FLAG = True


@step("t-add")
async def add(x: int, y: int = 1) -> int:
    CALLS.append(("add", x))
    return x + y


@step("t-echo")
def echo(value: Any) -> Any:
    CALLS.append(("echo", value))
    return value


@step("t-flaky", retries=3, backoff=Backoff(initial=0.01, factor=2, max=0.02))
async def flaky(ctx: StepContext, label: str) -> dict[str, Any]:
    CALLS.append(("flaky", ctx.attempt, ctx.idempotency_key))
    if ctx.attempt <= FLAKY_FAILURES:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return {"label": label, "attempt": ctx.attempt}


@step("t-fatal", retries=5, backoff=Backoff(initial=0.01))
async def fatal() -> None:
    CALLS.append(("fatal",))
    raise NonRetryableError("card declined")


@step("t-slow", timeout="50ms", retries=1, backoff=Backoff(initial=0.01))
async def slow() -> None:
    CALLS.append(("slow",))
    await asyncio.sleep(5)


async def _undo_reserve(error: BaseException, output: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(("undo-reserve", type(error).__name__, output))
    return {"released": output["id"]}


async def _undo_charge(error: BaseException, output: dict[str, Any]) -> None:
    CALLS.append(("undo-charge", type(error).__name__, output))


@step("t-reserve", rollback_fn=_undo_reserve)
async def reserve(item: str) -> dict[str, Any]:
    CALLS.append(("reserve", item))
    return {"id": f"R-{item}"}


@step("t-charge", rollback_fn=_undo_charge)
async def charge(amount: float) -> dict[str, Any]:
    CALLS.append(("charge", amount))
    return {"amount": amount}


@step("t-ship", retries=1, backoff=Backoff(initial=0.01))
async def ship(fail: bool) -> str:
    CALLS.append(("ship", fail))
    if fail:
        raise RuntimeError("no courier")
    return "shipped"


@step("t-block", timeout="10s")
async def block(seconds: float) -> str:
    CALLS.append(("block", seconds))
    await asyncio.sleep(seconds)
    return "unblocked"


@step("t-approve")
async def approve(ctx: StepContext, request: str) -> Any:
    CALLS.append(("approve", request))
    decision = await ctx.wait_for_signal("approval", timeout=10)
    return {"request": request, "decision": decision}


@step("t-approve-or-time-out")
async def approve_or_time_out(ctx: StepContext, request: str) -> Any:
    CALLS.append(("approve-or-time-out", request))
    try:
        decision = await ctx.wait_for_signal("approval", timeout="200ms")
    except SignalTimeout:
        return {"request": request, "decision": "timed out"}
    return {"request": request, "decision": decision}


@step("t-note")
async def note(value: Any) -> Any:
    CALLS.append(("note", value))
    return value


@workflow("t-sequential")
async def sequential(ctx: WorkflowContext, x: int) -> dict[str, Any]:
    a = await add(x)
    b = await add(a, y=10)
    total = a + b
    return {"a": a, "b": b, "total": total}


async def _double_then_add(value: int) -> int:
    doubled = await add(value, y=value)
    return doubled + 1


@workflow("t-control")
async def control(ctx: WorkflowContext, items: list[int]) -> dict[str, Any]:
    kept = []
    for item in items:
        if item % 2 == 0:
            continue
        value = await add(item)
        kept.append(value)
        if value > 6:
            break
    count = 0
    while count < 2:
        await echo(count)
        count += 1
    helped = await _double_then_add(3)
    try:
        boom = {"a": 1}["missing"]
    except KeyError:
        boom = -1
    squares = [k * k for k in kept if k > 0]
    return {"kept": kept, "helped": helped, "boom": boom, "squares": squares}


@workflow("t-retry")
async def retrying(ctx: WorkflowContext) -> dict[str, Any]:
    return await flaky("x")


@workflow("t-nonretryable")
async def nonretryable(ctx: WorkflowContext) -> None:
    await fatal()


@workflow("t-timeout")
async def timing_out(ctx: WorkflowContext) -> None:
    await slow()


@workflow("t-saga")
async def saga(ctx: WorkflowContext, fail: bool) -> str:
    await reserve("book")
    await charge(12.5)
    return await ship(fail)


@workflow("t-saga-caught")
async def saga_caught(ctx: WorkflowContext) -> dict[str, Any]:
    await reserve("pen")
    try:
        await charge(3.0)
        await ship(True)
    except StepFailed as error:
        return {"failed": error.step, "compensated": error.compensated}
    return {"failed": None, "compensated": []}


@workflow("t-parallel")
async def parallel(ctx: WorkflowContext, fail: bool) -> list[Any]:
    return await ctx.parallel([lambda: reserve("a"), lambda: charge(2.0), lambda: ship(fail)])


@workflow("t-map")
async def mapping(ctx: WorkflowContext, values: list[int]) -> list[int]:
    results = await asyncio.gather(*(add(v) for v in values))
    return list(results)


@workflow("t-sleep")
async def sleeping(ctx: WorkflowContext, seconds: float) -> str:
    await add(1)
    await ctx.sleep(seconds)
    await add(2)
    return "rested"


@workflow("t-signal")
async def signalled(ctx: WorkflowContext) -> Any:
    await add(0)
    first = await ctx.wait_for_signal("go")
    second = await ctx.wait_for_signal("go")
    return [first, second]


@workflow("t-signal-timeout")
async def signal_timeout(ctx: WorkflowContext, timeout: float) -> str:
    try:
        await ctx.wait_for_signal("go", timeout=timeout)
    except SignalTimeout:
        return "timed out"
    return "signalled"


@workflow("t-step-signal")
async def step_signal(ctx: WorkflowContext) -> Any:
    return await approve("leave")


@workflow("t-step-signals-mapped")
async def step_signals_mapped(ctx: WorkflowContext, requests: list[str]) -> list[Any]:
    decisions = await asyncio.gather(*(approve(r) for r in requests))
    return list(decisions)


@workflow("t-step-signal-timeout")
async def step_signal_timeout(ctx: WorkflowContext) -> Any:
    return await approve_or_time_out("leave")


@workflow("t-now-alias")
async def now_alias(ctx: WorkflowContext) -> str:
    # ctx.now reached through an alias: the body never spells "now(".
    clock = ctx.now
    await add(1)
    stamp = clock().isoformat()
    await note(stamp)
    await ctx.sleep(0.3)
    return stamp


@workflow("t-max-events", max_events=12)
async def max_events(ctx: WorkflowContext) -> None:
    await reserve("first")
    i = 0
    while i < 100:
        await add(i)
        i += 1


@workflow("t-execution-timeout", execution_timeout="1s")
async def execution_timeout(ctx: WorkflowContext) -> None:
    await reserve("first")
    await block(30)


@workflow("t-cancel")
async def cancellable(ctx: WorkflowContext) -> Any:
    await reserve("c")
    return await ctx.wait_for_signal("never")


@workflow("t-deterministic")
async def deterministic(ctx: WorkflowContext) -> list[Any]:
    values = [ctx.random(), str(ctx.uuid4()), ctx.now().isoformat()]
    await echo(values)
    await ctx.sleep(0.2)
    return values


@workflow("t-diverge")
async def diverge(ctx: WorkflowContext) -> str:
    if BRANCH_FLAG:
        await add(1)
    else:
        await echo("other")
    await ctx.sleep(0.3)
    return "done"


@workflow("t-block")
async def blocking(ctx: WorkflowContext, seconds: float) -> str:
    await add(1)
    return await block(seconds)


@step("t-tuple")
async def tuple_output() -> Any:
    CALLS.append(("tuple",))
    return (1, 2)


@workflow("t-bad-step-output")
async def bad_step_output(ctx: WorkflowContext) -> Any:
    return await tuple_output()


@workflow("t-bad-result")
async def bad_result(ctx: WorkflowContext, x: int) -> Any:
    value = await add(x)
    return (value, value)


class CardDeclined(Exception):
    """A step's own exception type with a field, as payment clients raise them."""

    def __init__(self, code: str) -> None:
        super().__init__(f"card declined ({code})")
        self.code = code


@step("t-decline")
async def decline(code: str) -> None:
    CALLS.append(("decline", code))
    raise CardDeclined(code)


@step("t-lookup")
async def lookup(name: str) -> None:
    CALLS.append(("lookup", name))
    raise KeyError(name)


@workflow("t-error-types")
async def error_types(ctx: WorkflowContext, code: str) -> dict[str, Any]:
    try:
        await decline(code)
        declined = "no failure"
    except StepFailed as error:
        if isinstance(error.cause, CardDeclined):
            declined = f"declined {error.cause.code}: {error.cause}"
        else:
            declined = f"other {type(error.cause).__name__}: {error.cause}"
    try:
        await lookup("sku")
        missing = "no failure"
    except StepFailed as error:
        missing = f"{isinstance(error.cause, KeyError)} {error.cause} {error.cause.args}"
    live = await echo([declined, missing])
    # After the sleep the body is replayed from the log: the causes are rebuilt.
    await ctx.sleep(0.2)
    return {"live": live, "replayed": [declined, missing]}


async def _undo_hanging(error: BaseException, output: Any) -> None:
    CALLS.append(("undo-hang", output))
    await asyncio.sleep(3600)  # the tests kill the worker running it


@step("t-keep", rollback_fn=_undo_hanging)
async def keep() -> str:
    CALLS.append(("keep",))
    return "kept"


@workflow("t-hanging-rollback")
async def hanging_rollback(ctx: WorkflowContext) -> None:
    await keep()
    await fatal()


@workflow("t-reserve-then-block")
async def reserve_then_block(ctx: WorkflowContext, seconds: float) -> str:
    await reserve("seat")
    return await block(seconds)
