"""Minting an id with ``uuid.uuid4()`` in a workflow body: on replay the step is
called with another id than the one recorded, and idempotency keys built from it
stop matching.

Expected diagnostic: VRB103 (identifiers)
Corrected version: examples/order_processing.py (derive ids from the input, or use
``ctx.uuid4()``, seeded from the run and identical on replay).
"""

from __future__ import annotations

import uuid
from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-create-request")
async def create_request(request: dict[str, Any]) -> dict[str, Any]:
    return {"requestId": request["requestId"]}


@workflow("broken-request-ids")
async def request_ids(ctx: WorkflowContext, data: dict[str, Any]) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return await create_request({**data, "requestId": request_id})
