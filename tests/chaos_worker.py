"""A worker process for the chaos test: ``python -m tests.chaos_worker URL LEASE_TIMEOUT``.

Serves the workflows of :mod:`tests.chaos_flows` until SIGTERM (or SIGKILL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from . import chaos_flows  # noqa: F401 - registers the workflows
from .worker_process import serve


def main() -> None:
    """Serve the chaos workflows."""
    logging.basicConfig(level=logging.WARNING, format="%(process)d %(name)s %(message)s")
    url, lease_timeout = sys.argv[1], float(sys.argv[2])

    # The default poison limit: deaths are the test's kills, never a run's, and only
    # deaths of a worker running a run alone count (quarantine).
    served = serve(
        url,
        "chaos-chain",
        "chaos-saga",
        worker_id=f"chaos-{os.getpid()}",
        poll_interval=0.2,
        heartbeat_interval=lease_timeout / 4,
        lease_timeout=lease_timeout,
        max_concurrency=8,
    )
    asyncio.run(served)


if __name__ == "__main__":
    main()
