"""Best practice: monitor workflow health.

``client.workflow_stats.get()`` aggregates over runs (``total_runs``,
``success_rate``, ``avg_duration_ms``, ``by_status``) and
``client.workflow.list_runs(status="failed")`` pages through the failures,
newest first, each with its ``error`` as ``{"type", "message"}``::

    python -m examples.health_monitoring --db sqlite:///vrb.db order-processing
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from runtime import Client


async def health_report(client: Client, workflow_name: str, limit: int = 10) -> list[str]:
    """The lines of a health report: overall numbers, then the latest failed runs.

    Args:
        client: The client of the store to inspect.
        workflow_name: The workflow whose failed runs are listed.
        limit: How many failed runs to list at most.
    """
    stats = await client.workflow_stats.get()
    lines = [f"Total runs: {stats.total_runs}"]
    if stats.success_rate is None or stats.avg_duration_ms is None:
        lines.append("No run has finished yet")
    else:
        lines.append(f"Success rate: {stats.success_rate * 100:.1f}%")
        lines.append(f"Avg duration: {stats.avg_duration_ms:.0f}ms")
    recent = await client.workflow.list_runs(
        workflow_name=workflow_name, status="failed", limit=limit
    )
    for run in recent.items:
        error = run.error or {"type": "unknown", "message": "no error recorded"}
        lines.append(f"Failed run {run.run_id}: {error['type']}: {error['message']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m examples.health_monitoring``."""
    parser = argparse.ArgumentParser(prog="python -m examples.health_monitoring")
    parser.add_argument("workflow", help="the workflow whose failed runs to list")
    parser.add_argument("--db", help="store URL (default: VRB_DATABASE_URL or sqlite:///vrb.db)")
    parser.add_argument("--limit", type=int, default=10, help="failed runs to list (default 10)")
    args = parser.parse_args(argv)

    async def run() -> list[str]:
        async with Client(args.db) as client:
            return await health_report(client, args.workflow, args.limit)

    for line in asyncio.run(run()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
