"""Step-level circuit breakers: retries and a rollback on the external call,
``execution_timeout`` and ``max_events`` on the run.

``call-external-api`` fails its first ``failures`` attempts (a stand-in for an
API answering 503): up to three retries absorb them, with exponential backoff;
a fourth failure fails the step for good. Once it has completed, a failure in
``local-processing`` triggers its ``rollback_fn``, which cancels the external job.
"""

from __future__ import annotations

from typing import Any

from runtime import Backoff, StepContext, WorkflowContext, step, workflow

EXTERNAL_JOBS: dict[str, dict[str, Any]] = {}


async def _cancel_external(error: BaseException, output: dict[str, Any]) -> None:
    EXTERNAL_JOBS.pop(output["externalId"], None)


# Short delays so the example's failure paths finish in a second or two;
# production values would be seconds (initial="1s", max="30s").
@step(
    "call-external-api",
    retries=3,
    backoff=Backoff(initial="100ms", factor=2.0, max="1s"),
    rollback_fn=_cancel_external,
)
async def call_external_api(ctx: StepContext, data: dict[str, Any]) -> dict[str, Any]:
    if ctx.attempt <= data.get("failures", 0):
        raise ConnectionError(f"API returned 503 (attempt {ctx.attempt})")
    external_id = f"EXT-{data['id']}"
    EXTERNAL_JOBS[external_id] = data
    return {"externalId": external_id, "payload": data}


@step("local-processing")
async def local_processing(external: dict[str, Any]) -> dict[str, Any]:
    if "malformed" in external["payload"]:
        raise ValueError(f"cannot process {external['externalId']}: malformed payload")
    return {"externalId": external["externalId"], "fields": sorted(external["payload"])}


@workflow("resilient-workflow", execution_timeout="60s", max_events=500)
async def resilient_workflow(ctx: WorkflowContext, input_data: dict[str, Any]) -> dict[str, Any]:
    external = await call_external_api(input_data)
    processed = await local_processing(external)
    return {"result": processed}
