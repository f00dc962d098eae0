"""``vrb-compile build`` and ``graph``: check, lower, validate, write the artefacts.

The build directory (SPEC section 5)::

    DIR/manifest.json                               workflows, their hashes, compiler version
    DIR/<workflow>.graph.json                       the newest graph of each workflow
    DIR/versions/<workflow>/<hash>.graph.json       every version ever built: written once, never
                                                    rewritten or deleted

Workers load ``versions/`` so a run continues on the graph it started with;
new runs take the graph the manifest names. Every file is written atomically
(temporary file + rename) and the same sources always give the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from .api import CheckConfig, CheckResult, check_sources, excluded_dir, is_excluded, is_selected
from .diagnostics import Diagnostic
from .discover import discover, summarise
from .errors import GraphLoadError, UsageError
from .imports import load_context
from .ir.loader import parse_graph
from .ir.models import SCHEMA_VERSION, Graph
from .ir.signing import GraphKey, signature_path
from .lower import Span, lower_workflow
from .rules.registry import RULES
from .source import SourceFile, load_sources
from .suppress import apply_suppressions

__all__ = [
    "BuildResult",
    "BuiltGraph",
    "CompileResult",
    "build_paths",
    "compile_paths",
    "compiler_version",
    "select_graph",
    "sign_build",
    "unsigned_files",
    "write_build",
]

MANIFEST = "manifest.json"
VERSIONS = "versions"


def compiler_version() -> str:
    """The installed vrb-workflows version (recorded in the manifest)."""
    try:
        return metadata.version("vrb-workflows")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class CompileResult:
    """The check of some paths and, when it found no error, their graphs.

    Attributes:
        check: The checker's result (diagnostics, counts).
        graphs: One graph per workflow, sorted by workflow name; empty when the
            check found errors.
    """

    check: CheckResult
    graphs: tuple[Graph, ...]


@dataclass(frozen=True)
class BuiltGraph:
    """One workflow's graph as written.

    Attributes:
        name: The workflow name.
        hash: The graph's content hash.
        path: ``DIR/<workflow>.graph.json``.
        version_path: ``DIR/versions/<workflow>/<hash>.graph.json``.
        new_version: False when that version had been built before.
    """

    name: str
    hash: str
    path: Path
    version_path: Path
    new_version: bool


@dataclass(frozen=True)
class BuildResult:
    """What ``build`` did.

    Attributes:
        check: The checker's result; when it has errors nothing was written.
        built: The graphs written, sorted by workflow name.
        out_dir: The build directory.
    """

    check: CheckResult
    built: tuple[BuiltGraph, ...]
    out_dir: Path


def compile_paths(
    paths: Sequence[str | os.PathLike[str]],
    config: CheckConfig | None = None,
    *,
    cwd: Path | None = None,
) -> CompileResult:
    """Check ``paths`` and, if the check finds no error, lower every workflow.

    The check never takes a summary or a verdict from the cache
    (``config.cache_dir`` is written, not read): what gets compiled is decided
    afresh, whatever a cache directory restored from elsewhere says.

    Raises:
        PathNotFound: A path does not exist.
        UsageError: Two workflows share a name.
        LoweringError: A workflow the checker accepted cannot be lowered (a bug
            or a construct the checker does not know yet).
    """
    config = config or CheckConfig()
    sources = load_sources(paths, cwd=cwd, skip_dir=excluded_dir(config.exclude, cwd))
    sources = [s for s in sources if not is_excluded(s.display_path, config.exclude)]
    check = check_sources(sources, replace(config, read_cache=False))
    if check.errors:
        return CompileResult(check, ())
    # Steps and helpers may live in sibling modules the user did not name
    # (pre-commit passes only changed files): load them as context, as check does.
    context = load_context(sources, lambda s: summarise(s).symbols, cwd=cwd or Path.cwd())
    index = discover(sources, context=context)
    graphs: dict[str, Graph] = {}
    found: list[Diagnostic] = []
    for info in index.workflows:
        unreachable: list[Span] = []
        graph = lower_workflow(info, index, unreachable=unreachable)
        previous = graphs.get(graph.workflow.name)
        if previous is not None:
            raise UsageError(
                f"workflow name {graph.workflow.name!r} is defined twice "
                f"({previous.source.path} and {graph.source.path}); rename one"
            )
        graphs[graph.workflow.name] = graph
        found += [_unreachable(span, graph.workflow.name) for span in unreachable]
    check = _with_graph_findings(check, found, [*sources, *context], config)
    return CompileResult(check, tuple(graphs[name] for name in sorted(graphs)))


def _unreachable(span: Span, workflow: str) -> Diagnostic:
    rule = RULES["VRB306"]
    return Diagnostic(
        "VRB306",
        rule.severity,
        "this code can never run: no path of the step graph reaches it",
        span.path,
        span.line,
        span.column,
        span.end_line,
        span.end_column,
        workflow,
        rule.hint,
    )


def _with_graph_findings(
    check: CheckResult,
    found: Sequence[Diagnostic],
    sources: Sequence[SourceFile],
    config: CheckConfig,
) -> CheckResult:
    """The check's result plus what lowering found that the check did not report.

    The checker reports dead code from the source (:mod:`vrb_compile.analysis.flow`);
    the graph also knows, say, that an inlined helper always raises. Suppression
    comments and ``select``/``ignore`` apply to these findings too.
    """
    known = {(d.path, d.line, d.column, d.code) for d in check.diagnostics}
    by_path = {source.display_path: source for source in sources}
    fresh: dict[tuple[str, int, int, str], Diagnostic] = {}
    for diag in found:
        key = (diag.path, diag.line, diag.column, diag.code)
        if key not in known and diag.path in by_path:
            fresh.setdefault(key, diag)
    added: list[Diagnostic] = []
    for path in sorted({diag.path for diag in fresh.values()}):
        mine = [diag for diag in fresh.values() if diag.path == path]
        kept = apply_suppressions(by_path[path], mine, comment_warnings=False)
        added += [d for d in kept if is_selected(d.code, config.select, config.ignore)]
    if not added:
        return check
    diagnostics = sorted([*check.diagnostics, *added], key=Diagnostic.sort_key)
    return replace(check, diagnostics=tuple(diagnostics))


def select_graph(graphs: Sequence[Graph], workflow: str | None) -> Graph:
    """The graph to draw: the one named ``workflow``, or the only one.

    Raises:
        UsageError: No workflow of that name, none at all, or several and no name.
    """
    names = ", ".join(graph.workflow.name for graph in graphs)
    if workflow is not None:
        for graph in graphs:
            if graph.workflow.name == workflow:
                return graph
        raise UsageError(f"no workflow named {workflow!r} (found: {names or 'none'})")
    if not graphs:
        raise UsageError("no workflow found in the given paths")
    if len(graphs) > 1:
        raise UsageError(
            f"{len(graphs)} workflows found ({names}); choose one with --workflow NAME"
        )
    return graphs[0]


def _safe_name(name: str) -> str:
    control = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if control is not None:
        raise UsageError(
            f"workflow name {name!r} cannot be used as a file name: it holds the control "
            f"character {control!r}; use letters, digits, '-', '_'"
        )
    if not name or name in (".", "..") or any(c in name for c in "/\\:") or name.startswith("."):
        raise UsageError(
            f"workflow name {name!r} cannot be used as a file name; use letters, digits, '-', '_'"
        )
    return name


def _write_atomic(
    path: Path, data: str | bytes, out: Path | None = None, key: GraphKey | None = None
) -> None:
    """Write ``data`` to ``path`` by rename; with ``key``, its signature first.

    The signature lands before the file: a reader never sees a new file beside
    an old signature that would refuse it (it may see the old file beside the new
    signature for an instant, and refuse that, which is safe).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if key is not None and out is not None:
        relpath = path.relative_to(out).as_posix()
        _write_atomic(signature_path(path), key.sign(relpath, raw))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sign_existing(version: Path, graph: Graph, out: Path, key: GraphKey) -> None:
    """Sign a version file built before, when it holds ``graph`` (same content hash).

    Its bytes may differ from ``graph``'s (lines moved since), never its meaning:
    the loader checks that the content hashes to the hash the file is named by.
    """
    try:
        data = version.read_bytes()
        if parse_graph(data, origin=str(version)).hash != graph.hash:
            return
    except (OSError, GraphLoadError):
        return  # not this graph: left unsigned, and reported by unsigned_files
    relpath = version.relative_to(out).as_posix()
    if key.verify(relpath, data, _read_optional(signature_path(version))) is not None:
        _write_atomic(signature_path(version), key.sign(relpath, data))


