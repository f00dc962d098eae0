"""The whitepaper's "BEST PRACTICE" snippet awaits the application's database in
the workflow body (``await myRepo.todos.update(...)``). On replay that write runs
again, and its result is not in the run's log.

Expected diagnostic: VRB112 (awaiting something that is not a step or a ctx method)
Corrected version: examples/signals.py (``my-main-workflow`` does the write in the
``link-todo`` step).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow


class TodoTable:
    async def update(self, todo_id: str, fields: dict[str, Any]) -> None: ...


class Repo:
    todos = TodoTable()


my_repo = Repo()


@step("broken-wait-for-manager")
async def wait_for_manager(message: str) -> dict[str, Any]:
    return {"approved": True, "message": message}


@workflow("broken-my-main-workflow")
async def my_main_workflow(ctx: WorkflowContext, data: dict[str, Any]) -> dict[str, Any]:
    await my_repo.todos.update(data["todo_id"], {"runId": ctx.run_id})
    approval = await wait_for_manager(data["todo_id"])
    other = await ctx.wait_for_signal("other-sig")
    return {"approved": approval["approved"], "ok": other["ok"]}
