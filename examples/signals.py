"""Sending signals: a wait inside a step (``StepContext``) and one in the body (``ctx``).

``my-main-workflow`` is the whitepaper's "best practice" done right: recording
the run id in the application's database is I/O, so it happens in a step
(``link-todo``), never in the workflow body (see ``examples/broken/io_in_body.py``).
"""

from __future__ import annotations

from typing import Any

from runtime import StepContext, WorkflowContext, step, workflow

TODOS: dict[str, dict[str, Any]] = {"todo-1": {"title": "buy milk"}}


@step("wait-for-manager")
async def wait_for_manager(ctx: StepContext, message: str) -> dict[str, Any]:
    approval = await ctx.wait_for_signal("manager-approval")
    return {"approved": bool(approval["approved"]), "message": message}


@step("link-todo")
async def link_todo(todo_id: str, run_id: str) -> dict[str, Any]:
    TODOS[todo_id]["runId"] = run_id
    return {"todoId": todo_id, "runId": run_id}


async def my_workflow(ctx: WorkflowContext, data: dict[str, Any]) -> dict[str, Any]:
    approval = await wait_for_manager(data["message"])
    other = await ctx.wait_for_signal("other-sig", timeout="1d")
    return {"approved": approval["approved"], "ok": other["ok"]}


workflow("my-workflow").run(my_workflow)


@workflow("my-main-workflow")
async def my_main_workflow(ctx: WorkflowContext, data: dict[str, Any]) -> dict[str, Any]:
    await link_todo(data["todo_id"], ctx.run_id)
    approval = await wait_for_manager(data["todo_id"])
    other = await ctx.wait_for_signal("other-sig")
    return {"approved": approval["approved"], "ok": other["ok"]}
