"""The ``vrb`` command: run workers and operate runs from a terminal.

Commands (every one takes ``--db URL``, ``--codec MODULE:OBJECT`` and ``--json``)::

    vrb worker MODULE... [--workflow NAME]... [--graphs DIR] [--concurrency N]
                         [--poll-interval S] [--lease-timeout S] [--log-level L]
                         [--default-max-events N]
    vrb trigger NAME [--args JSON] [--run-id ID] [--wait] [--timeout S]
    vrb signal RUN NAME [--payload JSON]
    vrb runs list [--workflow W] [--status S] [--limit N] [--cursor C]
    vrb runs show RUN [--limit N]
    vrb runs history RUN [--after SEQ] [--limit N]
    vrb runs cancel RUN
    vrb stats [--workflow W]

The store is ``--db``, else ``VRB_DATABASE_URL``, else ``sqlite:///vrb.db``.
The payload codec (:mod:`runtime.codec`) is ``--codec``, else ``VRB_CODEC``,
else none: values stored encrypted are then shown as ``<encrypted: key ID>``.
Text goes to stdout (rich tables in a terminal, plain columns otherwise);
notes and errors go to stderr. ``--json`` prints one JSON document.

Exit statuses:

* ``0``: success;
* ``1``: the thing asked for failed: ``trigger --wait`` on a run that ended
  ``failed`` or ``cancelled``, or that did not end within ``--timeout``;
* ``2``: usage or bad input: unknown option, malformed JSON (with its
  position), unknown run id, a signal to a finished run, a bad or unreachable
  database, a workflow module that cannot be imported or compiled; one line on
  stderr, ``vrb: error: <message>``;
* ``3``: an internal error (a bug): one line asking for a report;
  ``VRB_DEBUG=1`` shows the traceback instead;
* ``130``: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Sequence

from vrb_compile.terminal import inert

from ..errors import VrbError, shown
from ..stores._redact import scrub, url_secrets
from ._common import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    Handler,
    Parser,
    UsageError,
)
from ._stderr import note
from .runs import add_run_commands
from .serve import add_worker_command

__all__ = ["build_parser", "main"]

_BUG_URL = "https://github.com/vrb-workflows/vrb-workflows/issues"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("vrb-workflows")
    except metadata.PackageNotFoundError:  # a checkout that is not installed
        return "0.1.0"


def build_parser() -> argparse.ArgumentParser:
    """The ``vrb`` argument parser, every command included."""
    parser = Parser(prog=PROG, description="Run and operate vrb-workflows durable workflows.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    add_worker_command(commands)
    add_run_commands(commands)
    return parser


def _fail(message: str, status: int, secrets: Sequence[str] = ()) -> int:
    # A stderr that is gone must not turn the status into a traceback (or a 0).
    note(f"{PROG}: {scrub(message, secrets)}")
    return status


def _refuse_undecodable(args: argparse.Namespace) -> None:
    """Refuse an argument holding bytes that are not UTF-8 (``$'\\x9b'`` in a shell).

    Python hands such bytes over as lone surrogates, which no store, JSON
    document or terminal takes: refused here, in one line, not deep in a store.
    """
    for name, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not _utf8(text):
                option = name.replace("_", "-")
                raise UsageError(
                    f"the {option} argument {shown(text)} is not UTF-8 text; "
                    "names, ids and JSON are read as UTF-8"
                )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _secrets(argv: Sequence[str] | None) -> tuple[str, ...]:
    """What may be secret in the arguments and ``VRB_DATABASE_URL``: no error line shows it.

    Messages name a store URL by :func:`~runtime.stores._redact.redact_url`;
    this is the net under them, for a URL quoted where no one expected one
    (``unrecognized arguments: postgresql://u:PW@...`` from argparse).
    """
    words = [*(sys.argv[1:] if argv is None else argv), os.environ.get("VRB_DATABASE_URL", "")]
    found: list[str] = []
    for word in words:
        if "://" in word or _USERINFO.match(word) or "password" in word.lower():
            found.extend(url_secrets(word))
    return tuple(found)


_USERINFO = re.compile(r"(?:--[\w-]+=)?[\w.%+-]*:[^@]*@")
"""``user:password@...`` without a scheme (``--db=`` before it or not); not any text with an '@'."""


def _one_line(text: str) -> str:
    # Made inert before the whitespace collapses, so a \r in a message is shown, not a space.
    return " ".join(inert(text, keep="\n\t").split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vrb`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status (see the module docstring); never raises for a user mistake.
    """
    try:
        args = build_parser().parse_args(argv)
        _refuse_undecodable(args)
        handler: Handler = args.handler
        return asyncio.run(handler(args))
    except CommandError as exc:
        return _fail(f"error: {_one_line(str(exc))}", exc.status, _secrets(argv))
    except VrbError as exc:
        return _fail(f"error: {_one_line(str(exc))}", EXIT_USAGE, _secrets(argv))
    except BrokenPipeError:
        # The reader went away (`| head`): not an error; silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("VRB_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {_one_line(str(exc))}; this is a bug in "
            f"vrb {_version()}, please report it with the command you ran at {_BUG_URL} "
            "(VRB_DEBUG=1 shows the traceback)",
            EXIT_INTERNAL,
            _secrets(argv),
        )
