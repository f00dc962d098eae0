"""What every ``vrb`` command shares: the parser class, options, input parsing, the client."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from ..client import Client
from ..errors import VrbError
from ..stores import default_store_url

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "CommandError",
    "Handler",
    "Parser",
    "UsageError",
    "add_common_options",
    "display_url",
    "open_client",
    "parse_json_option",
    "positive_float",
    "positive_int",
    "store_url",
]

PROG = "vrb"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
"""A command: parsed arguments in, exit status out (run on an event loop)."""


class UsageError(VrbError, ValueError):
    """The command line is wrong: an unknown option, a bad value, malformed JSON."""


class CommandError(VrbError):
    """The thing asked for failed (exit 1), e.g. ``--wait`` on a run that failed.

    Attributes:
        status: The exit status to use.
    """

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        self.status = status
        super().__init__(message)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--db URL`` and ``--json``, which every command takes."""
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store URL (sqlite:///path.db, postgresql://...); default: "
        "$VRB_DATABASE_URL, else sqlite:///vrb.db",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (stable keys) instead of text",
    )


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


_JSON_EXAMPLES = {"--args": '[{"id": "A1"}]', "--payload": '{"approved": true}'}


def parse_json_option(text: str | None, option: str) -> Any:
    """The JSON value of ``--args``/``--payload``; ``None`` when the option is absent.

    Args:
        text: The option's value as given.
        option: The option's name, e.g. ``--payload``; the error message's
            example uses it, so it shows the option the user typed.

    Raises:
        UsageError: The text is not JSON; the message gives the line and column.
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        example = _JSON_EXAMPLES.get(option, '{"key": "value"}')
        raise UsageError(
            f"{option} is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno} (character {error.pos + 1}); quote the whole value for the shell, "
            f"e.g. {option} '{example}'"
        ) from None


def store_url(args: argparse.Namespace) -> str:
    """The store URL: ``--db``, else ``VRB_DATABASE_URL``, else ``sqlite:///vrb.db``.

    Raises:
        UsageError: The URL names the in-process memory store, which a command
            cannot share with a worker in another process.
    """
    given: str | None = args.db
    url = given.strip() if given is not None else default_store_url()
    if not url:
        raise UsageError("--db needs a store URL, e.g. --db sqlite:///vrb.db")
    if url.lower().startswith("memory:"):
        raise UsageError(
            f"store URL {url!r} lives inside one process, so the vrb command cannot share it "
            "with workers; use sqlite:///path.db or postgresql://..."
        )
    return url


def display_url(url: str) -> str:
    """``url`` with any password masked, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username or ''}:***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url


def open_client(args: argparse.Namespace) -> Client:
    """A client on the store the arguments name.

    Raises:
        UsageError: The URL is not usable by the command line.
        ConfigurationError: The URL is malformed or names an unknown backend.
        StoreError: The database cannot be opened or reached.
    """
    return Client(store_url(args))
