"""Errors raised by the compiler's API.

Findings in user code are not exceptions: they are :class:`~vrb_compile.Diagnostic`
values. Exceptions are for what stops the compiler from doing its job::

    VrbCompileError
    +-- UsageError (ValueError)          bad CLI arguments or API parameters
    |   +-- PathNotFound (FileNotFoundError-like)  a given path does not exist
    |   +-- PathUnreadable               a path, or a file or directory below one, cannot be read
    +-- ConfigError (ValueError)         bad [tool.vrb-compile] configuration
    +-- GraphLoadError (ValueError)      a graph file that cannot be trusted
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "GraphLoadError",
    "PathNotFound",
    "PathUnreadable",
    "UsageError",
    "VrbCompileError",
]


class VrbCompileError(Exception):
    """Root of every error the compiler raises on purpose; its message is one line."""


class UsageError(VrbCompileError, ValueError):
    """The compiler was called with arguments it cannot use (exit status 2)."""


class PathNotFound(UsageError):
    """A path given to the compiler does not exist.

    Attributes:
        path: The path as the user gave it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: no such file or directory")


class PathUnreadable(UsageError):
    """A path given to the compiler, or a file or directory found below one, cannot
    be read: no permission, a symlink loop or a symlink to nothing, not a regular file.

    A directory the compiler cannot list is an error rather than skipped: a check
    that passed without looking at it would say nothing true.

    Attributes:
        path: The path, as given or as found.
        reason: Why it cannot be read (``Permission denied``).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: cannot be read: {reason}")


class ConfigError(VrbCompileError, ValueError):
    """The ``[tool.vrb-compile]`` table (or a CLI option) is not valid.

    Attributes:
        source: Where the configuration came from (a file path or ``"command line"``).
    """

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class GraphLoadError(VrbCompileError, ValueError):
    """A step-graph file is not JSON, has another schema version, fails validation,
    or its hash does not match its content.

    Attributes:
        path: The graph file.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")
