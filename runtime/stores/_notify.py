"""Waking idle workers in this process when work becomes due."""

from __future__ import annotations

import asyncio
import threading
import weakref

__all__ = ["Notifier", "notifier_for"]


class Notifier:
    """Thread-safe wake-up for coroutines on any event loop.

    Writers call :meth:`notify` after a commit that may have made a run due;
    idle workers await :meth:`wait`. A notification reaches every waiter present
    at that moment; nothing is queued for later waiters (they poll anyway).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    def notify(self) -> None:
        """Wake every current waiter."""
        with self._lock:
            waiters, self._waiters = self._waiters, set()
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, timeout: float) -> None:
        """Return at the next :meth:`notify`, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_SHARED: weakref.WeakValueDictionary[str, Notifier] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def notifier_for(key: str) -> Notifier:
    """The notifier shared by every store of this process opened on ``key`` (a database)."""
    with _SHARED_LOCK:
        notifier = _SHARED.get(key)
        if notifier is None:
            notifier = Notifier()
            _SHARED[key] = notifier
        return notifier
