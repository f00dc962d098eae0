"""The one gate a value passes on its way to a store: JSON the store reads back.

:func:`ensure_json` refuses what is not JSON (a set, a datetime, a tuple, NaN, a
non-str dict key) and what is JSON but would not read back through the stores'
reader, pydantic-core's JSON parser: an int longer than it takes, a str holding
a lone surrogate (UTF-8 cannot encode it), lists and dicts nested deeper than it
follows. Written once, such a value made every later read of its run's history
fail. :mod:`runtime.events` re-exports all of it; import it from there.

Size is the other half of the door: :func:`ensure_size` refuses a value whose
JSON is larger than a store's ``max_payload_bytes`` (default
:data:`MAX_PAYLOAD_BYTES`, 2 MiB), and ``ensure_user_json(..., max_bytes=N)``
checks both at once.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic_core import to_json

from .errors import PayloadTooLarge, VrbError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT_DIGITS",
    "MAX_PAYLOAD_BYTES",
    "NotJSONError",
    "ensure_json",
    "ensure_size",
    "find_problem",
    "json_size",
    "storable_text",
]

MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""The default bound on one value's JSON, in bytes (a store's ``max_payload_bytes``).

Temporal's default blob limit, and for the same reasons: every value is read
back whole with its run's history on every replay and shown by every tool, so
one 100 MB value made a 525 MB SQLite file and a worker of 1.8 GB. Data that
large belongs in a blob store, the run holding its reference.
"""

MAX_JSON_INT_DIGITS = 4300
"""The longest int (in decimal digits) the stores' JSON reader takes back.

pydantic-core's JSON parser, which reads every stored event, refuses longer
numbers ("number out of range"); CPython's own ``int`` to ``str`` limit is the same.
"""

MAX_JSON_DEPTH = 190
"""How deep lists and dicts may nest in a value meant for the store.

The reader refuses documents nested about 200 deep ("recursion limit exceeded");
a value sits at most five levels down in a stored event (an error's attribute),
and the rest is margin.
"""

_INT_BOUND = 10**MAX_JSON_INT_DIGITS


class NotJSONError(VrbError, TypeError):
    """A value meant for the store is not a JSON value, or not one the store reads back.

    Attributes:
        what: What the value is (``"step 'charge' output"``).
        path: Where inside it the offending part sits (``"$.items[2]"``).
        problem: What is wrong there.
        fix: How to store it instead, for a JSON value the store cannot read back
            (an int too long, a lone surrogate, nesting too deep); ``None`` for a
            value that is not JSON at all.
    """

    def __init__(self, what: str, path: str, problem: str, fix: str | None = None) -> None:
        self.what = what
        self.path = path
        self.problem = problem
        self.fix = fix
        # A path through deeply nested lists runs to hundreds of characters.
        shown = path if len(path) <= 60 else path[:57] + "..."
        where = "" if path == "$" else f" at {shown}"
        if fix is None:
            message = (
                f"{what} is not a JSON value{where}: {problem}; use dicts with str keys, "
                "lists, str, int, finite float, bool or None"
            )
        else:
            message = f"{what} cannot be stored{where}: {problem}; {fix}"
        super().__init__(message)


# Step errors record their class's module for replay; keep the one logs already name.
NotJSONError.__module__ = "runtime.events"


class _Problem:
    """What is wrong with a value, and where.

    The path is built on the way out of the recursion, so a value with nothing
    wrong (every step output) builds no paths.
    """

    __slots__ = ("fix", "problem", "steps")

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.steps: list[str] = []

    @property
    def path(self) -> str:
        return "$" + "".join(reversed(self.steps))


_SURROGATE = "holds a lone surrogate, which UTF-8 cannot encode"
_SURROGATE_FIX = "replace it, e.g. with text.encode('utf-8', 'replace').decode()"


RESERVED_KEY = "$vrb_codec"
"""The member that marks an encoded value; no user value may hold it at its top level."""


def find_problem(value: Any, depth: int = 0) -> _Problem | None:
    """What is wrong with ``value`` for the store, or ``None`` (see :func:`ensure_json`)."""
    # The common scalar cases first: this runs on every step output.
    if value is None:
        return None
    if isinstance(value, str):
        if value.isascii() or _encodes(value):
            return None
        return _Problem(f"the str {_short_repr(value)} {_SURROGATE}", _SURROGATE_FIX)
    if isinstance(value, int):
        # Comparing against the bound never formats the int: formatting one this
        # long is itself refused by CPython.
        if -_INT_BOUND < value < _INT_BOUND:
            return None
        return _Problem(
            f"an int of {_digits(value)} digits is more than the "
            f"{MAX_JSON_INT_DIGITS} digits the store reads back",
            "store it as a str",
        )
    if isinstance(value, float):
        return None if math.isfinite(value) else _Problem(f"{value!r} is not allowed in JSON")
    if isinstance(value, dict):
        if depth >= MAX_JSON_DEPTH:
            return _too_deep()
        for key, item in value.items():
            if not isinstance(key, str):
                return _Problem(f"dict key {_short_repr(key)} is a {type(key).__name__}, not a str")
            if not (key.isascii() or _encodes(key)):
                return _Problem(f"dict key {_short_repr(key)} {_SURROGATE}", _SURROGATE_FIX)
            found = find_problem(item, depth + 1)
            if found is not None:
                found.steps.append(f".{key}")
                return found
        return None
    if isinstance(value, list):
        if depth >= MAX_JSON_DEPTH:
            return _too_deep()
        for index, item in enumerate(value):
            found = find_problem(item, depth + 1)
            if found is not None:
                found.steps.append(f"[{index}]")
                return found
        return None
    if isinstance(value, tuple):
        # A tuple would come back from the store as a list, so a replayed run
        # would see a different value than the live one did.
        return _Problem("a tuple comes back as a list after a replay, use a list")
    return _Problem(f"{type(value).__name__} {_short_repr(value)}")


