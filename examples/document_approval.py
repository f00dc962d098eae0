"""Use case 2, multi-level document approval: two human decisions, days apart.

Each review step waits for its own signal (``manager-decision``, then
``legal-decision``) through its :class:`~runtime.StepContext`. The submission
time (the whitepaper's ``submittedAt: new Date()``) comes from ``ctx.now()``,
the run's recorded clock, never from ``datetime.now()`` in the body (see
``examples/broken/wall_clock.py``).
"""

from __future__ import annotations

from typing import Any

from runtime import StepContext, WorkflowContext, step, workflow

DOCUMENTS: dict[str, dict[str, Any]] = {}


@step("submit-document")
async def submit_document(document: dict[str, Any]) -> dict[str, Any]:
    DOCUMENTS[document["id"]] = {**document, "status": "pending_manager_approval"}
    return {"documentId": document["id"]}


async def _review(ctx: StepContext, document_id: str, signal: str, next_status: str) -> None:
    decision = await ctx.wait_for_signal(signal)
    record = DOCUMENTS[document_id]
    if not decision["approved"]:
        record.update(status="rejected", rejectionReason=decision.get("comments"))
        raise ValueError(f"Rejected at {signal}")
    record.update(status=next_status, approvedBy=decision["reviewer"])


@step("manager-review")
async def manager_review(ctx: StepContext, submitted: dict[str, Any]) -> dict[str, Any]:
    await _review(ctx, submitted["documentId"], "manager-decision", "pending_legal_review")
    return {"documentId": submitted["documentId"]}


@step("legal-review")
async def legal_review(ctx: StepContext, reviewed: dict[str, Any]) -> dict[str, Any]:
    await _review(ctx, reviewed["documentId"], "legal-decision", "approved")
    return {"approved": True, "documentId": reviewed["documentId"]}


@step("notify-stakeholders")
async def notify_stakeholders(approval: dict[str, Any]) -> dict[str, Any]:
    return {"notified": True}


@workflow("document-approval")
async def document_approval(ctx: WorkflowContext, document: dict[str, Any]) -> dict[str, Any]:
    # ctx.now() is recorded with the run: a replay stamps the same time.
    submitted = await submit_document({**document, "submittedAt": ctx.now().isoformat()})
    manager_approved = await manager_review(submitted)
    legal_approved = await legal_review(manager_approved)
    await notify_stakeholders(legal_approved)
    return {"status": "fully_approved", "documentId": document["id"]}
