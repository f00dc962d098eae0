"""On-disk cache of per-file summaries and analysis results (JSON files).

Summaries are keyed by the file's hash, module name and display path;
results additionally by the project's shape (:meth:`ProjectIndex.fingerprint`),
the configuration that affects analysis (``pure``) and the compiler version,
and are valid only while every file they followed keeps its hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .diagnostics import Diagnostic
from .discover import ModuleSummary
from .source import SourceFile

if TYPE_CHECKING:
    from .analysis.engine import FileAnalysis

__all__ = ["COMPILER_VERSION", "Cache"]

#: Bumped whenever the analysis changes what it reports.
COMPILER_VERSION = "0.1.0+check.8"


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class Cache:
    """A directory of JSON files; unreadable entries are treated as misses."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _read(self, kind: str, key: str) -> Any:
        try:
            return json.loads((self.directory / kind / f"{key}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def _write(self, kind: str, key: str, data: Any) -> None:
        folder = self.directory / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                # Like ruff's and pytest's caches: never committed, whatever the project ignores.
                ignore.write_text("# Created by vrb-compile automatically.\n*\n", "utf-8")
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
            os.replace(tmp, folder / f"{key}.json")
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
        try:
            return ModuleSummary.from_json(data) if data is not None else None
        except (KeyError, TypeError, ValueError):
            return None

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
                    return None
            return FileAnalysis(
                [Diagnostic.from_dict(d) for d in data["diagnostics"]], dict(data["deps"])
            )
        except (KeyError, TypeError, ValueError):
            return None

    def put_result(
        self, source: SourceFile, fingerprint: str, pure: tuple[str, ...], analysis: FileAnalysis
    ) -> None:
        """Store the analysis of ``source``."""
        data = {"deps": analysis.deps, "diagnostics": [d.to_dict() for d in analysis.diagnostics]}
        self._write("result", self._result_key(source, fingerprint, pure), data)
