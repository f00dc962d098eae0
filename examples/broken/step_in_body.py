"""The whitepaper's "Set Appropriate Timeouts" snippet defines its steps inside the
workflow body. Steps must be registered once, at import time, so a worker knows
them before any run starts; defined in the body, they are re-created on every
replay and invisible to the compiler's graph.

Expected diagnostic: VRB206 (a step defined inside a workflow body)
Corrected version: examples/api_integration.py (steps at module level, with
``timeout=`` on the step and ``execution_timeout=`` on the workflow).
"""

from __future__ import annotations

from typing import Any

from runtime import WorkflowContext, step, workflow

DATASETS: dict[str, dict[str, Any]] = {"ds-1": {"rows": 3}}


@workflow("broken-api-integration", execution_timeout="60s")
async def api_integration(ctx: WorkflowContext, dataset_id: str) -> dict[str, Any]:
    fetch_dataset = step("fetch-large-dataset", lambda key: DATASETS[key], timeout="30s")
    quick_validation = step("quick-validation", lambda data: data["rows"] > 0, timeout="5s")

    data = await fetch_dataset(dataset_id)
    await quick_validation(data)
    return {"processed": True}
