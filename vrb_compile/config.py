"""``[tool.vrb-compile]`` configuration: finding it, validating it, merging the CLI.

The configuration is looked up like ruff's: from the working directory upward,
the nearest ``pyproject.toml`` that has a ``[tool.vrb-compile]`` table wins, and
its directory becomes the *config root* (exclude globs are relative to it and
the cache lives in ``<root>/.vrb_cache``). Without one, the working directory is
the root and every default applies.

Recognised keys, each a list of strings::

    [tool.vrb-compile]
    select = ["VRB1", "VRB2"]     # code prefixes; empty or absent = every rule
    ignore = ["VRB109"]           # code prefixes
    exclude = ["tests/*"]         # fnmatch globs on posix paths relative to the root
    pure = ["mylib.pricing.*"]    # qualified-name globs the checker treats as deterministic

Anything else (an unknown key, a wrong type, a code prefix no rule has) is a
:class:`~vrb_compile.errors.ConfigError` naming the file and the key: a typo
in a linter's configuration must not silently turn a rule off.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "CACHE_DIR_NAME",
    "CONFIG_KEYS",
    "FileConfig",
    "find_config",
    "load_config_file",
    "parse_code_list",
    "validate_codes",
]

CACHE_DIR_NAME = ".vrb_cache"
"""Name of the cache directory created under the config root."""

CONFIG_KEYS = ("exclude", "ignore", "pure", "select")
"""Every key ``[tool.vrb-compile]`` accepts."""

_TABLE = "[tool.vrb-compile]"


@dataclass(frozen=True)
class FileConfig:
    """What a configuration file said, validated, before the CLI flags are merged in.

    Attributes:
        root: The config root: the directory of the file, or the working directory
            when no file was used.
        path: The file the values came from, or ``None`` when none was found or used.
        select: Code prefixes to enable (empty: every rule).
        ignore: Code prefixes to disable.
        exclude: fnmatch globs on posix paths relative to ``root``.
        pure: Qualified-name globs treated as deterministic.
    """

    root: Path
    path: Path | None = None
    select: tuple[str, ...] = field(default=())
    ignore: tuple[str, ...] = field(default=())
    exclude: tuple[str, ...] = field(default=())
    pure: tuple[str, ...] = field(default=())


#: A configuration file longer than this is refused unread (a pyproject.toml is a few KB).
MAX_CONFIG_BYTES = 1024 * 1024


def _read_toml(path: Path) -> dict[str, Any]:
    """The TOML document in ``path``; whatever is wrong with it is one ConfigError line."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            str(path), f"is longer than {MAX_CONFIG_BYTES:,} bytes, too long for a configuration"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            str(path), f"is not valid TOML: line {line} is not UTF-8 ({exc.reason})"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            str(path), "cannot be read: its arrays or tables are nested too deeply"
        ) from None


def _tool_table(data: Mapping[str, Any], path: Path) -> Mapping[str, Any] | None:
    tool = data.get("tool")
    if not isinstance(tool, dict):
        return None
    table = tool.get("vrb-compile")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(str(path), f"{_TABLE} must be a table, got {type(table).__name__}")
    return table


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.vrb-compile]`` table.

    Args:
        start: Where the search begins (default: the working directory); it goes
            up through every parent directory.

    Returns:
        The file, or ``None`` when no directory up to the filesystem root has one.

    Raises:
        ConfigError: A ``pyproject.toml`` on the way is not valid TOML.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _tool_table(_read_toml(candidate), candidate) is not None:
            return candidate
    return None


def _string_list(value: object, path: Path, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        shown = type(value).__name__ if not isinstance(value, list) else "a list with non-strings"
        raise ConfigError(
            str(path), f"{_TABLE} {key} must be a list of strings (e.g. {key} = [...]), got {shown}"
        )
    return tuple(item.strip() for item in value)


def validate_codes(codes: Iterable[str], known: Iterable[str], source: str, key: str) -> None:
    """Check that every code prefix selects at least one known rule.

    Args:
        codes: Prefixes as the user wrote them (already upper-cased).
        known: Every public rule code.
        source: Where the prefixes came from, for the message.
        key: The option or key name, for the message.

    Raises:
        ConfigError: A prefix matches no rule.
    """
    known_codes = tuple(known)
    for code in codes:
        if not code or not any(rule.startswith(code) for rule in known_codes):
            raise ConfigError(
                source,
                f"{key}: unknown rule code or prefix {code!r}; "
                "run 'vrb-compile rules' for the list of codes",
            )


def load_config_file(path: Path, known_codes: Iterable[str]) -> FileConfig:
    """Read and validate one configuration file.

    A file named ``pyproject.toml`` is read from its ``[tool.vrb-compile]`` table
    (absent table: defaults); any other TOML file holds the keys at top level.

    Args:
        path: The file.
        known_codes: Every public rule code, to validate ``select``/``ignore``.

    Returns:
        The validated configuration, rooted at the file's directory.

    Raises:
        ConfigError: The file is missing, is not TOML, or a key or value is not valid.
    """
    if not path.is_file():
        raise ConfigError(str(path), "no such configuration file")
    data = _read_toml(path)
    # A pyproject.toml holds the keys in its tool table; a dedicated file at top level.
    table = (_tool_table(data, path) or {}) if path.name == "pyproject.toml" else data
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(
            str(path),
            f"unknown key {unknown[0]!r} in {_TABLE}; expected one of: {', '.join(CONFIG_KEYS)}",
        )
    known = tuple(known_codes)
    values: dict[str, tuple[str, ...]] = {}
    for key in CONFIG_KEYS:
        if key in table:
            values[key] = _string_list(table[key], path, key)
    for key in ("select", "ignore"):
        if key in values:
            values[key] = tuple(code.upper() for code in values[key])
            validate_codes(values[key], known, str(path), f"{_TABLE} {key}")
    for key in ("exclude", "pure"):
        for item in values.get(key, ()):
            if not item:
                raise ConfigError(str(path), f"{_TABLE} {key} has an empty pattern")
    return FileConfig(
        root=path.resolve().parent,
        path=path,
        select=values.get("select", ()),
        ignore=values.get("ignore", ()),
        exclude=values.get("exclude", ()),
        pure=values.get("pure", ()),
    )


def parse_code_list(text: str, known_codes: Iterable[str], option: str) -> tuple[str, ...]:
    """Parse a ``--select``/``--ignore`` value (``"VRB1,VRB203"``).

    Raises:
        ConfigError: A prefix matches no rule (source ``command line``).
    """
    codes = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    validate_codes(codes, known_codes, "command line", option)
    return codes
