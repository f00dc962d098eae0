"""Stores: where runs, their event logs, signals, timers and leases live.

Open one by URL with :func:`open_store`:

* ``memory://`` - in this process only (tests, experiments);
* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` - the embedded
  default; options ``?synchronous=normal`` (faster, durable against process
  crashes only) and ``?busy_timeout=<ms>``; ``sqlite:///:memory:`` is a private
  in-memory SQLite database;
* ``postgresql://user@host:port/dbname`` - many workers on many machines
  (``pip install 'vrb-workflows[postgres]'``); options ``?schema=NAME`` (default
  ``vrb``), ``pool_min_size``, ``pool_max_size``, ``pool_timeout``, and any libpq
  parameter (``sslmode``, ``connect_timeout``...). See :mod:`runtime.stores.postgres`.

Without a URL the store is ``VRB_DATABASE_URL``, else ``sqlite:///vrb.db``.

Every backend also takes the bounds of :class:`StoreLimits` as options:
``?max_payload_bytes=N`` (the largest value, default 2 MiB) and
``?max_buffered_signals=N`` (signals a run holds before it takes them, default
10,000), ``memory://?max_payload_bytes=N`` included; or ``open_store(url,
limits=StoreLimits(...))``. See :mod:`runtime.stores._checks`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigurationError
from ..errors import shown as cut
from ._checks import LIMIT_OPTIONS, StoreLimits, limits_from_options
from ._redact import redact_url, scrub, url_secrets
from ._url_options import check_url_text, int_option, split_query
from .base import (
    ACTIVE_STATUSES,
    RUN_STATUSES,
    TERMINAL_STATUSES,
    AppendResult,
    Claim,
    ClaimReason,
    Clock,
    Lease,
    LeaseLost,
    Renewal,
    RunIdConflict,
    RunPage,
    RunRecord,
    RunStatus,
    RunUpdate,
    SchemaVersionError,
    Signal,
    SignalConflict,
    Store,
    StoreError,
    WorkflowStats,
    system_clock,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_STORE_URL",
    "RUN_STATUSES",
    "TERMINAL_STATUSES",
    "AppendResult",
    "Claim",
    "ClaimReason",
    "Clock",
    "Lease",
    "LeaseLost",
    "MemoryStore",
    "Renewal",
    "RunIdConflict",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "RunUpdate",
    "SQLiteStore",
    "SchemaVersionError",
    "Signal",
    "SignalConflict",
    "Store",
    "StoreError",
    "StoreLimits",
    "WorkflowStats",
    "default_store_url",
    "open_store",
]

DEFAULT_STORE_URL = "sqlite:///vrb.db"

_SUPPORTED = "use memory://, sqlite:///path/to/file.db or postgresql://user@host/dbname"


def default_store_url() -> str:
    """``VRB_DATABASE_URL`` if set and not empty, else ``sqlite:///vrb.db``."""
    return os.environ.get("VRB_DATABASE_URL", "").strip() or DEFAULT_STORE_URL


def open_store(
    url: str | None = None, *, clock: Clock = system_clock, limits: StoreLimits | None = None
) -> Store:
    """Open the store a URL names.

    Args:
        url: ``memory://``, ``sqlite:///path.db`` (relative),
            ``sqlite:////abs/path.db``, ``sqlite:///:memory:`` or
            ``postgresql://...``; ``None`` means :func:`default_store_url`.
        clock: The store's notion of now (tests pass a manual clock).
        limits: The store's bounds; ``None``: the URL's ``max_payload_bytes``
            and ``max_buffered_signals`` options, else the defaults.

    Returns:
        The open store; ``await store.close()`` when done.

    Raises:
        ConfigurationError: The URL is malformed or names an unknown backend.
        StoreError: The database cannot be opened.
        SchemaVersionError: The database belongs to a newer vrb-workflows.
    """
    if url is None:
        url = default_store_url()
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a string, not {type(url).__name__}")
    shown = redact_url(url)  # what every message says of the URL: never its password
    check_url_text(url, shown)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigurationError(f"store URL {shown!r} has no scheme; {_SUPPORTED}")
    if scheme == "memory":
        return MemoryStore(clock=clock, limits=limits or _memory_limits(rest, shown))
    if scheme == "sqlite":
        return _open_sqlite(url, shown, rest, clock, limits)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return _open_postgres(url, shown, clock, limits)
    raise ConfigurationError(f"unsupported store URL {shown!r}; {_SUPPORTED}")


def _memory_limits(rest: str, shown: str) -> StoreLimits:
    query = rest[1:] if rest.startswith("?") else None
    if rest and not query:
        raise ConfigurationError(f"store URL {shown!r}: write just memory://")
    try:
        options = dict(parse_qsl(query or "", keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ConfigurationError(f"store URL {shown!r}: malformed query string") from None
    unknown = sorted(set(options) - set(LIMIT_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"store URL {shown!r}: unknown option {unknown[0]!r}; memory:// takes "
            + " and ".join(f"{name}=N" for name in LIMIT_OPTIONS)
        )
    return limits_from_options(options, shown)


def _open_sqlite(
    url: str, shown: str, rest: str, clock: Clock, limits: StoreLimits | None
) -> SQLiteStore:
    try:
        parts = urlsplit("sqlite://" + rest)
    except ValueError:  # a '[' in the host: "Invalid IPv6 URL"
        parts = urlsplit("sqlite://host")
    if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
        raise ConfigurationError(
            f"store URL {shown!r}: write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (three or four slashes)"
        )
    path = unquote(parts.path[1:])
    if "\x00" in path:
        raise ConfigurationError(f"store URL {shown!r}: a file name cannot hold a NUL (%00)")
    query = split_query(parts.query, (*_SQLITE_OPTIONS, *LIMIT_OPTIONS), shown)
    if query.rest:
        name, _, value = query.rest[0].partition("=")
        message = (
            f"store URL {shown!r}: unknown option {unquote(name)}={cut(unquote(value))}; SQLite "
            "takes synchronous=full|normal, busy_timeout=<milliseconds>, max_payload_bytes=N "
            "and max_buffered_signals=N"
        )
        raise ConfigurationError(scrub(message, url_secrets(url)))
    options: dict[str, Any] = {}
    synchronous = query.options.get("synchronous")
    if synchronous is not None:
        if synchronous.strip().lower() not in ("full", "normal"):
            raise ConfigurationError(
                f"store URL {shown!r}: synchronous must be full or normal, got {cut(synchronous)}"
            )
        options["synchronous"] = synchronous.strip().lower()
    if "busy_timeout" in query.options:
        options["busy_timeout"] = int_option(
            query.options, "busy_timeout", 5000, 0, _MAX_BUSY_TIMEOUT_MS, shown
        )
    if limits is None:
        limits = limits_from_options(query.options, shown)
    return SQLiteStore(path, clock=clock, limits=limits, **options)


_SQLITE_OPTIONS = ("synchronous", "busy_timeout")

_MAX_BUSY_TIMEOUT_MS = 86_400_000
"""A day: a write lock held longer is a stuck process, not contention worth waiting for."""


def _open_postgres(url: str, shown: str, clock: Clock, limits: StoreLimits | None) -> Store:
    # Imported here so that SQLite users need neither psycopg nor its import time.
    try:
        module = importlib.import_module(".postgres", __name__)
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"store URL {shown!r} needs the PostgreSQL driver: pip install "
            f"'vrb-workflows[postgres]' ({error.name} is missing)"
        ) from None
    store: Store = module.PostgresStore(url, clock=clock, limits=limits)
    return store
