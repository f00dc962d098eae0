"""A store URL's query string, read one way by every backend: the store's options apart, the rest intact.

Two mistakes this module exists to prevent:

* **Re-encoding what is not ours.** libpq reads a URL's query itself: it
  percent-decodes each value and takes ``+`` as a plus (RFC 3986), where
  Python's form decoding (``parse_qsl``) takes it as a space. Decoding the
  query and encoding it again turned ``options=-c%20search_path%3Dpublic`` into
  ``-c+search_path%3Dpublic``, which libpq passed on as ``+search_path``. So
  :func:`split_query` hands back every item that is not the store's exactly as
  written, and decodes the store's own with :func:`urllib.parse.unquote` (no
  ``+`` rule), as libpq would.
* **Guessing.** An option given twice (``schema=a&schema=b``) or empty
  (``schema=``) used to fall back to a default or to the last one, silently;
  it is refused, in one line naming the option. A number is ASCII digits in a
  range, never ``int()`` of anything (which takes Arabic-Indic digits and fails on 5,000 digits).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import unquote

from ..errors import ConfigurationError, shown

__all__ = ["SplitQuery", "check_url_text", "int_option", "split_query"]


def check_url_text(url: str, where: str) -> None:
    """Refuse a URL holding a NUL or a lone surrogate (bytes that were not UTF-8, as Python decodes them).

    No driver takes either: libpq's strings end at a NUL, and a lone surrogate
    cannot even be encoded to reach it (``UnicodeEncodeError`` deep in a
    connect). A ``%00`` is refused where it is decoded (a SQLite path).

    Raises:
        ConfigurationError: It holds one.
    """
    if "\x00" in url:
        raise ConfigurationError(f"store URL {where!r} holds a NUL character; remove it")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"store URL {where!r} holds bytes that are not UTF-8; write it in UTF-8, "
            "percent-encoding what is not text"
        ) from None


@dataclass(frozen=True)
class SplitQuery:
    """A query string split into the store's options and the rest.

    Attributes:
        options: The store's own options, decoded, each given once.
        rest: The other items exactly as written, in their order (``a=b`` each).
    """

    options: dict[str, str]
    rest: list[str]


def split_query(query: str, ours: Collection[str], where: str) -> SplitQuery:
    """Split ``query`` (without its ``?``) into the options named in ``ours`` and the rest.

    Args:
        query: The URL's query string as written.
        ours: The options the store reads itself.
        where: The URL as a message may show it (no password).

    Raises:
        ConfigurationError: An item has no ``=`` or no name, or one of ``ours``
            is given more than once.
    """
    options: dict[str, str] = {}
    rest: list[str] = []
    if not query:
        return SplitQuery(options, rest)
    for position, item in enumerate(query.split("&"), 1):
        raw_name, equals, raw_value = item.partition("=")
        name = unquote(raw_name).strip()
        if not equals or not name:
            # Not quoted: it may be the rest of a password written with a raw '&'.
            raise ConfigurationError(
                f"store URL {where!r}: malformed query string: item {position} is not "
                "name=value; separate options with '&' and percent-encode '&' in values (%26)"
            )
        if name not in ours:
            rest.append(item)
        elif name in options:
            raise ConfigurationError(
                f"store URL {where!r}: option {name} is given more than once; give it once"
            )
        else:
            options[name] = unquote(raw_value)
    return SplitQuery(options, rest)


def int_option(
    options: dict[str, str], name: str, default: int, low: int, high: int, where: str
) -> int:
    """The integer option ``name`` of a store URL, ``default`` when absent.

    Raises:
        ConfigurationError: It is not ASCII digits naming a number from ``low``
            to ``high``; the message gives the range.
    """
    raw = options.get(name)
    if raw is None:
        return default
    text = raw.strip()
    digits = len(str(high))
    if not (text.isascii() and text.isdecimal() and len(text) <= digits + 2):
        value = None
    else:
        value = int(text)
    if value is None or not low <= value <= high:
        raise ConfigurationError(
            f"store URL {where!r}: {name} must be an integer from {low} to {high}, got {shown(raw)}"
        )
    return value
