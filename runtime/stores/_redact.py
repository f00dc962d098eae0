"""Store URLs without their secrets: what messages, logs and reprs may show of a URL.

A store URL can carry a password in its userinfo
(``postgresql://user:PW@host/db``), as an option (``?password=PW``,
``?sslpassword=PW``), or in libpq's keyword form (``password=PW dbname=db``).
:func:`redact_url` is the one way a URL is shown: every message, log line and
``repr`` that names a store URL shows ``redact_url(url)`` (or
:func:`url_location`, the same cut to ``scheme://user@host:port/db``). It never
raises, so a URL too malformed to parse is still shown without its password,
and when a URL is ambiguous (a password written with an unencoded ``@``, ``/``,
``&`` or space) it masks more than the password, never less.

The driver's own messages are not ours to format: libpq quotes the parts of a
URL it cannot parse (``invalid percent-encoded token: "PW%zz"``), the whole URL
when an IPv6 host lacks its bracket, and the host, port, user or database that
a password with an unencoded ``/`` or ``@`` spilled into. :func:`url_secrets`
lists the texts of a URL that may be secret, and :func:`scrub` masks them, and
any ``password=...``, in such a message before it becomes part of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import unquote, urlsplit

__all__ = ["MASK", "redact_url", "scrub", "url_location", "url_secrets"]

MASK = "***"
"""What a secret reads as."""

_SECRET_KEYS = frozenset({"password", "sslpassword"})
"""libpq's connection parameters that hold secrets."""

