"""What every ``vrb`` command shares: the parser class, options, input parsing, the client."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from .._codec_store import CodecStore
from .._json_values import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS, ensure_user_json
from .._worker_options import WORKER_RANGES, worker_option_problem
from ..client import Client
from ..codec import PayloadCodec, load_codec
from ..errors import VrbError, shown
from ..stores import default_store_url, open_store
from ..stores._redact import redact_url

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
    "codec_of",
    "display_url",
    "open_client",
    "parse_json_option",
    "path_text",
    "positive_float",
    "positive_int",
    "store_url",
    "worker_count",
    "worker_seconds",
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
    """``--db URL``, ``--codec MODULE:OBJECT`` and ``--json``, which every command takes."""
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store URL (sqlite:///path.db, postgresql://...); default: "
        "$VRB_DATABASE_URL, else sqlite:///vrb.db",
    )
    parser.add_argument(
        "--codec",
        metavar="MODULE:OBJECT",
        help="the payload codec that decrypts and encrypts values (a codec or a zero-argument "
        "factory, e.g. runtime.codec:AesGcmCodec.from_environ); default: $VRB_CODEC, else "
        "none: encrypted values are shown as <encrypted: key ID>",
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
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds, got {shown(text)}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds, got {shown(text)}"
        )
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer greater than zero."""
    value = _int(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {shown(text)}")
    return value


def _int(text: str, expected: str) -> int:
    # int() takes Arabic-Indic digits, and refuses 5,000 digits with a ValueError too.
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {shown(text)}") from None


def worker_seconds(name: str) -> Callable[[str], float]:
    """An argparse type for the worker option ``name`` (seconds): the range :class:`~runtime.Worker` checks.

    One rule for both (:mod:`runtime._worker_options`): ``--lease-timeout 1e12``
    is refused as ``Worker(lease_timeout=1e12)`` is, naming the range.
    """
    expected = f"a number {WORKER_RANGES[name].describe()}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {shown(text)}") from None
        problem = worker_option_problem(name, value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem}, got {shown(text)}")
        return value

    return parse


def worker_count(name: str) -> Callable[[str], int]:
    """An argparse type for the worker option ``name`` (a count), as :func:`worker_seconds`."""

    def parse(text: str) -> int:
        value = _int(text, WORKER_RANGES[name].describe())
        problem = worker_option_problem(name, value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem}, got {shown(text)}")
        return value

    return parse


def path_text(text: str) -> str:
    """An argparse type: a file or directory name, which no NUL may be in (no system call takes one)."""
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"a path cannot hold a NUL character, got {shown(text)}")
    return text


_JSON_EXAMPLES = {"--args": '[{"id": "A1"}]', "--payload": '{"approved": true}'}


def parse_json_option(text: str | None, option: str) -> Any:
    """The JSON value of ``--args``/``--payload``; ``None`` when the option is absent.

    Args:
        text: The option's value as given.
        option: The option's name, e.g. ``--payload``; the error message's
            example uses it, so it shows the option the user typed.

    Raises:
        UsageError: The text is not JSON (the message gives the line and column),
            or nests too deep or holds too long an int for any JSON parser to
            follow.
        NotJSONError: It is JSON the store cannot take (a lone surrogate, ``NaN``,
            nesting or an int beyond the store's bounds): the runtime's value
            door, :func:`runtime._json_values.ensure_user_json`.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        example = _JSON_EXAMPLES.get(option, '{"key": "value"}')
        raise UsageError(
            f"{option} is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno} (character {error.pos + 1}); quote the whole value for the shell, "
            f"e.g. {option} '{example}'"
        ) from None
    except RecursionError:
        # The parser gave up before the value door could count the levels.
        raise UsageError(
            f"{option} cannot be stored: lists and dicts nest more than {MAX_JSON_DEPTH} deep, "
            "more than the store reads back; flatten the value"
        ) from None
    except ValueError:
        # json refuses an int too long for int(): CPython's limit, the store's too.
        raise UsageError(
            f"{option} cannot be stored: it holds an int of more than {MAX_JSON_INT_DIGITS} "
            "digits, more than the store reads back; pass it as a JSON string"
        ) from None
    # The runtime's one door for values (what the client checks again): named after the option.
    ensure_user_json(value, f"the {option} value")
    return value


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
            f"store URL {redact_url(url)!r} lives inside one process, so the vrb command cannot share it "
            "with workers; use sqlite:///path.db or postgresql://..."
        )
    return url


def display_url(url: str) -> str:
    """``url`` with any password masked, for messages and logs (see :func:`redact_url`)."""
    return redact_url(url)


def codec_of(args: argparse.Namespace) -> PayloadCodec | None:
    """The codec ``--codec`` (else ``VRB_CODEC``) names, or ``None`` when neither is given.

    Raises:
        UsageError: ``--codec`` was given an empty value.
        ConfigurationError: The spec is malformed or does not give a codec.
    """
    given: str | None = getattr(args, "codec", None)
    spec = (given if given is not None else os.environ.get("VRB_CODEC", "")).strip()
    if not spec:
        if given is not None:
            raise UsageError("--codec needs MODULE:OBJECT, e.g. --codec myapp.crypto:codec")
        return None
    # Like `python -m` (and `vrb worker`): modules in the current directory are importable.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return load_codec(spec)


def open_client(args: argparse.Namespace, *, reader: bool = False) -> Client:
    """A client on the store the arguments name, through the codec they name.

    Args:
        args: The parsed arguments.
        reader: For commands that print runs: a value the codec cannot decode
            (a key it lacks) is shown encrypted, and noted, instead of failing.

    Raises:
        UsageError: The URL is not usable by the command line.
        ConfigurationError: The URL is malformed or names an unknown backend,
            or the codec spec is bad.
        StoreError: The database cannot be opened or reached.
    """
    codec = codec_of(args)
    url = store_url(args)
    if codec is None or not reader:
        return Client(url, codec=codec)
    return Client(CodecStore(open_store(url), codec, keep_undecodable=True))
