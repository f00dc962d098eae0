"""The one gate an identifier passes: run ids, workflow, step and signal names, worker ids.

Every store keeps identifiers as text, compares them and indexes them, and every
message quotes them, so one rule holds for all of them, checked the same way by
the client, the SDK and each store (a NUL or a megabyte-long id used to be a
store error on PostgreSQL and a new run on SQLite):

    an identifier is a str of 1 to :data:`MAX_IDENTIFIER_LENGTH` (255)
    characters, not only whitespace, holding no control character
    (U+0000-U+001F, U+007F-U+009F) and no lone surrogate.

Why these: PostgreSQL's ``text`` cannot hold a NUL and UTF-8 cannot encode a
lone surrogate, so no store could keep them; a control character (a newline,
an escape) in an id breaks the one-line messages and the terminal that shows
them; and 255 characters hold any UUID, any business key and a schedule's
``name:time`` id, while keeping every index entry small (a workflow name also
names its graph file, and file names stop at 255 bytes). Like Temporal, which
caps ids and names at a length too, the rule refuses rather than truncates: two
long ids must never become one.
"""

from __future__ import annotations

import re

from .errors import ConfigurationError, shown

__all__ = ["IDENTIFIER_RULE", "MAX_IDENTIFIER_LENGTH", "check_identifier", "identifier_problem"]

MAX_IDENTIFIER_LENGTH = 255
"""The longest identifier, in characters (see the module docstring)."""

IDENTIFIER_RULE = (
    f"1 to {MAX_IDENTIFIER_LENGTH} characters, not only spaces, "
    "with no control character or lone surrogate"
)
"""The rule, as every refusal states it."""

_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def identifier_problem(value: object) -> str | None:
    """What breaks the rule in ``value``, or ``None`` for a good identifier."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a str"
    if not value:
        return "is empty"
    if len(value) > MAX_IDENTIFIER_LENGTH:
        return f"is {len(value)} characters long"
    found = _FORBIDDEN.search(value)
    if found is not None:
        char = found.group()
        kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
        return f"holds {kind} (U+{ord(char):04X}) at index {found.start()}"
    if value.isspace():
        return "is only whitespace"
    return None


def check_identifier(value: object, kind: str) -> str:
    """Return ``value`` if it is a good identifier (see the module docstring), else raise.

    Args:
        value: The identifier.
        kind: What it is, for the message (``"run id"``, ``"signal name"``).

    Returns:
        ``value``, known to be a str.

    Raises:
        ConfigurationError: It breaks the rule; the message states the rule and
            shows at most the start of the value.
    """
    if (
        type(value) is str
        and 0 < len(value) <= MAX_IDENTIFIER_LENGTH
        and value.isprintable()
        and not value.isspace()
    ):
        # The common case in two C calls: printable text has no control character
        # and no surrogate (isprintable is stricter than the rule: the slow path decides).
        return value
    problem = identifier_problem(value)
    if problem is None and isinstance(value, str):
        return value
    raise ConfigurationError(f"a {kind} must be {IDENTIFIER_RULE}; {shown(value)} {problem}")