_KNOWN_KEYS = frozenset(
    {
        # libpq's connection parameters (PostgreSQL 17) ...
        *("host", "hostaddr", "port", "dbname", "user", "passfile", "require_auth"),
        *("channel_binding", "connect_timeout", "client_encoding", "options"),
        *("application_name", "fallback_application_name", "keepalives", "keepalives_idle"),
        *("keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication"),
        *("gssencmode", "sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey"),
        *("sslcertmode", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer"),
        *("ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib"),
        *("gssdelegation", "service", "target_session_attrs", "load_balance_hosts"),
        # ... and the stores' own options.
        *("schema", "pool_min_size", "pool_max_size", "pool_timeout"),
        *("synchronous", "busy_timeout"),
    }
)
"""Options that end a password: what follows a ``password=`` up to one of them is masked too.

A password written unencoded in a query (``?password=a&b``) or with a space in
the keyword form (``password=a b dbname=db``) runs on past its first ``&`` or
space as the user meant it; a parser reads the rest as a bad option and quotes it.
"""

_SECRET_OPTION = re.compile(r"(?<![A-Za-z0-9_])(?:ssl|pg)?password\s*=\s*", re.IGNORECASE)
"""``password=``, ``sslpassword =``, ``PGPASSWORD=``: in the keyword form, a query, a message."""

_NEXT_OPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=")

_SEPARATORS = re.compile(r"[@/:?#&,;=\s'\"\[\]\\]+")
"""Where a password written without percent-encoding is cut when parsed as a URL.

A backslash too: the driver doubles it when it quotes a host a raw ``@`` cut from
the password (``failed to resolve host 'PW\\\\$@127.0.0.1'``).
"""

_SHORTEST = 3
"""Shorter pieces are not scrubbed from messages: they cannot be told from the words around."""


def _value_end(text: str, start: int) -> int:
    """Where the option value starting at ``start`` ends: a quoted one, or at a space or '&'."""
    if text.startswith("'", start):
        index = start + 1
        while index < len(text) and text[index] != "'":
            index += 2 if text[index] == "\\" else 1
        return min(index + 1, len(text))
    index = start
    while index < len(text) and not text[index].isspace() and text[index] != "&":
        index += 1
    return index


def _option_spans(text: str, *, runs_on: bool) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each secret option's value in ``text``.

    Args:
        runs_on: The value runs on over the words after it, up to the next known
            option (:data:`_KNOWN_KEYS`): for a URL. In a message, it stops at
            its first space, so the words after it stay readable.
    """
    position = 0
    while (match := _SECRET_OPTION.search(text, position)) is not None:
        start = match.end()
        end = _value_end(text, start)
        while runs_on and end < len(text):
            following = end
            while following < len(text) and (text[following].isspace() or text[following] == "&"):
                following += 1
            option = _NEXT_OPTION.match(text, following)
            if following == len(text) or (option and option.group(1).lower() in _KNOWN_KEYS):
                break
            end = _value_end(text, following)
            if end == following:  # a character no value takes: leave it to the next round
                end += 1
        yield start, end
        position = max(end, start + 1)


def _mask_options(text: str, *, runs_on: bool) -> str:
    pieces: list[str] = []
    position = 0
    for start, end in _option_spans(text, runs_on=runs_on):
        pieces += [text[position:start], MASK]
        position = end
    return "".join([*pieces, text[position:]])


def _redact_query(query: str) -> str:
    """A query with the values of secret options masked, percent-encoded names included."""
    items: list[str] = []
    masking = False
    for item in query.split("&"):
        key, equals, _ = item.partition("=")
        name = unquote(key).strip().lower()
        if equals and name in _SECRET_KEYS:
            items.append(f"{key}={MASK}")
            masking = True
        elif masking and name not in _KNOWN_KEYS:
            items.append(MASK)  # the rest of a password written with a raw '&'
        else:
            items.append(item)
            masking = False
    return "&".join(items)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
"""A scheme as RFC 3986 spells it: ``user:pw://@host`` has none (its '://' is the password's)."""


def _split_scheme(url: str) -> tuple[str, str]:
    """``(scheme://, rest)``; without a scheme, the scheme is empty and the rest is all."""
    match = _SCHEME.match(url)
    return (match.group(), url[match.end() :]) if match else ("", url)


def _split_userinfo(rest: str) -> tuple[str, str | None, str]:
    """``(user, password or None, the rest from the '@' on)`` of a URL after its ``://``.

    The userinfo ends at the *last* ``@``: a password with an unencoded ``@``,
    ``/``, ``?`` or ``#`` is still masked whole (a ``@`` in the query string makes
    this mask more than the password, never less).
    """
    at = rest.rfind("@")
    if at < 0:
        return "", None, rest
    user, colon, password = rest[:at].partition(":")
    return user, (password if colon else None), rest[at:]


def redact_url(url: str) -> str:
    """``url`` as messages and logs may show it: every password replaced by ``***``.

    Args:
        url: A store URL, well formed or not (a libpq ``key=value`` string too).

    Returns:
        ``postgresql://user:***@host:5432/db?sslmode=require&password=***``:
        the password of the userinfo and of ``password=``/``sslpassword=``
        options (also in libpq's keyword form) masked, the rest as given.
        A URL with no password comes back unchanged.
    """
    scheme, rest = _split_scheme(url)
    # The options first: a '@' in a masked value can then not pass for the userinfo's end.
    rest = _mask_options(rest, runs_on=True)
    head, question, query = rest.partition("?")
    if question:
        rest = f"{head}?{_redact_query(query)}"
    # Without a scheme ("user:pw@host/db", a mistyped "postgresql:/..."), the
    # userinfo is looked for in the whole text.
    user, password, tail = _split_userinfo(rest)
    if password is not None:
        rest = f"{user}:{MASK}{tail}"
    return scheme + rest


def url_location(url: str) -> str:
    """Where ``url`` points, for messages: ``scheme://user@host:port/db``, no password, no query.

    Cut from :func:`redact_url`'s text, so it can show nothing that one does not.
    """
    scheme, rest = _split_scheme(redact_url(url))
    user, password, tail = _split_userinfo(rest.partition("?")[0])
    if password is None:
        return scheme + (f"{user}{tail}" if user else tail)
    return scheme + (f"{user}{tail}" if user else tail[1:])


def _python_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:  # an IPv6 host without its closing bracket
        return ""


def _candidates(url: str) -> Iterator[str]:
    """Every text of ``url`` that a password could be, however the URL is parsed."""
    rest = _split_scheme(url)[1]
    # Ours: the userinfo ends at the last '@' (after the options are masked).
    yield _split_userinfo(_mask_options(rest, runs_on=True))[1] or ""
    yield _split_userinfo(rest)[1] or ""
    # libpq's: it ends at the first '@' (a '/' before it means there is none).
    userinfo, at, _ = rest.partition("@")
    if at and "/" not in userinfo:
        yield userinfo.partition(":")[2]
    # Python's: the netloc ends at the first '/', '?' or '#', its userinfo at its last '@'.
    yield _python_password(url)
    # Options, in the keyword form or a query, with what runs on after them.
    for start, end in _option_spans(rest, runs_on=True):
        value = rest[start:end]
        yield value
        if value.startswith("'"):
            yield value[1:].removesuffix("'").replace("\\'", "'").replace("\\\\", "\\")
    # Options whose names are percent-encoded (?pass%77ord=...).
    items = rest.partition("?")[2].split("&")
    for index, item in enumerate(items):
        key, equals, value = item.partition("=")
        if equals and unquote(key).strip().lower() in _SECRET_KEYS:
            yield value
            following = [value]
            for after in items[index + 1 :]:
                if unquote(after.partition("=")[0]).strip().lower() in _KNOWN_KEYS:
                    break
                following.append(after)
            yield "&".join(following)


def url_secrets(url: str) -> tuple[str, ...]:
    """The texts :func:`scrub` must mask in a driver's message about ``url``, longest first.

    Each password the URL may hold (however it is parsed), as written and
    percent-decoded, and the pieces of it a parser would cut at ``/``, ``@``,
    ``:``... (libpq quotes such a piece as a host, a port or a database name).
    Pieces shorter than three characters are left out, and so is any text the
    redacted URL shows anyway (a password that is also the user's name).
    """
    shown = redact_url(url)
    found: set[str] = set()
    for candidate in _candidates(url):
        for whole in (candidate, unquote(candidate)):
            found.add(whole)
            found.update(_SEPARATORS.split(whole))
    kept = {text for text in found if len(text) >= _SHORTEST and text not in shown}
    return tuple(sorted(kept, key=lambda text: (-len(text), text)))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every one of ``secrets``, and any ``password=...``, replaced by ``***``.

    Args:
        text: A message that may quote a URL, e.g. a driver's error.
        secrets: What :func:`url_secrets` returned for the URL(s) concerned.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return _mask_options(text, runs_on=False)
