"""Rebuilding a recorded step failure as the exception the live run saw, for replay."""

from __future__ import annotations

import builtins
import copy
import sys
from collections.abc import Mapping
from typing import Any

from .errors import NonRetryableError
from .events import ErrorInfo

__all__ = ["RecordedError", "rebuild_error"]


class RecordedError(Exception):
    """An error rebuilt from the log whose class could not be (named after the recorded type)."""


_REBUILT: dict[str, type[RecordedError]] = {}


def rebuild_error(info: ErrorInfo) -> BaseException:
    """An exception equivalent to a recorded one, for replay.

    A replayed ``except StepFailed as e`` must see the ``e.cause`` the live run
    saw, or ``isinstance(e.cause, CardDeclined)`` would send the replay down
    another branch. So when the log names the class (``module``, ``qualname``)
    and its ``args`` were JSON, the class is looked up among the modules already
    imported (a module named in the log is never imported: the log is data, not
    code to load) and the exception is made as ``pickle`` would make it:
    ``cls.__new__(cls, *args)``, then ``args`` and the recorded attributes set,
    without calling ``__init__`` (whose signature need not match ``args``).

    Otherwise (a class not imported in this worker, one defined in a function,
    non-JSON ``args``, a log written before classes were recorded) builtin types
    come back as themselves with the recorded message, and others as a subclass
    of :class:`RecordedError` carrying the recorded type name.
    """
    cls = _recorded_class(info)
    if cls is not None and info.args is not None:
        rebuilt = _instantiate(cls, info.args, info.attrs or {})
        if rebuilt is not None:
            return rebuilt
    found = getattr(builtins, info.type, None)
    if isinstance(found, type) and issubclass(found, Exception):
        try:
            return found(info.message)
        except Exception:
            pass
    if info.type == "NonRetryableError":
        return NonRetryableError(info.message)
    fallback = _REBUILT.get(info.type)
    if fallback is None:
        fallback = type(info.type, (RecordedError,), {})
        _REBUILT[info.type] = fallback
    return fallback(info.message)


def _recorded_class(info: ErrorInfo) -> type[Exception] | None:
    if info.module is None or info.qualname is None:
        return None
    target: Any = sys.modules.get(info.module)
    for part in info.qualname.split("."):
        # vars(), not getattr(): a module-level __getattr__ may import lazily.
        namespace = getattr(target, "__dict__", None)
        if not isinstance(namespace, Mapping):
            return None
        target = namespace.get(part)
    if isinstance(target, type) and issubclass(target, Exception) and target.__name__ == info.type:
        return target
    return None


def _instantiate(cls: type[Exception], args: list[Any], attrs: dict[str, Any]) -> Exception | None:
    try:
        values = copy.deepcopy(args)
        rebuilt = cls.__new__(cls, *values)
        if type(rebuilt) is not cls:
            return None
        rebuilt.args = tuple(values)
        vars(rebuilt).update(copy.deepcopy(attrs))
    except Exception:
        return None
    return rebuilt
