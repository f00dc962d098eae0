"""A worker process whose clock runs ahead: ``python -m tests.pg_skew_worker URL SECONDS``.

Serves ``pgs-gated`` (:mod:`tests.pg_skew_flows`) as a worker on a machine
whose clock is ``SECONDS`` ahead would: the worker's clock
(``Worker(clock=...)``) and the clock every store of this process reads by
default (:func:`runtime.stores.base.system_clock`, through the ``datetime`` of
its module) both run ahead. Its worker id is ``skewed-<pid>``; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime, timedelta, tzinfo

from runtime.stores import base

from . import pg_skew_flows  # noqa: F401 - registers the workflow
from .worker_process import serve


def main() -> None:
    """Serve ``pgs-gated`` with every clock ahead, until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(message)s")
    url, ahead = sys.argv[1], timedelta(seconds=float(sys.argv[2]))

    class Ahead(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:
            return datetime.now(tz) + ahead

    base.datetime = Ahead  # type: ignore[misc] - what system_clock() reads
    # The test checks this line: the skew is in effect where the stores look.
    print(f"system_clock {base.system_clock().isoformat()}", flush=True)

    def clock() -> datetime:
        return datetime.now(UTC) + ahead

    served = serve(
        url,
        "pgs-gated",
        worker_id=f"skewed-{os.getpid()}",
        poll_interval=0.1,
        heartbeat_interval=0.5,
        lease_timeout=10,
        max_concurrency=8,
        clock=clock,
    )
    asyncio.run(served)


if __name__ == "__main__":
    main()
