"""The whitepaper stamps records with ``new Date()``; done in a workflow body,
``datetime.now()`` returns a different value when the run is replayed.

Expected diagnostic: VRB101 (wall clock)
Corrected version: examples/document_approval.py (``submittedAt`` comes from
``ctx.now()``, which is recorded and identical on replay; or read the clock
inside a step).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-submit-document")
async def submit_document(document: dict[str, Any]) -> dict[str, Any]:
    return {"documentId": document["id"], "submittedAt": document["submittedAt"]}


@workflow("broken-document-submission")
async def document_submission(ctx: WorkflowContext, document: dict[str, Any]) -> dict[str, Any]:
    submitted_at = datetime.now().isoformat()
    return await submit_document({**document, "submittedAt": submitted_at})
