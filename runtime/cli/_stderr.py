"""Notes and log records on stderr that never decide what the program does.

A supervisor whose log pipe died leaves the worker with a stderr that raises
``BrokenPipeError`` on every write. Nothing the worker must do (stop on
SIGTERM, exit with the right status) may depend on such a write succeeding:
:func:`note` and :class:`StderrHandler` swallow the failure and point stderr at
the null device, so later writes, and the interpreter's flush at exit (whose
failure would change the exit status), go nowhere instead of failing.

What they write is made inert first (:func:`vrb_compile.terminal.inert`): a
run id, a workflow name or an error message read from the store cannot send
escape sequences to the terminal, overwrite a line or reorder it; and a log
record has the store URL's secrets scrubbed (:class:`InertFormatter`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable
from typing import TextIO

from vrb_compile.terminal import inert

from ..stores._redact import scrub

__all__ = ["InertFormatter", "StderrHandler", "note", "silence"]


def silence() -> None:
    """Point the process's stderr at the null device (after a write to it failed)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        # ValueError: sys.stderr was closed; AttributeError: it was replaced by None.
        fd = sys.stderr.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def note(text: str) -> None:
    """Write ``text`` (made inert: one line) and a newline to stderr; a stderr that is gone is silenced, not raised."""
    try:
        sys.stderr.write(inert(text) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        silence()


class StderrHandler(logging.StreamHandler[TextIO]):
    """A log handler on ``sys.stderr`` that silences a stderr it cannot write to.

    ``logging`` already keeps a failed write from propagating, but it reports
    it on the same broken stderr, once per record; this handler drops the
    record and silences stderr instead. Other errors (a record whose arguments
    do not fit its message) are reported as ``logging`` does.
    """

    def __init__(self) -> None:
        """A handler on the process's ``sys.stderr``."""
        super().__init__(sys.stderr)

    def handleError(self, record: logging.LogRecord) -> None:
        """Silence stderr when the write failed; report any other error as ``logging`` does."""
        error = sys.exc_info()[1]
        # A closed stream raises ValueError; a bad format string does too, and is reported.
        if isinstance(error, OSError) or getattr(self.stream, "closed", False):
            silence()
            return
        super().handleError(record)


class InertFormatter(logging.Formatter):
    """A formatter whose lines a terminal only shows: nothing in them acts on it.

    The message is made inert whole (a line break in it is shown as ``\\n``,
    so a record is one line whatever a run's error says); a traceback keeps its
    line breaks. Both have ``secrets`` scrubbed (the store URL's password, which
    a driver's message may quote).

    Args:
        fmt: The ``logging`` format string.
        secrets: What :func:`runtime.stores._redact.url_secrets` found in the store URL.
    """

    def __init__(self, fmt: str, *, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self._secrets = tuple(secrets)

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line, inert."""
        return inert(scrub(super().formatMessage(record), self._secrets))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        """The traceback, inert but for its line breaks."""
        return inert(scrub(super().formatException(ei), self._secrets), keep="\n")

    def formatStack(self, stack_info: str) -> str:
        """The stack, inert but for its line breaks."""
        return inert(scrub(super().formatStack(stack_info), self._secrets), keep="\n")
