"""Run-correlated worker logs: the run's fields on every record, JSON lines, and warnings logged once.

* :func:`log_context` binds ``run_id``, ``workflow``, ``step``, ``attempt`` for
  the code it wraps (a :mod:`contextvars` variable, so each asyncio task, and so
  each run and each parallel branch, has its own). :class:`RunLogAdapter`
  puts them on every record the worker logs, as ``extra`` (``None`` for one not
  bound), and :class:`RunContextFilter` does the same for a handler, so the
  records of users' steps carry them too.
* :class:`JsonFormatter` is ``vrb worker --log-format json``: one JSON object
  per line.
* :class:`LogOnce` remembers the events it has seen (a bounded set of keys),
  so a warning that every replay of the same run would repeat (the same
  rollback failing again in each resumed execution of a property test) is
  logged once per event, not once per replay.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from ..stores._redact import scrub

__all__ = [
    "RUN_FIELDS",
    "JsonFormatter",
    "LogOnce",
    "RunContextFilter",
    "RunLogAdapter",
    "bind_log_context",
    "current_log_context",
    "log_context",
    "reset_log_context",
]

RUN_FIELDS = ("run_id", "workflow", "step", "attempt")
"""The fields every worker record carries (``None`` where not known)."""

_EMPTY: Mapping[str, Any] = dict.fromkeys(RUN_FIELDS)

_context: ContextVar[Mapping[str, Any]] = ContextVar("vrb_log_context", default=_EMPTY)

# The attributes every LogRecord has: what is not among them came in as ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    {
        *vars(logging.LogRecord("", 0, "", 0, "", None, None)),
        "message",
        "asctime",
        # uvicorn's coloured copy of its message.
        "color_message",
    }
)
_SKIPPED = _RECORD_ATTRIBUTES | frozenset(RUN_FIELDS)


def current_log_context() -> Mapping[str, Any]:
    """The run fields bound here: every one of :data:`RUN_FIELDS`, ``None`` when unbound."""
    return _context.get()


_KEEP: Any = object()
"""A field not named: it keeps its bound value."""


def _merged(run_id: Any, workflow: Any, step: Any, attempt: Any) -> Mapping[str, Any]:
    bound = _context.get()
    return {
        "run_id": bound["run_id"] if run_id is _KEEP else run_id,
        "workflow": bound["workflow"] if workflow is _KEEP else workflow,
        "step": bound["step"] if step is _KEEP else step,
        "attempt": bound["attempt"] if attempt is _KEEP else attempt,
    }


def bind_log_context(
    *, run_id: Any = _KEEP, workflow: Any = _KEEP, step: Any = _KEEP, attempt: Any = _KEEP
) -> Token[Mapping[str, Any]]:
    """Bind run fields until reset; a field not named keeps its value, one given ``None`` is unbound.

    Returns:
        The token :func:`reset_log_context` takes to restore what was bound before.
    """
    return _context.set(_merged(run_id, workflow, step, attempt))


def reset_log_context(token: Token[Mapping[str, Any]]) -> None:
    """Restore the fields bound before :func:`bind_log_context` returned ``token``."""
    _context.reset(token)


class _Bound:
    """The context manager :func:`log_context` returns (a class: cheaper than a generator)."""

    __slots__ = ("_attempt", "_run_id", "_step", "_token", "_workflow")

    def __init__(self, run_id: Any, workflow: Any, step: Any, attempt: Any) -> None:
        self._run_id, self._workflow, self._step, self._attempt = run_id, workflow, step, attempt
        self._token: Token[Mapping[str, Any]] | None = None

    def __enter__(self) -> None:
        self._token = _context.set(_merged(self._run_id, self._workflow, self._step, self._attempt))

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None, "exited before it was entered"
        _context.reset(self._token)


def log_context(
    *, run_id: Any = _KEEP, workflow: Any = _KEEP, step: Any = _KEEP, attempt: Any = _KEEP
) -> contextlib.AbstractContextManager[None]:
    """Bind run fields for a ``with`` block (see :func:`bind_log_context`)."""
    return _Bound(run_id, workflow, step, attempt)


class RunLogAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records carry the bound run fields as ``extra``.

    A call's own ``extra`` wins over the bound fields.

    Args:
        logger: The logger records go to.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the bound run fields under the call's ``extra``."""
        extra = kwargs.get("extra")
        kwargs["extra"] = {**_context.get(), **extra} if extra else _context.get()
        return msg, kwargs


class RunContextFilter(logging.Filter):
    """A handler filter that adds the bound run fields to records that lack them.

    Put on a handler, it tags every record the handler emits, users' loggers
    included; it never drops one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add each of :data:`RUN_FIELDS` the record does not carry; keep the record."""
        bound = _context.get()
        for field in RUN_FIELDS:
            if field not in record.__dict__:
                setattr(record, field, bound[field])
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
    ``message``; each of :data:`RUN_FIELDS` the record carries with a value;
    any other ``extra`` the record was logged with; ``exception`` (the
    traceback text) and ``stack`` when present. The line is ASCII: any other
    character, a control character included, is escaped, so a message cannot
    break the line or act on a terminal. Values that are not JSON are written
    as their ``str``.

    Args:
        secrets: Texts masked wherever they appear (the store URL's password:
            see :func:`runtime.stores._redact.url_secrets`).
        static: Keys added to every object (``{"worker_id": ...}``).
    """

    def __init__(
        self, *, secrets: Iterable[str] = (), static: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        self._secrets = tuple(secrets)
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(record.getMessage()),
            **self._static,
        }
        for field in RUN_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                document[field] = value
        for key, value in record.__dict__.items():
            if key not in _SKIPPED and key not in document and not key.startswith("_"):
                document[key] = self._clean(value) if isinstance(value, str) else value
        if record.exc_info:
            document["exception"] = self._clean(self.formatException(record.exc_info))
        elif record.exc_text:
            document["exception"] = self._clean(record.exc_text)
        if record.stack_info:
            document["stack"] = self._clean(self.formatStack(record.stack_info))
        return json.dumps(document, ensure_ascii=True, default=str, separators=(",", ":"))

    def _clean(self, text: str) -> str:
        return scrub(text, self._secrets) if self._secrets else text


class LogOnce:
    """Remembers up to ``maxsize`` event keys: :meth:`first` says whether one is new.

    The oldest key is forgotten when a new one would exceed ``maxsize``, so
    memory stays bounded and an event forgotten that long ago is logged again.
    Safe to share between threads.

    Args:
        maxsize: How many keys are remembered.

    Example::

        _once = LogOnce()
        if _once.first((run_id, key, "rollback_failed")):
            log.warning("rollback of step %r in run %s failed: %s", step, run_id, error)
    """

    def __init__(self, maxsize: int = 4096) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"LogOnce maxsize must be a positive int, got {maxsize!r}")
        self.maxsize = maxsize
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: Hashable) -> bool:
        """Whether ``key`` is seen for the first time (since it was forgotten); remember it."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self.maxsize:
                self._seen.popitem(last=False)
            return True

    def log(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        level: int,
        key: Hashable,
        msg: str,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """Log ``msg % args`` at ``level`` the first time ``key`` is seen; whether it was logged."""
        if not self.first(key):
            return False
        logger.log(level, msg, *args, **kwargs)
        return True

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._seen)