def _read_optional(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def unsigned_files(out_dir: str | os.PathLike[str], key: GraphKey) -> list[Path]:
    """The graph files and manifest under ``out_dir`` that ``key`` does not verify."""
    out = Path(out_dir)
    found = [out / MANIFEST, *sorted(out.glob("*.graph.json"))]
    found += sorted((out / VERSIONS).glob("*/*.graph.json"))
    bad: list[Path] = []
    for path in found:
        data = _read_optional(path)
        if data is None:
            continue
        relpath = path.relative_to(out).as_posix()
        if key.verify(relpath, data, _read_optional(signature_path(path))) is not None:
            bad.append(path)
    return bad


def sign_build(out_dir: str | os.PathLike[str], key: GraphKey) -> tuple[Path, ...]:
    """Sign every graph file and the manifest of an existing build directory.

    For a directory built before signing was turned on: whoever runs it vouches
    for every file in it. Each graph file must still load (valid, its content
    matching its hash) and sit where its workflow name and hash say.

    Returns:
        The files that were signed (those ``key`` did not verify yet).

    Raises:
        UsageError: The directory has no manifest, or a file is not a valid
            graph of the workflow and version its place names.
    """
    out = Path(out_dir)
    if not (out / MANIFEST).is_file():
        raise UsageError(f"{out}: not a vrb-compile build directory (no {MANIFEST})")
    signed: list[Path] = []
    for path in unsigned_files(out, key):
        data = path.read_bytes()
        if path.name != MANIFEST:
            try:
                graph = parse_graph(data, origin=str(path))
            except GraphLoadError as error:
                raise UsageError(f"{error}; not signed") from None
            in_versions = path.parent.parent == out / VERSIONS
            name = path.parent.name if in_versions else path.name.removesuffix(".graph.json")
            if graph.workflow.name != name or (
                in_versions and path.name != f"{graph.hash}.graph.json"
            ):
                raise UsageError(
                    f"{path}: holds version {graph.hash[:12]}... of workflow "
                    f"{graph.workflow.name!r}, not what its place in the build says; not signed"
                )
        _write_atomic(signature_path(path), key.sign(path.relative_to(out).as_posix(), data))
        signed.append(path)
    return tuple(signed)


def _read_manifest(path: Path) -> dict[str, Any]:
    """The ``workflows`` of an existing manifest, carried into the new one.

    Raises:
        UsageError: The manifest holds entries no build wrote (they would be
            carried over, and signed with a key): fix or delete it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    workflows = data.get("workflows") if isinstance(data, dict) else None
    if not isinstance(workflows, dict):
        return {}
    for name, entry in workflows.items():
        versions = entry.get("versions") if isinstance(entry, dict) else None
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise UsageError(
                f"{path}: the entry of workflow {name!r} is not one vrb-compile build writes; "
                "fix the manifest or delete it (every graph stays under versions/)"
            )
    return workflows


def write_build(
    graphs: Sequence[Graph], out_dir: str | os.PathLike[str], *, key: GraphKey | None = None
) -> tuple[BuiltGraph, ...]:
    """Write graphs, their versions and the manifest under ``out_dir``.

    Workflows already in the manifest but not in ``graphs`` stay listed (and
    their files stay); no version file is ever deleted.

    Args:
        graphs: The graphs to write.
        out_dir: The build directory.
        key: When given, every file written is signed (``F.sig`` beside ``F``),
            and so is an existing version file of one of ``graphs`` that holds
            the same graph.

    Raises:
        UsageError: A workflow name cannot be a file name, or ``out_dir`` is not writable.
    """
    out = Path(out_dir)
    built: list[BuiltGraph] = []
    try:
        manifest = _read_manifest(out / MANIFEST)
        for graph in sorted(graphs, key=lambda g: g.workflow.name):
            name = _safe_name(graph.workflow.name)
            text = graph.to_json()
            path = out / f"{name}.graph.json"
            version = out / VERSIONS / name / f"{graph.hash}.graph.json"
            new_version = not version.exists()
            if new_version:
                # A stored version is immutable: rebuilding a graph with the same hash
                # (only lines or formatting moved) updates the newest file, not the version.
                _write_atomic(version, text, out, key)
            elif key is not None:
                _sign_existing(version, graph, out, key)
            _write_atomic(path, text, out, key)
            versions = manifest.get(name, {}).get("versions", [])
            manifest[name] = {
                "hash": graph.hash,
                "file": path.name,
                "source": graph.source.path,
                "module": graph.source.module,
                "qualname": graph.source.qualname,
                "versions": sorted({*versions, graph.hash}),
            }
            built.append(BuiltGraph(name, graph.hash, path, version, new_version))
        document = {
            "compiler_version": compiler_version(),
            "schema_version": SCHEMA_VERSION,
            "workflows": dict(sorted(manifest.items())),
        }
        _write_atomic(
            out / MANIFEST,
            json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
            out,
            key,
        )
    except OSError as error:
        where = error.filename or out
        raise UsageError(f"cannot write the build to {where}: {error.strerror or error}") from None
    return tuple(built)


def build_paths(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: CheckConfig | None = None,
    *,
    cwd: Path | None = None,
    key: GraphKey | None = None,
) -> BuildResult:
    """Check ``paths``; if there is no error, write every workflow's graph to ``out_dir``.

    Args:
        paths: Files and package directories.
        out_dir: The build directory.
        config: Selection, exclusion and purity settings.
        cwd: The directory module names and display paths are relative to.
        key: Sign every file written (see :mod:`vrb_compile.ir.signing`).

    Returns:
        The check result and what was written (nothing when the check has errors).
    """
    compiled = compile_paths(paths, config, cwd=cwd)
    if compiled.check.errors:
        return BuildResult(compiled.check, (), Path(out_dir))
    built = write_build(compiled.graphs, out_dir, key=key)
    return BuildResult(compiled.check, built, Path(out_dir))
