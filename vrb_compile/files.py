"""Reading a file someone else may have planted: a regular file only, never more than a bound.

One reader for every file the compiler and the worker take from the disk
(sources, cache entries and keys, graph files, signing keys): a FIFO or device
at the path is refused without blocking (opened ``O_NONBLOCK``, then checked
by ``fstat``), and no more than ``limit + 1`` bytes are ever read, so a caller
can tell "too long" from "exactly at the limit" without reading ``/dev/zero``
for ever.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["NotRegularFile", "read_regular"]

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a directory, not a regular file."""


def read_regular(path: str | os.PathLike[str], limit: int) -> tuple[bytes, os.stat_result]:
    """The first ``limit + 1`` bytes of a regular file, and its status.

    Raises:
        NotRegularFile: The path is not a regular file (nothing was read).
        OSError: It cannot be opened or read.
    """
    fd = os.open(path, _FLAGS)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", os.fspath(path))
        return handle.read(limit + 1), info
