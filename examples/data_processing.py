"""Circuit breaker ``max_events``: a loop over items, capped at 100 events.

A run handed too many items trips :class:`~runtime.MaxEventsExceeded` instead
of flooding the event store.
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

PROCESSED: dict[str, str] = {}


@step("process-item")
async def process_item(item_id: str) -> dict[str, Any]:
    PROCESSED[item_id] = "processed"
    return {"processed": True}


@workflow("data-processing", max_events=100)
async def data_processing(ctx: WorkflowContext, item_ids: list[str]) -> dict[str, Any]:
    for item_id in item_ids:
        await process_item(item_id)
    return {"processedCount": len(item_ids)}
