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
"""

from __future__ import annotations

import importlib
import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigurationError
from ._redact import redact_url, scrub, url_secrets
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
    "WorkflowStats",
    "default_store_url",
    "open_store",
]

DEFAULT_STORE_URL = "sqlite:///vrb.db"

_SUPPORTED = "use memory://, sqlite:///path/to/file.db or postgresql://user@host/dbname"


def default_store_url() -> str:
    """``VRB_DATABASE_URL`` if set and not empty, else ``sqlite:///vrb.db``."""
    return os.environ.get("VRB_DATABASE_URL", "").strip() or DEFAULT_STORE_URL


def open_store(url: str | None = None, *, clock: Clock = system_clock) -> Store:
    """Open the store a URL names.

    Args:
        url: ``memory://``, ``sqlite:///path.db`` (relative),
            ``sqlite:////abs/path.db``, ``sqlite:///:memory:`` or
            ``postgresql://...``; ``None`` means :func:`default_store_url`.
        clock: The store's notion of now (tests pass a manual clock).

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
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigurationError(f"store URL {shown!r} has no scheme; {_SUPPORTED}")
    if scheme == "memory":
        if rest:
            raise ConfigurationError(f"store URL {shown!r}: write just memory://")
        return MemoryStore(clock=clock)
    if scheme == "sqlite":
        return _open_sqlite(url, shown, rest, clock)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return _open_postgres(url, shown, clock)
    raise ConfigurationError(f"unsupported store URL {shown!r}; {_SUPPORTED}")


def _open_sqlite(url: str, shown: str, rest: str, clock: Clock) -> SQLiteStore:
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
    options: dict[str, Any] = {}
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ConfigurationError(f"store URL {shown!r}: malformed query string") from None
    for name, values in query.items():
        value = values[-1].strip().lower()
        if name == "synchronous" and value in ("full", "normal"):
            options["synchronous"] = value
        elif name == "busy_timeout" and value.isdigit():
            options["busy_timeout"] = int(value)
        else:
            message = (
                f"store URL {shown!r}: unknown option {name}={values[-1]!r}; SQLite takes "
                "synchronous=full|normal and busy_timeout=<milliseconds>"
            )
            raise ConfigurationError(scrub(message, url_secrets(url)))
    return SQLiteStore(path, clock=clock, **options)


def _open_postgres(url: str, shown: str, clock: Clock) -> Store:
    # Imported here so that SQLite users need neither psycopg nor its import time.
    try:
        module = importlib.import_module(".postgres", __name__)
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"store URL {shown!r} needs the PostgreSQL driver: pip install "
            f"'vrb-workflows[postgres]' ({error.name} is missing)"
        ) from None
    store: Store = module.PostgresStore(url, clock=clock)
    return store
