"""A worker for several workflows: one process serves three workflow types.

``worker.start(*names)`` serves every named workflow (and ``start()`` with no
name serves all registered ones); runs of all three share the worker's
``max_concurrency``. The whitepaper's ``expense-approval`` is this project's
``approval-workflow``.
"""

from __future__ import annotations

import asyncio

from runtime import Client, Worker

from . import approval, class_style, order_processing  # noqa: F401 - register the workflows

SERVED = ("approval-workflow", "order-processing", "trip-booking")


async def serve_many(client: Client, stop: asyncio.Event) -> Worker:
    """Serve the three workflows with one worker until ``stop`` is set.

    Returns:
        The stopped worker (its ``outcomes`` say what it did).
    """
    worker = Worker(client)
    serving = asyncio.create_task(worker.start(*SERVED))
    await stop.wait()
    await worker.stop()
    await serving
    return worker
