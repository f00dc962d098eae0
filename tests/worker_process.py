"""The main loop of the tests' worker processes (tests/*_worker.py)."""

from __future__ import annotations

from typing import Any

from runtime import Client, Worker


async def serve(url: str, *names: str, **options: Any) -> None:
    """Serve ``names`` on ``url`` with ``Worker(**options)`` until SIGTERM, then close."""
    client = Client(url)
    try:
        await Worker(client, **options).run_forever(*names)
    finally:
        await client.close()
