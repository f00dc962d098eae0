"""Use case 3, a data pipeline with circuit breakers.

A ``while`` loop fetches batches until the source is exhausted (``break``) or
enough records are processed; each batch is transformed record by record in
parallel with the ``asyncio.gather`` map pattern, which the compiler lowers to
one ``map`` node; a durable ``ctx.sleep`` paces the source.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import WorkflowContext, step, workflow

SOURCE_SIZE = 250
INSERTED: list[dict[str, Any]] = []


def calculate_score(metrics: dict[str, Any]) -> float:
    return float(metrics.get("score") or 0)


@step("fetch-batch", retries=2)
async def fetch_batch(offset: int, limit: int) -> list[dict[str, Any]]:
    stop = min(offset + limit, SOURCE_SIZE)
    return [
        {"externalId": f"EXT-{i}", "name": f"record {i}", "metrics": {"score": i % 7}}
        for i in range(offset, stop)
    ]


@step("transform-record")
async def transform_record(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["externalId"],
        "name": record["name"],
        "normalizedScore": calculate_score(record["metrics"]),
    }


@step("batch-insert")
async def batch_insert(records: list[dict[str, Any]]) -> dict[str, Any]:
    INSERTED.extend(records)
    return {"insertedCount": len(records)}


@workflow("data-pipeline", max_events=2000, execution_timeout="300s")
async def data_pipeline(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    offset = 0
    processed_count = 0
    batch_size = config.get("batch_size") or 100

    while processed_count < config["max_records"]:
        batch = await fetch_batch(offset, batch_size)
        if len(batch) == 0:
            break
        transformed = await asyncio.gather(*(transform_record(record) for record in batch))
        await batch_insert(list(transformed))
        processed_count += len(batch)
        offset += batch_size
        await ctx.sleep("100ms")

    return {"processedCount": processed_count, "status": "completed"}
