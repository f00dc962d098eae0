"""External signals: a step that waits for a manager's decision.

The ``await-approval`` step receives its :class:`~runtime.StepContext` (its
first parameter is annotated so) and waits for the ``manager-decision`` signal;
the run holds no worker while it waits, for minutes or days.
"""

from __future__ import annotations

from typing import Any

from runtime import StepContext, WorkflowContext, step, workflow

REQUESTS: dict[str, dict[str, Any]] = {}


@step("create-request")
async def create_request(data: dict[str, Any]) -> dict[str, Any]:
    request_id = f"REQ-{len(REQUESTS) + 1}"
    REQUESTS[request_id] = {**data, "status": "pending"}
    return {"requestId": request_id}


@step("await-approval")
async def await_approval(ctx: StepContext, request: dict[str, Any]) -> dict[str, Any]:
    decision = await ctx.wait_for_signal("manager-decision")
    if not decision["approved"]:
        raise ValueError(f"Request {request['requestId']} rejected")
    return {"approved": True, "approver": decision["approver"]}


@step("execute-action")
async def execute_action(approved_request: dict[str, Any]) -> dict[str, Any]:
    REQUESTS[approved_request["requestId"]]["status"] = "executed"
    return {"completed": True}


@workflow("approval-workflow")
async def approval_workflow(ctx: WorkflowContext, request_data: dict[str, Any]) -> dict[str, Any]:
    request = await create_request(request_data)
    approved = await await_approval(request)
    return await execute_action({**request, **approved})
