"""Iterating over a ``set`` in a workflow body: string hashing is randomised per
process, so a replaying worker may call the steps in another order than the log.

Expected diagnostic: VRB109 (set iteration order)
Corrected version: examples/data_processing.py (iterate a list, or ``sorted(set(...))``).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-process-item")
async def process_item(item_id: str) -> dict[str, Any]:
    return {"processed": item_id}


@workflow("broken-unique-items", max_events=100)
async def unique_items(ctx: WorkflowContext, item_ids: list[str]) -> dict[str, Any]:
    for item_id in set(item_ids):
        await process_item(item_id)
    return {"processedCount": len(item_ids)}
