"""Reading a build directory as untrusted input: names, paths, file kinds, sizes, signatures.

Whoever can write the directory (a deploy step, a shared volume, a CI cache)
chooses what a worker reads. So a file is read only when it is a regular file
inside the directory (a symbolic link may point within it, as Kubernetes
ConfigMap mounts do), no larger than :data:`MAX_FILE_BYTES`, opened without
blocking (a FIFO named ``*.graph.json`` must not hang start-up), and, when the
worker has a signing key, only after its signature verified: the JSON parser
never sees a byte the key does not vouch for.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

from vrb_compile.errors import GraphLoadError
from vrb_compile.files import NotRegularFile, read_regular
from vrb_compile.ir.loader import parse_graph
from vrb_compile.ir.models import Graph
from vrb_compile.ir.signing import ENV_VAR, GraphKey, signature_path

from .errors import ConfigurationError

__all__ = ["MAX_FILE_BYTES", "BuildDirectory"]

MAX_FILE_BYTES = 64 * 1024 * 1024
"""A graph or manifest larger than this is refused (the largest example is 40 kB)."""

_MANIFEST = "manifest.json"
_VERSIONS = "versions"
_SUFFIX = ".graph.json"
_REBUILD = "rebuild the graphs with vrb-compile build"


class BuildDirectory:
    """The files of one ``vrb-compile build`` output directory.

    Args:
        directory: The directory.
        key: When given, every file read must carry a signature it verifies.
    """

    def __init__(self, directory: Path, key: GraphKey | None) -> None:
        self.directory = directory
        self.key = key
        try:
            self._root = directory.resolve(strict=True)
        except OSError as error:
            raise ConfigurationError(
                f"graph directory {directory}: {error.strerror or error}; {_REBUILD} "
                "and pass its --out DIR as graphs="
            ) from None
        if not self._root.is_dir():
            raise ConfigurationError(f"graph directory {directory} is not a directory")

    @property
    def manifest_path(self) -> Path:
        """The manifest's path (for messages)."""
        return self.directory / _MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``workflows`` object, its signature checked first.

        Raises:
            ConfigurationError: The manifest is missing, unsigned or forged, or not
                a vrb-compile manifest.
        """
        path = self.manifest_path
        data = self.read(path)
        try:
            workflows = json.loads(data)["workflows"]
            if not isinstance(workflows, dict):
                raise TypeError("workflows is not an object")
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise ConfigurationError(
                f"{path}: not a vrb-compile build manifest ({error}); "
                "run `vrb-compile build PATH --out DIR` and pass that DIR as graphs="
            ) from None
        return workflows

    def latest_path(self, name: str, entry: dict[str, Any]) -> Path:
        """The newest graph file of ``name`` the manifest names, refused outside the directory.

        The build always writes ``<name>.graph.json``: any other name (a path with
        separators, ``..``, an absolute path) was not written by it.
        """
        file = entry.get("file")
        if file != f"{name}{_SUFFIX}" or "/" in name or "\\" in name or name in ("", ".", ".."):
            raise ConfigurationError(
                f"{self.manifest_path}: names {file!r} as the graph of workflow {name!r}; a "
                f"build names it {name + _SUFFIX!r}, inside the directory; {_REBUILD}"
            )
        return self.directory / f"{name}{_SUFFIX}"

    def versions(self, name: str) -> list[Path]:
        """Every version file of ``name`` under ``versions/<name>/``."""
        folder = self.directory / _VERSIONS / name
        if not folder.exists():
            return []
        self._inside(folder)
        return sorted(folder.glob(f"*{_SUFFIX}"))

    def graph(self, path: Path) -> Graph:
        """The graph in ``path``, read as :meth:`read` does and verified by the loader.

        Raises:
            ConfigurationError: The file is refused, or not a valid graph.
        """
        data = self.read(path)
        try:
            return parse_graph(data, origin=str(path))
        except GraphLoadError as error:
            raise ConfigurationError(str(error)) from None
        except RecursionError:
            raise ConfigurationError(f"{path}: not a step graph (nested too deeply)") from None

    def read(self, path: Path) -> bytes:
        """The bytes of a regular file inside the directory, signature verified if keyed.

        Raises:
            ConfigurationError: The file is missing, outside the directory, not a
                regular file, too large, or (with a key) unsigned or forged.
        """
        data = _read_regular(path, self._inside(path))
        assert data is not None  # missing_ok is False
        if self.key is not None:
            relpath = path.relative_to(self.directory).as_posix()
            sig = signature_path(path)
            signature = _read_regular(sig, self._inside(sig), missing_ok=True)
            problem = self.key.verify(relpath, data, signature)
            if problem is not None:
                raise ConfigurationError(
                    f"{path}: refused: {problem}; this worker runs only graphs signed with its "
                    f"key ({ENV_VAR} or --graph-key-file): build them with vrb-compile build "
                    "--sign-key-file FILE, or sign a build you trust with vrb-compile sign DIR"
                )
        return data

    def _inside(self, path: Path) -> Path:
        """``path`` resolved, refused when that leaves the directory."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
            raise ConfigurationError(f"{path}: cannot be resolved ({error})") from None
        if not resolved.is_relative_to(self._root):
            raise ConfigurationError(
                f"{path}: refused: it resolves to {resolved}, outside the graph directory "
                f"{self.directory}; {_REBUILD}"
            )
        return resolved


def _read_regular(shown: Path, path: Path, *, missing_ok: bool = False) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of bounded size (``shown`` in messages)."""
    try:
        data, info = read_regular(path, MAX_FILE_BYTES)
    except NotRegularFile:
        raise ConfigurationError(
            f"{shown}: refused: not a regular file (a FIFO, device or directory); {_REBUILD}"
        ) from None
    except OSError as error:
        if missing_ok and error.errno == errno.ENOENT:
            return None
        raise ConfigurationError(
            f"{shown}: cannot be read ({error.strerror or error}); {_REBUILD}"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigurationError(
            f"{shown}: refused: {max(info.st_size, len(data))} bytes, over the "
            f"{MAX_FILE_BYTES} a graph file may have; {_REBUILD}"
        )
    return data
