"""The checker's pipeline: load -> summarise -> index -> analyse -> suppress -> filter.

:func:`check_paths` is what the CLI calls; it returns results and never prints.

Cost model (see :mod:`vrb_compile.source`): every file gets a cheap ``ast``
parse (syntax check + top-level summary); only files holding a workflow (or a
step that waits for a signal), and the helper modules their bodies reach, get
a LibCST parse. Per-file results are cached in ``config.cache_dir`` by the
file's hash, the shape of the whole project, the configuration and the
compiler version; a cached result also records the hashes of the other files
whose helpers it followed, so editing a helper invalidates its callers. Every
entry is authenticated under a key local to this machine, so a cache restored
from elsewhere cannot change a verdict (:mod:`vrb_compile.cache`).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .analysis.engine import FileAnalysis, analyse_file
from .analysis.project import option_diagnostics, project_diagnostics
from .cache import Cache, CacheStats
from .diagnostics import Diagnostic, Severity
from .discover import ModuleSummary, ProjectIndex, summarise
from .imports import load_context
from .source import SourceFile, load_sources
from .suppress import apply_suppressions

__all__ = ["CheckConfig", "CheckResult", "check_paths", "check_sources", "load_sources"]

#: Below this many files needing analysis, a process pool costs more than it saves
#: (forking, pickling the sources and the index, re-parsing followed helpers).
POOL_THRESHOLD = 24
#: Each worker process gets at least this many files.
FILES_PER_WORKER = 12


@dataclass(frozen=True)
class CheckConfig:
    """How to run the checker.

    Attributes:
        select: Code prefixes to report (``"VRB1"``, ``"VRB101"``); empty = every rule.
        ignore: Code prefixes never reported (wins over ``select``).
        exclude: fnmatch globs on posix display paths and on directory names.
        pure: Qualified-name globs treated as deterministic (``"mylib.pricing.*"``).
        cache_dir: Where per-file results are cached; ``None`` disables the cache.
        read_cache: When False, the cache is written but not read: every verdict
            is computed afresh (what ``build`` does, and ``check`` under CI).
        jobs: Worker processes; ``None`` = CPU count; 1 = in-process.
    """

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    pure: tuple[str, ...] = ()
    cache_dir: Path | None = None
    read_cache: bool = True
    jobs: int | None = None


@dataclass(frozen=True)
class CheckResult:
    """What a check found.

    Attributes:
        diagnostics: Sorted by :meth:`Diagnostic.sort_key`, whatever the file order.
        files: Files checked.
        workflows: Workflows found.
        cache: What the cache answered (``None`` without a cache); not compared.
    """

    diagnostics: tuple[Diagnostic, ...]
    files: int
    workflows: int
    cache: CacheStats | None = field(default=None, compare=False)

    @property
    def errors(self) -> int:
        """How many diagnostics are errors."""
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        """How many diagnostics are warnings."""
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)


def is_excluded(display_path: str, patterns: Sequence[str]) -> bool:
    """Whether ``display_path`` (or one of its directory names) matches an exclude glob."""
    if not patterns:
        return False
    path = PurePosixPath(display_path)
    for pattern in patterns:
        if fnmatch.fnmatch(display_path, pattern):
            return True
        if any(fnmatch.fnmatch(part, pattern) for part in path.parent.parts):
            return True
    return False


def excluded_dir(patterns: Sequence[str], cwd: Path | None = None) -> Callable[[Path], bool] | None:
    """A test for directories whose every file :func:`is_excluded` excludes, or ``None``.

    Such a directory is not even listed (one that cannot be read is no error
    then): its name matches a glob, or its path does and the glob ends in ``*``
    (``tests/*`` covers whatever lies below ``tests/``).
    """
    if not patterns:
        return None
    base = (cwd or Path.cwd()).resolve()

    def skip(directory: Path) -> bool:
        try:
            shown = directory.relative_to(base).as_posix()
        except ValueError:
            shown = directory.as_posix()
        return any(
            fnmatch.fnmatch(directory.name, pattern)
            or (pattern.endswith("*") and fnmatch.fnmatch(f"{shown}/", pattern))
            for pattern in patterns
        )

    return skip


def is_selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """Prefix matching; ``ignore`` wins over ``select``; empty ``select`` selects all."""
    if any(code.startswith(prefix) for prefix in ignore):
        return False
    return not select or any(code.startswith(prefix) for prefix in select)


def check_paths(
    paths: Sequence[str | os.PathLike[str]],
    config: CheckConfig | None = None,
    *,
    cwd: Path | None = None,
) -> CheckResult:
    """Check every Python file under ``paths``.

    Args:
        paths: Files or package directories.
        config: Selection, exclusion, purity globs, cache and parallelism.
        cwd: Directory display paths are relative to (default: the working directory).

    Returns:
        The sorted diagnostics and counts.

    Raises:
        PathNotFound: A path does not exist.
        PathUnreadable: A path, or a file or directory below one, cannot be read.
    """
    config = config or CheckConfig()
    sources = load_sources(paths, cwd=cwd, skip_dir=excluded_dir(config.exclude, cwd))
    sources = [s for s in sources if not is_excluded(s.display_path, config.exclude)]
    return check_sources(sources, config, cwd=(cwd or Path.cwd()).resolve())


def _jobs(config: CheckConfig, work: int) -> int:
    """How many worker processes for ``work`` files needing a LibCST analysis."""
    jobs = config.jobs if config.jobs is not None else (os.cpu_count() or 1)
    if jobs <= 1 or work < POOL_THRESHOLD:
        return 1
    return max(1, min(jobs, work // FILES_PER_WORKER))


def _infer_cwd(sources: Sequence[SourceFile]) -> Path:
    """The directory the display paths of ``sources`` are relative to."""
    for source in sources:
        display = PurePosixPath(source.display_path)
        if not display.is_absolute():
            return source.path.parents[len(display.parts) - 1]
    return Path.cwd()


def check_sources(
    sources: Sequence[SourceFile],
    config: CheckConfig | None = None,
    *,
    cwd: Path | None = None,
) -> CheckResult:
    """Check already loaded sources (see :func:`check_paths`).

    The modules the sources import from their own source root are loaded as
    context (:mod:`vrb_compile.imports`): their steps and helpers are known,
    but only ``sources`` are checked. A finding in a context file is reported
    only when a workflow of a checked file reaches it through a helper, at the
    helper's line with the call chain, exactly as a check of the whole package
    reports it: a nondeterministic helper is a defect of the workflow that
    calls it, and silencing it because the helper's file did not change would
    let the workflow through pre-commit. Checking a subset of a package thus
    reports a subset of what checking the package reports. A file excluded by
    configuration is never checked, but is still loaded as context when a
    checked file imports it (its steps exist whether or not it is linted).

    Args:
        sources: The files to check.
        config: Selection, exclusion, purity globs, cache and parallelism.
        cwd: Directory display paths of context files are relative to
            (default: inferred from ``sources``).
    """
    config = config or CheckConfig()
    sources = sorted(sources, key=lambda s: s.display_path)
    cache = (
        Cache(config.cache_dir, read=config.read_cache) if config.cache_dir is not None else None
    )
    summary_of: dict[str, ModuleSummary] = {}

    def summarised(source: SourceFile) -> ModuleSummary:
        summary = summary_of.get(source.display_path)
        if summary is None:
            summary = cache.get_summary(source) if cache else None
            if summary is None:
                summary = summarise(source)
                if cache:
                    cache.put_summary(source, summary)
            summary_of[source.display_path] = summary
        return summary

    summaries = [summarised(s) for s in sources]
    context = load_context(sources, lambda s: summarised(s).symbols, cwd=cwd or _infer_cwd(sources))
    project = ProjectIndex([*summaries, *(summarised(s) for s in context)])
    fingerprint = project.fingerprint()
    by_path = {s.display_path: s for s in (*sources, *context)}

    analyses: dict[str, FileAnalysis] = {}
    todo: list[SourceFile] = []
    for source, summary in zip(sources, summaries, strict=True):
        if not summary.needs_analysis and summary.syntax_error is None:
            continue
        cached = cache.get_result(source, fingerprint, config.pure, by_path) if cache else None
        if cached is not None:
            analyses[source.display_path] = cached
        else:
            todo.append(source)

    analyses.update(_analyse(todo, project, by_path, config))
    if cache:
        for source in todo:
            cache.put_result(source, fingerprint, config.pure, analyses[source.display_path])

    diagnostics: list[Diagnostic] = []
    seen: set[tuple[str, int, int, str]] = set()
    for path in sorted(analyses):
        for diag in analyses[path].diagnostics:
            # a helper reached from two files is reported once
            key = (diag.path, diag.line, diag.column, diag.code)
            if key not in seen:
                seen.add(key)
                diagnostics.append(diag)
    given = {s.display_path for s in sources}
    diagnostics.extend(d for d in project_diagnostics(project) if d.path in given)
    # An option is evaluated wherever its step is defined, checked file or imported
    # module alike: a workflow using a step whose options the graph cannot record
    # would run with other values than the registered step's.
    diagnostics.extend(option_diagnostics(project))
    per_file: dict[str, list[Diagnostic]] = {}
    for diag in diagnostics:
        per_file.setdefault(diag.path, []).append(diag)
    final: list[Diagnostic] = []
    for source in sources:
        final.extend(apply_suppressions(source, per_file.get(source.display_path, [])))
    for source in context:
        found = per_file.get(source.display_path)
        if found:
            final.extend(apply_suppressions(source, found, comment_warnings=False))
    final = [d for d in final if is_selected(d.code, config.select, config.ignore)]
    final.sort(key=Diagnostic.sort_key)
    return CheckResult(
        diagnostics=tuple(final),
        files=len(sources),
        workflows=sum(len(s.workflows) for s in summaries),
        cache=cache.stats if cache else None,
    )


def _analyse(
    todo: Sequence[SourceFile],
    project: ProjectIndex,
    by_path: Mapping[str, SourceFile],
    config: CheckConfig,
) -> dict[str, FileAnalysis]:
    # a file with a syntax error costs nothing to report: it does not count as work
    jobs = _jobs(config, sum(1 for s in todo if s.syntax_error is None))
    if jobs > 1:
        files = list(by_path.values())
        chunks = [[s.display_path for s in todo[i::jobs]] for i in range(jobs)]
        try:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [
                    pool.submit(_analyse_chunk, chunk, files, project, config.pure)
                    for chunk in chunks
                ]
                analyses: dict[str, FileAnalysis] = {}
                for future in futures:
                    analyses.update(future.result())
                return analyses
        except (OSError, BrokenProcessPool):
            pass  # no processes on this platform or sandbox: analyse in this one
    return {s.display_path: analyse_file(s, project, by_path, config.pure) for s in todo}


def _analyse_chunk(
    paths: Sequence[str],
    sources: Sequence[SourceFile],
    project: ProjectIndex,
    pure: tuple[str, ...],
) -> dict[str, FileAnalysis]:
    by_path = {s.display_path: s for s in sources}
    return {p: analyse_file(by_path[p], project, by_path, pure) for p in paths}
