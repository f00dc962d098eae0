"""Faults a PostgreSQL test can inject: an outage it controls, and sweeps of terminations.

:class:`PgProxy` is a TCP proxy in front of the test server. It runs its own
event loop in a thread, so a store's synchronous connect (when it opens) and the
test's loop both reach it. :meth:`PgProxy.cut` drops every proxied connection
and closes new ones at once (as a server that went away does);
:meth:`PgProxy.restore` lets connections through again.

:func:`terminate_until` runs ``pg_terminate_backend`` sweeps on the backends of
one ``application_name``, as an administrator or a failover would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

__all__ = ["PgProxy", "terminate_until"]


def terminate_until(
    stop: threading.Event, server: str, application_name: str, live: list[int] | None = None
) -> int:
    """Sweep the backends of ``application_name`` until ``stop``; return how many were killed.

    Each sweep terminates them three times, 10 ms apart, so the connection a
    retry takes is terminated too; sweeps come every quarter of a second.
    ``live``, when given, holds the count so far in its first item.
    """
    killed = 0
    with psycopg.connect(server, autocommit=True) as conn:
        while not stop.wait(0.25):
            for _ in range(3):
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (application_name,),
                ).fetchall()
                killed += len(rows)
                if live is not None:
                    live[0] = killed
                time.sleep(0.01)
    return killed


class PgProxy:
    """Forwards ``127.0.0.1:<port>`` to the server of ``server_url``.

    Args:
        server_url: The PostgreSQL URL to proxy (host and port are read from it).
    """

    def __init__(self, server_url: str) -> None:
        parts = urlsplit(server_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0  # connections accepted while up
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self._thread.start()
        started.wait()

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port: int = self._server.sockets[0].getsockname()[1]
        started.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def cut(self) -> None:
        """Drop every proxied connection; refuse new ones until :meth:`restore`."""

        async def cut() -> None:
            self._up = False
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(cut())

    def restore(self) -> None:
        """Let connections through again."""

        async def restore() -> None:
            self._up = True

        self._call(restore())

    def close(self) -> None:
        """Stop the proxy and its thread."""

        async def close() -> None:
            self._up = False
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:  # the pipes end once their sockets are aborted
                await asyncio.wait(others, timeout=5)

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
