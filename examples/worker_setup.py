"""Worker set-up: a client, a worker serving ``order-processing``, and a trigger.

Run it as a script::

    python -m examples.worker_setup                 # one demo run, then exit
    python -m examples.worker_setup --serve         # serve until SIGTERM / Ctrl-C

The database comes from ``--db``, else ``VRB_DATABASE_URL``, else
``sqlite:///vrb.db`` (the client's default). Without ``graphs=`` the worker
compiles the imported workflows in-process, which suits development; in
production point it at the directory ``vrb-compile build`` wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from runtime import Client, Worker

# Importing the module registers its workflow under its name.
from . import order_processing  # noqa: F401

ORDER = {
    "id": "ORD-12345",
    "customerEmail": "user@example.com",
    "items": [{"sku": "PROD-001", "quantity": 2, "price": 9.5}],
}


async def demo(client: Client) -> dict[str, object]:
    """Start a worker, trigger one order, wait for its result, stop the worker."""
    worker = Worker(client)
    serving = asyncio.create_task(worker.start("order-processing"))
    try:
        run = await client.workflow.trigger("order-processing", [ORDER])
        print(f"Workflow started: {run.run_id}")
        result: dict[str, object] = await client.workflow.result(run.run_id, timeout=60)
        print(f"Workflow finished: {result}")
        return result
    finally:
        # stop() lets in-flight steps finish; their runs are given back at the next checkpoint.
        await worker.stop()
        await serving


async def serve(client: Client) -> None:
    """Serve ``order-processing`` until SIGTERM or Ctrl-C, then drain gracefully."""
    worker = Worker(client)
    print("Serving order-processing; SIGTERM or Ctrl-C stops the worker gracefully")
    await worker.run_forever("order-processing")
    print("Worker stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m examples.worker_setup``."""
    parser = argparse.ArgumentParser(prog="python -m examples.worker_setup")
    parser.add_argument("--db", help="store URL (default: VRB_DATABASE_URL or sqlite:///vrb.db)")
    parser.add_argument("--serve", action="store_true", help="serve until stopped")
    args = parser.parse_args(argv)

    async def run() -> None:
        async with Client(args.db) as client:
            if args.serve:
                await serve(client)
            else:
                await demo(client)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
