"""Notes and log records on stderr that never decide what the program does.

A supervisor whose log pipe died leaves the worker with a stderr that raises
``BrokenPipeError`` on every write. Nothing the worker must do (stop on
SIGTERM, exit with the right status) may depend on such a write succeeding:
:func:`note` and :class:`StderrHandler` swallow the failure and point stderr at
the null device, so later writes, and the interpreter's flush at exit (whose
failure would change the exit status), go nowhere instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import TextIO

__all__ = ["StderrHandler", "note", "silence"]


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
    """Write ``text`` and a newline to stderr; a stderr that is gone is silenced, not raised."""
    try:
        sys.stderr.write(text + "\n")
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
