"""On-disk cache of per-file summaries and analysis results, authenticated by a local key.

Summaries are keyed by the file's hash, module name and display path;
results additionally by the project's shape (:meth:`ProjectIndex.fingerprint`),
the configuration that affects analysis (``pure``) and the compiler version,
and are valid only while every file they followed keeps its hash.

Why entries are authenticated: the cache directory (``.vrb_cache``) lives in
the project, and a project directory can arrive from elsewhere: a CI cache
restored from another branch's run, a folder committed by mistake, an archive.
Every entry decides a verdict (a result whose diagnostics are emptied passes a
``time.time()`` body; a summary without its workflows skips the file), so each
one carries an HMAC-SHA256 under a key that never leaves this machine
(:func:`default_key_file`: outside the project, created on first use, mode
0600). The MAC covers the entry's kind, its file name (which encodes what the
entry is about) and its bytes. An entry whose MAC is missing or wrong, written
elsewhere, edited, truncated, is a miss: recomputed, rewritten, and counted in
:attr:`CacheStats.rejected`. Without a usable key the cache is not used at
all, neither read nor written: the cache only ever buys speed, so losing it
never weakens a check and never fails one.

A key proves only that this machine wrote the entry. Where the key's location
travels with the cache (CI runners restore ``~/.cache`` as readily as the
project), it proves nothing: hence :func:`reads_allowed` (the command line
reads no cache under ``CI`` unless asked to), and ``build`` never reads a
verdict from the cache at all (:func:`vrb_compile.build.compile_paths`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .diagnostics import Diagnostic
from .discover import ModuleSummary
from .files import read_regular
from .source import SourceFile

if TYPE_CHECKING:
    from .analysis.engine import FileAnalysis

__all__ = [
    "CI_OPT_IN_ENV",
    "COMPILER_VERSION",
    "KEY_FILE_ENV",
    "Cache",
    "CacheStats",
    "default_key_file",
    "load_key",
    "reads_allowed",
]

#: Bumped whenever the analysis changes what it reports, or the entries' format.
COMPILER_VERSION = "0.1.0+check.9"

#: Names the key file, instead of :func:`default_key_file`'s choice.
KEY_FILE_ENV = "VRB_COMPILE_CACHE_KEY_FILE"
#: Set to ``1`` to read the cache under CI, as ``check --cache`` does.
CI_OPT_IN_ENV = "VRB_COMPILE_CACHE"

_KEY_BYTES = 32
_MAX_ENTRY_BYTES = 64 * 1024 * 1024
"""A longer entry is read no further: its MAC then fails, and it is a miss."""
_KEY_TEXT = re.compile(rb"[0-9a-f]{64}\n?")
# An entry: this header, the hex MAC, a newline, then the JSON payload.
_MAGIC = b"vrb-compile-cache 1 "
_HEADER = re.compile(rb"vrb-compile-cache 1 ([0-9a-f]{64})")
_FALSE = ("", "0", "false", "no")


def default_key_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where this machine's cache key lives; ``None`` when no location can be named.

    ``$VRB_COMPILE_CACHE_KEY_FILE`` if set, else ``vrb-compile/cache.key`` under
    ``$XDG_CACHE_HOME`` (when absolute), ``%LOCALAPPDATA%`` on Windows, or ``~/.cache``.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit)
    base = env.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return Path(base) / "vrb-compile" / "cache.key"
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "vrb-compile" / "cache.key"
    try:
        return Path.home() / ".cache" / "vrb-compile" / "cache.key"
    except RuntimeError:  # no home directory to expand
        return None


def reads_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the command line may read the cache without being asked to.

    Not under CI (``CI`` set to anything but empty, ``0``, ``false``, ``no``):
    a CI cache is restored from other branches' runs, and a machine key restored
    with it proves nothing. ``VRB_COMPILE_CACHE=1`` (or ``check --cache``) asks.
    """
    env = os.environ if environ is None else environ
    if env.get(CI_OPT_IN_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    return env.get("CI", "").strip().lower() in _FALSE


def _read_key(path: Path) -> bytes | None:
    """The key stored in ``path``; None when it is not one this user alone controls."""
    text, info = read_regular(path, _MAX_ENTRY_BYTES)
    # Whoever else can read the key can forge entries; whoever else can write it, choose it.
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        return None
    return bytes.fromhex(text.decode("ascii")) if _KEY_TEXT.fullmatch(text) else None


def _create_key(path: Path) -> None:
    """Create the key file atomically; FileExistsError when another process was first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cache.key.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # Exclusive like O_EXCL, and a reader never sees a half-written key.
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            with os.fdopen(os.open(path, flags, 0o600), "wb") as handle:
                try:
                    handle.write(text)
                except BaseException:
                    path.unlink(missing_ok=True)  # a short key would turn the cache off for good
                    raise
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_key(path: Path) -> bytes | None:
    """This machine's cache key, read from ``path`` or created there on first use.

    Two processes creating it at once agree: one creation wins and both read
    it. Returns ``None`` when the key cannot be read or created, or when the
    file is not a regular file owned by this user and private to it (mode 0600):
    the cache is then not used.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        _create_key(path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError:
        return None
    try:
        return _read_key(path)
    except OSError:
        return None


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """What the cache answered during one check.

    Attributes:
        hits: Entries used.
        misses: Entries absent or stale (a followed file changed).
        rejected: Entries present but not authenticated under this machine's key
            (written elsewhere, edited, truncated) or malformed; each was recomputed.
    """

    hits: int = 0
    misses: int = 0
    rejected: int = 0


class Cache:
    """A directory of authenticated entries; anything unauthenticated is a miss.

    Args:
        directory: The cache directory (``.vrb_cache``).
        read: When False, entries are written but never read: every verdict
            is computed afresh.
        key_file: The key's location (default: :func:`default_key_file`). A
            key inside ``directory`` would travel with the entries it vouches
            for, so it disables the cache.
    """

    def __init__(self, directory: Path, *, read: bool = True, key_file: Path | None = None) -> None:
        self.directory = Path(directory)
        self.read = read
        self._key_file = key_file
        self._secret: bytes | None = None
        self._loaded = False
        self._hits = self._misses = self._rejected = 0

    @property
    def stats(self) -> CacheStats:
        """The counts so far."""
        return CacheStats(self._hits, self._misses, self._rejected)

    def _key_bytes(self) -> bytes | None:
        if not self._loaded:
            self._loaded = True
            path = self._key_file or default_key_file()
            if path is not None and not _inside(path, self.directory):
                self._secret = load_key(path)
        return self._secret

    def _mac(self, secret: bytes, kind: str, key: str, payload: bytes) -> bytes:
        message = b"\0".join((_MAGIC, kind.encode("ascii"), key.encode("ascii"), payload))
        return hmac.new(secret, message, hashlib.sha256).digest()

    def _read(self, kind: str, key: str) -> Any:
        if not self.read:
            return None
        secret = self._key_bytes()
        if secret is None:
            return None
        try:
            blob, _ = read_regular(self.directory / kind / f"{key}.json", _MAX_ENTRY_BYTES)
        except FileNotFoundError:
            self._misses += 1
            return None
        except OSError:
            self._rejected += 1
            return None
        header, newline, payload = blob.partition(b"\n")
        found = _HEADER.fullmatch(header)
        if not newline or found is None:
            self._rejected += 1
            return None
        expected = self._mac(secret, kind, key, payload)
        if not hmac.compare_digest(bytes.fromhex(found[1].decode("ascii")), expected):
            self._rejected += 1
            return None
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            self._rejected += 1
            return None

    def _write(self, kind: str, key: str, data: Any) -> None:
        secret = self._key_bytes()
        if secret is None:
            return
        payload = json.dumps(data, separators=(",", ":")).encode("ascii")
        blob = (
            _MAGIC + self._mac(secret, kind, key, payload).hex().encode("ascii") + b"\n" + payload
        )
        folder = self.directory / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                # Like ruff's and pytest's caches: never committed, whatever the project ignores.
                ignore.write_text("# Created by vrb-compile automatically.\n*\n", "utf-8")
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(blob)
                os.replace(tmp, folder / f"{key}.json")
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # a read-only cache directory only costs speed

    @staticmethod
    def _summary_key(source: SourceFile) -> str:
        return _key(
            COMPILER_VERSION,
            source.sha256,
            source.module,
            source.display_path,
            str(source.is_package),
        )

    def get_summary(self, source: SourceFile) -> ModuleSummary | None:
        """The cached summary of ``source``, if any."""
        data = self._read("summary", self._summary_key(source))
        if data is None:
            return None
        try:
            summary = ModuleSummary.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            self._rejected += 1
            return None
        self._hits += 1
        return summary

    def put_summary(self, source: SourceFile, summary: ModuleSummary) -> None:
        """Store the summary of ``source``."""
        self._write("summary", self._summary_key(source), summary.to_json())

    @staticmethod
    def _result_key(source: SourceFile, fingerprint: str, pure: tuple[str, ...]) -> str:
        return _key(COMPILER_VERSION, source.sha256, source.display_path, fingerprint, *pure)

    def get_result(
        self,
        source: SourceFile,
        fingerprint: str,
        pure: tuple[str, ...],
        by_path: Mapping[str, SourceFile],
    ) -> FileAnalysis | None:
        """The cached analysis of ``source``, if every file it followed is unchanged."""
        from .analysis.engine import FileAnalysis

        data = self._read("result", self._result_key(source, fingerprint, pure))
        if data is None:
            return None
        try:
            for path, sha in data["deps"].items():
                dep = by_path.get(path)
                if dep is None or dep.sha256 != sha:
                    self._misses += 1
                    return None
            analysis = FileAnalysis(
                [Diagnostic.from_dict(d) for d in data["diagnostics"]], dict(data["deps"])
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            self._rejected += 1
            return None
        self._hits += 1
        return analysis

    def put_result(
        self, source: SourceFile, fingerprint: str, pure: tuple[str, ...], analysis: FileAnalysis
    ) -> None:
        """Store the analysis of ``source``."""
        data = {"deps": analysis.deps, "diagnostics": [d.to_dict() for d in analysis.diagnostics]}
        self._write("result", self._result_key(source, fingerprint, pure), data)


def _inside(path: Path, directory: Path) -> bool:
    try:
        return path.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError):
        return True  # cannot tell: assume the worst
