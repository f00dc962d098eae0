"""Reading the process environment in a workflow body: the worker that replays
the run may have another environment than the one that started it.

Expected diagnostic: VRB104 (process environment)
Corrected version: examples/external_api_calls.py (its ``resolve-urls`` step
reads ``API_BASE_URL``, so the value is recorded; or pass configuration as a
run argument).
"""

from __future__ import annotations

import os
from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-fetch-data")
async def fetch_data(url: str) -> dict[str, Any]:
    return {"url": url}


@workflow("broken-env-fetch")
async def env_fetch(ctx: WorkflowContext, path: str) -> dict[str, Any]:
    base_url = os.environ.get("API_BASE_URL", "https://api.example.com")
    return await fetch_data(base_url + path)
