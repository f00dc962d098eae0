"""Circuit breaker ``execution_timeout``: a run may not take longer than 30 seconds.

The "API" is an in-memory table: the example shows the workflow's shape, and a
real ``fetch-data`` step would do its HTTP request where the lookup is.

Relative URLs are resolved against ``API_BASE_URL`` from the environment, read
in the ``resolve-urls`` step: its output is recorded, so a replay on a worker
with another environment fetches the same URLs. Read in the body, the variable
would be VRB104 (see ``examples/broken/environment.py``).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urljoin

from runtime import WorkflowContext, step, workflow

FAKE_API: dict[str, dict[str, Any]] = {
    "https://api.example.com/a": {"values": [1, 2, 3]},
    "https://api.example.com/b": {"values": [4, 5]},
}
RESULTS: list[dict[str, Any]] = []


@step("resolve-urls")
async def resolve_urls(urls: list[str]) -> list[str]:
    base_url = os.environ.get("API_BASE_URL", "https://api.example.com")
    return [urljoin(base_url, url) for url in urls]


@step("fetch-data", timeout="10s")
async def fetch_data(url: str) -> dict[str, Any]:
    if url not in FAKE_API:
        raise LookupError(f"404 for {url}")
    return FAKE_API[url]


@step("process-response")
async def process_response(data: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(data["values"]), "sum": sum(data["values"])}


@step("save-results")
async def save_results(results: dict[str, Any]) -> dict[str, Any]:
    RESULTS.append(results)
    return {"saved": True}


@workflow("external-api-calls", execution_timeout="30s")
async def external_api_calls(ctx: WorkflowContext, urls: list[str]) -> dict[str, Any]:
    resolved = await resolve_urls(urls)
    saved = 0
    for url in resolved:
        data = await fetch_data(url)
        processed = await process_response(data)
        await save_results(processed)
        saved += 1
    return {"saved": saved}
