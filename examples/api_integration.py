"""Best practice: set appropriate timeouts, per step and per run.

The whitepaper's snippet defines its two steps inside the workflow body;
``vrb-compile`` rejects that (VRB206, see ``examples/broken/step_in_body.py``)
because a step must be registered once, at import time, for the worker and the
compiler to know it. Here the steps live at module level, each with the
``timeout`` that bounds one attempt, and the workflow's ``execution_timeout``
bounds the whole run.

An attempt that outlasts its ``timeout`` is interrupted and fails with a
``TimeoutError`` (then retried, if the step has retries left).
"""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import WorkflowContext, step, workflow

# Stand-in for the external dataset API: rows and how long the API takes to answer.
DATASETS: dict[str, dict[str, Any]] = {
    "ds-small": {"rows": [1, 2, 3], "latency": 0.0},
    "ds-empty": {"rows": [], "latency": 0.0},
}


@step("fetch-large-dataset", timeout="30s")
async def fetch_large_dataset(dataset_id: str) -> dict[str, Any]:
    dataset = DATASETS[dataset_id]
    await asyncio.sleep(dataset["latency"])
    return {"id": dataset_id, "rows": dataset["rows"]}


@step("quick-validation", timeout="5s")
async def quick_validation(data: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(DATASETS[data["id"]].get("validation_latency", 0.0))
    if not data["rows"]:
        raise ValueError(f"dataset {data['id']} has no rows")
    return {"valid": True, "rowCount": len(data["rows"])}


@workflow("api-integration", execution_timeout="60s")
async def api_integration(ctx: WorkflowContext, dataset_id: str) -> dict[str, Any]:
    data = await fetch_large_dataset(dataset_id)
    validation = await quick_validation(data)
    return {"processed": True, "rowCount": validation["rowCount"]}
