"""Worker configuration: polling, concurrency, heartbeats and the retry delay.

The whitepaper's options in Python (durations are seconds)::

    pollInterval: 1000        -> poll_interval=1.0      idle polls for due runs
    maxConcurrency: 5         -> max_concurrency=5      runs executed at once
    heartbeatInterval: 30000  -> heartbeat_interval=30  lease renewals of a running run
    retryDelay: 5000          -> retry_delay=5          before a declined run is due again

``lease_timeout`` (default 30 s, the whitepaper's missing-ACK detection) is how
long a claim lasts without a heartbeat: after it, another worker takes the run
over and resumes it by replay. The worker renews at least three times per lease.
"""

from __future__ import annotations

from runtime import Client, Worker


def configured_worker(client: Client, graphs: str | None = None) -> Worker:
    """A worker with the whitepaper's configuration.

    Args:
        client: The client whose store the worker serves.
        graphs: A ``vrb-compile build`` output directory, or ``None`` to compile
            the imported workflows in-process (development).
    """
    return Worker(
        client,
        graphs,
        poll_interval=1.0,
        max_concurrency=5,
        heartbeat_interval=30,
        retry_delay=5,
        lease_timeout=30,
    )
