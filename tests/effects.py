"""Effect logs shared by worker processes: one line per event, appended atomically."""

from __future__ import annotations

import os


def append_line(path: str, line: str) -> None:
    """Append ``line`` to ``path`` in one ``O_APPEND`` write (atomic across processes)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
