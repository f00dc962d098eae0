"""A worker process serving ``pgw-ten``: ``python -m tests.pg_worker URL LEASE_TIMEOUT``.

The workflow lives in an importable module (:mod:`tests.pg_worker_flows`), not
in this ``__main__`` script, so the graph's module names the code that runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from . import pg_worker_flows  # noqa: F401 - registers the workflow
from .worker_process import serve


def worker_id(pid: int) -> str:
    """The worker id of the worker process ``pid`` (in leases: tests find a process's runs)."""
    return f"pgw-{pid}"


def main() -> None:
    """Serve ``pgw-ten`` until SIGTERM."""
    logging.basicConfig(level=logging.WARNING, format="%(process)d %(name)s %(message)s")
    url, lease_timeout = sys.argv[1], float(sys.argv[2])

    served = serve(
        url,
        "pgw-ten",
        worker_id=worker_id(os.getpid()),
        poll_interval=0.5,
        heartbeat_interval=lease_timeout / 4,
        lease_timeout=lease_timeout,
        max_concurrency=8,
    )
    asyncio.run(served)


if __name__ == "__main__":
    main()
