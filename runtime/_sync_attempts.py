"""Sync step attempts run in threads, and one never overlaps the next attempt.

A ``def`` step runs in a worker thread so it cannot block the event loop.
When its attempt times out (or is cancelled), ``asyncio`` stops waiting for it
but cannot stop the thread: the function goes on, and its side effects happen
after the attempt was recorded as failed. What can be guaranteed is that the
invocation's next attempt (its retry) does not run alongside it: the thread of
an abandoned attempt is kept here, by the invocation's idempotency key, and
the next attempt awaits it (without holding the event loop) before it calls
the function again.

The worker waits before the next attempt's own timeout starts
(:meth:`runtime.sdk.Step.previous_attempt_returned`), so a retry gets its whole
time; only the run's ``execution_timeout`` bounds the wait. The handles live in
this process: a retry that another worker process takes over cannot see them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["after_abandoned", "run_sync_attempt"]

log = logging.getLogger("runtime.worker")


class _Abandoned:
    """The thread of an attempt whose caller stopped waiting for it."""

    __slots__ = ("attempt", "returned")

    def __init__(self, attempt: int, returned: concurrent.futures.Future[None]) -> None:
        self.attempt = attempt
        self.returned = returned


_ABANDONED: dict[str, _Abandoned] = {}
"""Idempotency key -> the abandoned attempt of that invocation whose thread still runs."""

_LOCK = threading.Lock()  # threads remove their own entries; the event loop adds them


async def after_abandoned(
    key: str, step: str, attempt: int, *, within: float | None = None
) -> None:
    """Return once no abandoned attempt of invocation ``key`` is still running in its thread.

    Args:
        key: The invocation's idempotency key, shared by its attempts.
        step: The step's name, for the log.
        attempt: The number of the attempt about to start, for the log.
        within: Give up waiting after this many seconds (``None``: wait as long as it runs).
    """
    with _LOCK:
        previous = _ABANDONED.get(key)
    if previous is None:
        return
    log.warning(
        "step %r attempt %d waits for attempt %d, which timed out but whose thread is "
        "still running (a thread cannot be interrupted)",
        step,
        attempt,
        previous.attempt,
    )
    try:
        async with asyncio.timeout(within):
            # Shielded: a waiter stopped early leaves the thread's future alone.
            await asyncio.shield(asyncio.wrap_future(previous.returned))
    except (TimeoutError, asyncio.CancelledError):
        log.warning(
            "step %r attempt %d was stopped while it waited for attempt %d's thread",
            step,
            attempt,
            previous.attempt,
        )
        raise
    log.info(
        "step %r attempt %d starts: attempt %d's thread returned", step, attempt, previous.attempt
    )


async def run_sync_attempt(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    key: str,
    step: str,
    attempt: int,
) -> Any:
    """Call ``fn(*args, **kwargs)`` in a thread, once any abandoned attempt of ``key`` returned.

    When the caller stops waiting (the attempt timed out or was cancelled)
    while the thread still runs, the thread is kept as the invocation's
    abandoned attempt, which the next attempt waits for.

    Args:
        fn: The sync step function.
        args: Its positional arguments (receiver and step context included).
        kwargs: Its keyword arguments.
        key: The invocation's idempotency key, shared by its attempts.
        step: The step's name, for the log.
        attempt: This attempt's number, for the log.

    Returns:
        What ``fn`` returned.
    """
    await after_abandoned(key, step, attempt)
    returned: concurrent.futures.Future[None] = concurrent.futures.Future()
    # Marked running, so no waiter's cancellation can cancel it: it resolves when the thread returns.
    returned.set_running_or_notify_cancel()
    handle = _Abandoned(attempt, returned)

    def call() -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            with _LOCK:
                returned.set_result(None)
                if _ABANDONED.get(key) is handle:
                    del _ABANDONED[key]

    loop = asyncio.get_running_loop()
    # As asyncio.to_thread does: the thread sees the caller's context variables.
    context = contextvars.copy_context()
    try:
        return await loop.run_in_executor(None, functools.partial(context.run, call))
    except asyncio.CancelledError:
        with _LOCK:
            still_running = not returned.done()
            if still_running:
                _ABANDONED[key] = handle
        if still_running:
            log.warning(
                "step %r attempt %d was stopped (timed out or cancelled) while its sync "
                "function still runs in a thread, which cannot be interrupted; the step's "
                "next attempt starts only after it returns",
                step,
                attempt,
            )
        raise
