"""A worker process for the crash tests: ``python -m tests.runtime.crash_worker DB LEASE [MAX]``.

``MAX`` is the worker's ``max_recoveries`` (default 5).

The workflows live in an importable module (:mod:`tests.runtime.crash_flows`),
not in this ``__main__`` script, so the graph's module names the code that runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from runtime import Client, Worker

from . import crash_flows  # noqa: F401 - registers the workflows


def main() -> None:
    """Serve the crash workflows until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(message)s")
    database, lease_timeout = sys.argv[1], float(sys.argv[2])
    max_recoveries = int(sys.argv[3]) if len(sys.argv) > 3 else 5

    async def serve() -> None:
        client = Client(f"sqlite:///{database}")
        worker = Worker(
            client,
            poll_interval=0.05,
            heartbeat_interval=0.1,
            lease_timeout=lease_timeout,
            max_recoveries=max_recoveries,
        )
        try:
            await worker.run_forever("crash-flow", "crash-saga", "crash-deadly-rollback")
        finally:
            await client.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
