"""Step-level circuit breakers: retries and a rollback on the external call,
``execution_timeout`` and ``max_events`` on the run."""

from __future__ import annotations

from typing import Any

from runtime import Backoff, WorkflowContext, step, workflow

EXTERNAL_JOBS: dict[str, dict[str, Any]] = {}


async def _cancel_external(error: BaseException, output: dict[str, Any]) -> None:
    EXTERNAL_JOBS.pop(output["externalId"], None)


@step(
    "call-external-api",
    retries=3,
    backoff=Backoff(initial="1s", factor=2.0, max="30s"),
    rollback_fn=_cancel_external,
)
async def call_external_api(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("fail"):
        raise ConnectionError("API returned 503")
    external_id = f"EXT-{data['id']}"
    EXTERNAL_JOBS[external_id] = data
    return {"externalId": external_id, "payload": data}


@step("local-processing")
async def local_processing(external: dict[str, Any]) -> dict[str, Any]:
    return {"externalId": external["externalId"], "fields": sorted(external["payload"])}


@workflow("resilient-workflow", execution_timeout="60s", max_events=500)
async def resilient_workflow(ctx: WorkflowContext, input_data: dict[str, Any]) -> dict[str, Any]:
    external = await call_external_api(input_data)
    processed = await local_processing(external)
    return {"result": processed}