def _too_deep() -> _Problem:
    return _Problem(
        f"lists and dicts nest more than {MAX_JSON_DEPTH} deep, more than the store reads back",
        "flatten the value",
    )


def _encodes(text: str) -> bool:
    # Only lone surrogates fail: the one str UTF-8 (the stores' encoding) cannot hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _digits(value: int) -> int:
    size = abs(value)
    # A lower bound from the bit length, off by at most one.
    digits = int((size.bit_length() - 1) * math.log10(2)) + 1
    return digits + 1 if size >= 10**digits else digits


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:
        return f"<{type(value).__name__} whose repr() raised {type(error).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def ensure_json(value: Any, what: str) -> None:
    """Check that ``value`` is a JSON value that survives a store round trip unchanged.

    The one gate every value meant for the store passes (run inputs, step and
    rollback outputs, workflow results, signal payloads, error details): besides
    being JSON, the value must be one the stores' reader takes back, or the run
    it lands in could never be read again.

    Args:
        value: The value to check.
        what: What it is, for the message (``"workflow input"``).

    Raises:
        NotJSONError: Some part of ``value`` is not JSON, or is JSON the store
            cannot read back (an int of more than :data:`MAX_JSON_INT_DIGITS`
            digits, a str holding a lone surrogate, lists and dicts nested more
            than :data:`MAX_JSON_DEPTH` deep); the message names where.
    """
    found = find_problem(value)
    if found is not None:
        raise NotJSONError(what, found.path, found.problem, found.fix)


def json_size(value: Any) -> int:
    """The size in bytes of ``value`` as the stores write it (compact UTF-8 JSON).

    ``value`` must have passed :func:`ensure_json`.
    """
    return len(to_json(value))


def ensure_size(text: str, what: str, limit: int | None) -> None:
    """Refuse stored JSON text longer than ``limit`` bytes of UTF-8 (``None``: no bound).

    Args:
        text: The value as the store writes it.
        what: What it is, for the message.
        limit: The bound in bytes (a store's ``max_payload_bytes``).

    Raises:
        PayloadTooLarge: It is longer; the message names the limit and how to raise it.
    """
    if limit is None:
        return
    length = len(text)
    if length * 4 <= limit:  # no character takes more than 4 bytes: the common case
        return
    size = length if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise PayloadTooLarge(what, size, limit)


def ensure_user_json(value: Any, what: str, *, max_bytes: int | None = None) -> None:
    """:func:`ensure_json` for a value from user code, at the door (trigger, signal, step).

    Besides being storable, such a value may not hold :data:`RESERVED_KEY` at its
    top level: tools and workers would take it for a payload codec's envelope (a
    worker without the codec would give its run back for ever). The stores'
    own gate is :func:`ensure_json`, which lets envelopes through.

    Args:
        value: The value.
        what: What it is, for the message.
        max_bytes: Also refuse a value whose JSON is longer (the store's
            ``max_payload_bytes``); ``None`` checks no size.

    Raises:
        NotJSONError: As :func:`ensure_json`, or the value holds the reserved member.
        PayloadTooLarge: Its JSON is longer than ``max_bytes``.
    """
    ensure_json(value, what)
    if max_bytes is None:
        return
    # A bound on the size from the text alone, without serialising (a step's
    # output is usually far below the limit, a 100 MB value far above it).
    low = _least_size(value)
    if low > max_bytes:
        raise PayloadTooLarge(what, low, max_bytes, exact=False)
    if low * 6 + 64 > max_bytes:  # else surely small: a character is at most six bytes
        size = json_size(value)
        if size > max_bytes:
            raise PayloadTooLarge(what, size, max_bytes)
    if type(value) is dict and RESERVED_KEY in value:
        raise NotJSONError(
            what,
            "$",
            f"the member {RESERVED_KEY!r} is reserved: it marks a payload codec's envelope",
            "rename the member",
        )


def _least_size(value: Any) -> int:
    """At most the size of ``value``'s JSON: its characters, a byte each (a checked value)."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):  # {"key":item,...}
        items = sum(len(key) + 3 + _least_size(item) for key, item in value.items())
        return 2 + items + max(len(value) - 1, 0)
    if isinstance(value, list):  # [item,...]
        return 2 + sum(_least_size(item) for item in value) + max(len(value) - 1, 0)
    return 1  # a number, true, false, null: one character at least


def storable_text(text: str) -> str:
    """``text`` with any lone surrogate escaped (``\\udcff``), so a store can hold it."""
    if text.isascii() or _encodes(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
