"""Connection plumbing for :mod:`runtime.stores.postgres`: URL parsing, the pool, liveness, retries."""

from __future__ import annotations

import asyncio
import select
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..errors import ConfigurationError
from ._pg_schema import check_schema_name, ensure_schema
from ._redact import scrub, url_location, url_secrets
from ._url_options import check_url_text, int_option, split_query
from .base import StoreError

T = TypeVar("T")

_STORE_OPTIONS = (
    "schema",
    "pool_min_size",
    "pool_max_size",
    "pool_timeout",
    # The bounds every store reads (runtime.stores._checks.LIMIT_OPTIONS).
    "max_payload_bytes",
    "max_buffered_signals",
)

_RECONNECT_TIMEOUT = 2.0
"""How long psycopg_pool keeps one reconnection attempt going (see :func:`_reconnect_again`)."""

_PAUSE_CAP = 1.0  # the longest pause between two tries of an operation whose connection died


class StoreUnavailable(StoreError, ConnectionError):
    """The PostgreSQL server could not be reached, or the connection died mid-operation.

    The operation may or may not have taken effect. Repeating it is safe: every
    store write that can be repeated finds the effect of an earlier try (see
    :meth:`_PgPool._retrying`), and an append repeated under the same lease with
    the same contents is recognised (see ``PostgresStore.append``).
    """


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read (data, EOF, an error) right now.

    ``select.poll``, not ``select.select``: ``select`` refuses descriptors from
    1024 on, which a worker holding many sockets or files gets.
    """
    if sys.platform == "win32":  # no poll() there, and its select() has no such limit
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text.removeprefix("connection failed: ") or type(error).__name__


def _connection_lost(error: BaseException | None) -> bool:
    """Whether ``error`` says the connection died (not a refusal of the statement itself)."""
    if not isinstance(error, psycopg.OperationalError) or isinstance(error, PoolTimeout):
        return False
    state = error.sqlstate or ""
    # No SQLSTATE: the client lost the socket. 08: connection exception.
    # 57P01-57P03: terminated by an administrator, a shutdown, or a crash.
    return state == "" or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def parse_postgres_url(url: str) -> tuple[str, dict[str, str], str]:
    """Split a store URL into a libpq URL, the store's own options, and a safe display form.

    Options the store reads itself (the others go to libpq exactly as written, so
    ``options=-c%20search_path%3Dpublic`` arrives as ``-c search_path=public`` and a
    ``+`` stays a plus: ``sslmode``, ``connect_timeout``...):

    * ``schema`` - the schema holding the store's tables (default ``vrb``): 1 to 50
      letters, digits and underscores, not ``information_schema`` nor ``pg_*``
      (PostgreSQL's own);
    * ``pool_min_size`` / ``pool_max_size`` - connections kept / allowed per store
      (default 1 / 10, at most 1000); ``pool_timeout`` - seconds to wait for a free
      connection (30, at most 86400).

    Each of these may be given once, and not empty: ``schema=`` or
    ``schema=a&schema=b`` is refused, not guessed (see :mod:`runtime.stores._url_options`).

    The display form is ``postgresql://user@host:port/dbname``: no password, no
    options (see :func:`~runtime.stores._redact.url_location`); a message quoting
    the driver has the URL's secrets scrubbed from it.

    Raises:
        ConfigurationError: The URL is malformed or has a bad option.
    """
    _, _, rest = url.partition("://")
    display = url_location("postgresql://" + rest)
    check_url_text(url, display)
    try:
        parts = urlsplit("postgresql://" + rest)
    except ValueError as error:  # an IPv6 host without its closing bracket
        message = f"store URL {display!r}: {_one_line(error)}"
        raise ConfigurationError(scrub(message, url_secrets(url))) from None
    # libpq's own parameters go on exactly as written (see runtime.stores._url_options).
    query = split_query(parts.query, _STORE_OPTIONS, display)
    options = query.options
    if "schema" in options:
        if not options["schema"]:
            raise ConfigurationError(
                f"store URL {display!r}: schema= is empty; name a schema (?schema=vrb), "
                "or leave the option out for the default, vrb"
            )
        check_schema_name(options["schema"])
    libpq_url = urlunsplit(parts._replace(query="&".join(query.rest)))
    try:
        conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as error:
        # libpq quotes what it cannot parse: a bad percent-escape in the password too.
        said = scrub(_one_line(error), url_secrets(url) + url_secrets(libpq_url))
        raise ConfigurationError(f"store URL {display!r}: {said}") from None
    return libpq_url, options, display


async def _reconnect_again(pool: AsyncConnectionPool) -> None:
    """Begin a new reconnection attempt when psycopg_pool gives one up.

    psycopg_pool waits 1 s after a failed connection attempt, doubling the
    wait each time, until ``reconnect_timeout``; then it gives up (and the
    clients already waiting get nothing until their ``pool_timeout``). Ending
    each attempt after :data:`_RECONNECT_TIMEOUT` and starting the next at once
    (``check`` grows a pool that lacks connections) keeps the attempts about a
    second apart however long the server is away, so work resumes within a
    second or two of its return rather than after the last doubled wait.
    """
    if not pool.closed:
        await pool.check()


_INT_RANGES = {
    # A connection is a server process: PostgreSQL's default max_connections is 100.
    "pool_min_size": (1, 1000),
    "pool_max_size": (1, 1000),
    # Seconds: as long as a worker's longest lease (runtime._worker_options).
    "pool_timeout": (1, 86_400),
}


def _int_option(options: dict[str, str], name: str, default: int, display: str) -> int:
    low, high = _INT_RANGES[name]
    return int_option(options, name, default, low, high, display)


class _PgPool:
    """The pooled-connection half of :class:`runtime.stores.postgres.PostgresStore`."""

    _schema: str
    _display: str
    _secrets: tuple[str, ...]  # what url_secrets found in the URL: scrubbed from driver messages
    _conninfo: str
    _min_size: int
    _max_size: int
    _pool_timeout: float
    _pool: AsyncConnectionPool | None
    _pool_loop: asyncio.AbstractEventLoop | None
    _pool_open: asyncio.Task[None] | None
    _pool_guard: asyncio.Task[None] | None
    _listener: asyncio.Task[None] | None
    _closed: bool

    def _said(self, error: BaseException) -> str:
        """The driver's message on one line, without anything of the URL that may be secret."""
        return scrub(_one_line(error), self._secrets)

    def _open_check(self) -> None:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as error:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self._display}: {self._said(error)}; "
                "check the store URL and that the server is running"
            ) from None
        try:
            with conn:
                ensure_schema(conn, self._schema, self._display)
        except psycopg.Error as error:
            raise StoreError(
                f"cannot prepare PostgreSQL schema {self._schema!r} at {self._display}: "
                f"{self._said(error)}"
            ) from None

    @staticmethod
    async def _alive(conn: psycopg.AsyncConnection[Any]) -> bool:
        """Whether a pooled connection still reaches its server, without a round trip when idle.

        An idle connection has nothing to read; a readable socket means the
        server closed it (a restart, ``pg_terminate_backend``) or sent something
        unexpected, and only then is a real query sent to find out.
        """
        if conn.closed or conn.broken:
            return False
        if not _readable(conn.fileno()):
            return True
        try:
            await conn.execute("")
        except psycopg.Error:
            await conn.close()
            return False
        return True

    async def _get_pool(self) -> AsyncConnectionPool:
        if self._closed:
            raise ConfigurationError(f"the PostgreSQL store on {self._display} is closed")
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            # A pool belongs to the event loop it was opened in; a store used
            # from a new loop (a second asyncio.run) gets a new pool.
            self._pool = AsyncConnectionPool(
                self._conninfo,
                kwargs={"autocommit": True},
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._pool_timeout,
                name=f"vrb-{self._schema}",
                open=False,
                reconnect_timeout=_RECONNECT_TIMEOUT,
                reconnect_failed=_reconnect_again,
            )
            self._pool_loop = loop
            self._pool_open = loop.create_task(self._pool.open())
            self._pool_guard = loop.create_task(self._close_at_loop_end(self._pool))
            self._listener = None
        assert self._pool_open is not None
        await asyncio.shield(self._pool_open)
        return self._pool

    @staticmethod
    async def _close_at_loop_end(pool: AsyncConnectionPool) -> None:
        """Close ``pool`` when its event loop shuts down (``asyncio.run`` cancels every task).

        The pool retries a connection attempt that this cancellation cuts short,
        so a pool still open when a loop ends (a store used by one ``asyncio.run``
        and closed in another) would keep that loop from ever finishing.
        """
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            await pool.close()

    @asynccontextmanager
    async def _conn(
        self, timeout: float | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection that reached its server when taken; waits ``timeout`` seconds for one.

        Raises:
            StoreUnavailable: No connection came in time, or the connection died.
            StoreError: The server refused the work (a value it cannot store, say).
        """
        pool = await self._get_pool()
        try:
            conn = await pool.getconn(timeout)
            if not await self._alive(conn):
                # One dead connection means the server restarted or dropped us:
                # sweep the other idle ones too, then take a fresh one at once
                # (the pool's own check backs off a second per dead connection).
                await pool.putconn(conn)
                await pool.check()
                conn = await pool.getconn(timeout)
            try:
                yield conn
            finally:
                await pool.putconn(conn)
        except psycopg.Error as error:
            # Connection losses, pool timeouts, and values the server refuses
            # (a NUL character in an id): one line, not a driver traceback.
            message = f"PostgreSQL at {self._display}: {self._said(error)}"
            if isinstance(error, PoolTimeout) or _connection_lost(error):
                raise StoreUnavailable(message) from error
            raise StoreError(message) from error

    async def _retrying(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``work`` on a pooled connection, again on a fresh one each time one dies.

        A sweep of ``pg_terminate_backend`` or a restart can kill the fresh
        connection too, so one retry is not enough: it tries again, at once and
        then after pauses growing to a second, until ``pool_timeout`` seconds
        have passed since the first try (the wait a caller accepts for a busy
        pool), then raises :class:`StoreUnavailable`; the callers that hold a
        lease retry that until the lease says stop.

        Only for work that is safe to repeat: reads, and writes whose second
        run finds the first one's effect: an idempotent trigger, a cancel, a
        renewal, a claim (whose orphaned leases would lapse and be recovered),
        and appends and signals, which carry a token the repeat looks for.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._pool_timeout
        pause = 0.0
        while True:
            try:
                async with self._conn(max(deadline - loop.time(), 0.5)) as conn:
                    return await work(conn)
            except StoreUnavailable as error:
                # A pool timeout already waited the whole time out.
                if isinstance(error.__cause__, PoolTimeout) or loop.time() + pause >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(max(pause * 2, 0.05), _PAUSE_CAP)

    async def _fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        async def fetch(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        return await self._retrying(fetch)
