"""The workflows the ``vrb`` fuzz serves: one that ends, one that fails, one that waits.

Their runs seed the store the generated commands act on, so ``runs show``,
``signal`` and ``trigger --run-id ... --wait`` reach runs in every state.
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow


@step("fuzz-echo-step")
async def echo_step(value: Any) -> Any:
    return value


@step("fuzz-fail-step", retries=0)
async def fail_step(value: Any) -> Any:
    raise ValueError(f"refused {value!r}")


@workflow("fuzz-echo")
async def fuzz_echo(ctx: WorkflowContext, value: Any = None) -> Any:
    return await echo_step(value)


@workflow("fuzz-fail")
async def fuzz_fail(ctx: WorkflowContext, value: Any = None) -> Any:
    return await fail_step(value)


@workflow("fuzz-wait")
async def fuzz_wait(ctx: WorkflowContext) -> Any:
    return await ctx.wait_for_signal("go")
