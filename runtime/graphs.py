"""Where a worker gets its step graphs.

* From a build directory (``Worker(graphs="build/graphs")``) written by
  ``vrb-compile build``: the manifest names each workflow's newest graph, and
  every version under ``versions/<workflow>/`` is loaded too, so runs finish on
  the graph they started with while new runs take the newest.
* Without a directory, compiled in-process from the modules that registered the
  workflows (for development): each module's file is checked and lowered.

Either way the newest graph of a workflow is refused, with one line, when the
sha256 of its source file no longer matches the module the worker imported:
the graph describes code that is not the code that would run; and when its
options (the workflow's ``max_events`` and ``execution_timeout``, each step's
``retries``, ``timeout``, ``backoff`` and whether it has a ``rollback_fn``)
are not those of the ``Workflow`` and ``Step`` objects the import registered:
the worker runs steps with the graph's options, so a graph that disagrees
would retry, time out or compensate otherwise than the code says.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from vrb_compile.errors import VrbCompileError
from vrb_compile.ir.loader import load_graph
from vrb_compile.ir.models import CodeNode, Graph

from .durations import Backoff
from .errors import ConfigurationError
from .sdk import Workflow, get_workflow, registered_steps, registered_workflows

__all__ = ["GraphLibrary", "module_file"]


def module_file(module: str) -> Path:
    """The source file of an importable module.

    Raises:
        ConfigurationError: It cannot be imported or has no source file.
    """
    try:
        found = importlib.import_module(module)
    except ImportError as error:
        raise ConfigurationError(f"cannot import workflow module {module!r}: {error}") from None
    path = getattr(found, "__file__", None)
    if not path:
        raise ConfigurationError(f"workflow module {module!r} has no source file to compile")
    return Path(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _module_of(flow: Workflow) -> str:
    target = flow.cls if flow.cls is not None else flow.fn
    return str(getattr(target, "__module__", ""))


class GraphLibrary:
    """Every graph version a worker can run, by workflow name and hash.

    Args:
        directory: A ``vrb-compile build`` output directory, or ``None`` to
            compile registered workflows in-process.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._latest: dict[str, Graph] = {}
        self._versions: dict[tuple[str, str], Graph] = {}
        self._roots: dict[Path, Path] = {}

    def names(self) -> list[str]:
        """The workflows loaded so far."""
        return sorted(self._latest)

    def latest(self, name: str) -> Graph:
        """The graph new runs of ``name`` start on."""
        return self._latest[name]

    def version(self, name: str, graph_hash: str) -> Graph | None:
        """The graph ``graph_hash`` of workflow ``name``, if this worker has it."""
        return self._versions.get((name, graph_hash))

    def load(self, names: Iterable[str] = ()) -> list[str]:
        """Load the graphs of ``names`` (all available when empty); return the names loaded.

        Raises:
            ConfigurationError: A graph is missing, corrupt, fails to compile, or
                its source no longer matches the imported module.
        """
        wanted = list(names)
        if self.directory is not None:
            return self._load_directory(wanted)
        names = wanted or sorted(registered_workflows())
        self._compile([name for name in names if name not in self._latest])
        return names

    def add(self, graph: Graph, *, latest: bool = True) -> None:
        """Make ``graph`` available (tests and in-process use)."""
        self._versions[(graph.workflow.name, graph.hash)] = graph
        if latest:
            self._latest[graph.workflow.name] = graph

    # ------------------------------------------------------------------ directory

    def _load_directory(self, wanted: list[str]) -> list[str]:
        assert self.directory is not None
        manifest_path = self.directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            workflows = manifest["workflows"]
            if not isinstance(workflows, dict):
                raise TypeError("workflows is not an object")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(
                f"{manifest_path}: not a vrb-compile build manifest ({error}); "
                "run `vrb-compile build PATH --out DIR` and pass that DIR as graphs="
            ) from None
        names = wanted or sorted(workflows)
        for name in names:
            entry = workflows.get(name)
            if not isinstance(entry, dict):
                raise ConfigurationError(
                    f"workflow {name!r} is not in {manifest_path}; rebuild the graphs with it"
                )
            try:
                for path in sorted((self.directory / "versions" / name).glob("*.graph.json")):
                    graph = load_graph(path)
                    _check_identity(path, graph, name, path.name.removesuffix(".graph.json"))
                    self._versions[(name, graph.hash)] = graph
                latest_path = self.directory / str(entry.get("file"))
                latest = load_graph(latest_path)
            except VrbCompileError as error:
                raise ConfigurationError(str(error)) from None
            _check_identity(latest_path, latest, name, entry.get("hash"), manifest_path)
            self._versions[(name, latest.hash)] = latest
            self._check_source(latest)
            # Only the newest graph: an older version keeps the options its runs started with.
            _check_options(latest, "rebuild the graphs with vrb-compile build")
            self._latest[name] = latest
        return names

    # ------------------------------------------------------------------ in-process

    def _compile(self, names: list[str]) -> list[str]:
        by_file: dict[Path, list[str]] = {}
        for name in names:
            try:
                flow = get_workflow(name)
            except LookupError as error:
                raise ConfigurationError(str(error)) from None
            module = _module_of(flow)
            if module == "__main__":
                raise ConfigurationError(
                    f"workflow {name!r} is defined in the __main__ script; move it to an "
                    "importable module and import that module from the script"
                )
            path = module_file(module).resolve()
            by_file.setdefault(path, []).append(name)
            # The compiler names modules from the path relative to its cwd, so
            # compile from the root the module was imported from.
            self._roots[path] = _import_root(path, module)
        for path, workflow_names in by_file.items():
            try:
                # Compiling in-process is for development; loading built graphs needs no compiler.
                from vrb_compile.build import compile_paths

                result = compile_paths([path], cwd=self._roots[path])
            except VrbCompileError as error:
                raise ConfigurationError(str(error)) from None
            errors = [d for d in result.check.diagnostics if d.severity.value == "error"]
            if errors:
                first = errors[0]
                raise ConfigurationError(
                    f"{first.path}:{first.line}:{first.column}: {first.code} {first.message}; "
                    f"fix it (vrb-compile check {path}) before serving its workflows"
                    + (f" ({len(errors) - 1} more errors)" if len(errors) > 1 else "")
                )
            found = {graph.workflow.name: graph for graph in result.graphs}
            for name in workflow_names:
                if name not in found:
                    raise ConfigurationError(
                        f"workflow {name!r} was not found by the compiler in {path}"
                    )
                _check_options(
                    found[name],
                    f"the compiler read {path} otherwise than Python ran it: give the option "
                    "as a literal or a module-level constant assigned once (vrb-compile "
                    "explain VRB307)",
                )
                self.add(found[name])
        return names

    # ------------------------------------------------------------------ checks

    def _check_source(self, graph: Graph) -> None:
        path = module_file(graph.source.module)
        actual = _sha256(path)
        if actual != graph.source.sha256:
            raise ConfigurationError(
                f"graph of workflow {graph.workflow.name!r} was built from a different "
                f"{graph.source.path} (sha256 {graph.source.sha256[:12]}..., the imported "
                f"module {path} has {actual[:12]}...); rebuild the graphs with vrb-compile build"
            )
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in graph.nodes:
            if not isinstance(node, CodeNode) or node.rewritten:
                continue
            missing = _not_verbatim(node.code, lines[node.line - 1 : node.end_line])
            if missing is not None:
                raise ConfigurationError(
                    f"graph of workflow {graph.workflow.name!r}: code node {node.id} "
                    f"({missing!r}) is not at lines {node.line}-{node.end_line} of "
                    f"{path}; the graph does not describe this module, rebuild it"
                )


def _check_options(graph: Graph, fix: str) -> None:
    """Refuse ``graph`` when its options are not those of the registered objects.

    Args:
        graph: The newest graph of a workflow.
        fix: What to do, ending the message.

    Raises:
        ConfigurationError: One line naming the workflow, the step, the option,
            the graph's value and the registered one.
    """
    name = graph.workflow.name
    # (whose option, the option, its value in the graph, its registered value, registered by)
    pairs: list[tuple[str, str, object, object, str]] = []
    flow = registered_workflows().get(name)
    if flow is not None:
        by = f"Workflow ({flow.origin})"
        pairs.append(("", "max_events", graph.workflow.max_events, flow.max_events, by))
        pairs.append(
            ("", "execution_timeout", graph.workflow.execution_timeout, flow.execution_timeout, by)
        )
    steps = registered_steps()
    for ref in graph.steps:
        step = steps.get(ref.name)
        if step is None:
            continue  # an unregistered step is refused when a run reaches it
        owner, by = f"step {ref.name!r} ", f"Step ({step.origin})"
        # The graph's null backoff means the runtime's default one.
        backoff = Backoff.coerce(ref.backoff.model_dump() if ref.backoff else None).to_dict()
        rollback = step.options()["rollback"]
        pairs += [
            (owner, "retries", ref.retries, step.retries, by),
            (owner, "timeout", ref.timeout, step.timeout, by),
            (owner, "backoff", backoff, step.backoff.to_dict(), by),
        ]
        if (ref.rollback_ref is None) != (rollback is None):
            pairs.append((owner, "rollback_fn", ref.rollback_ref, rollback, by))
    for owner, option, in_graph, registered, by in pairs:
        if in_graph != registered:
            raise ConfigurationError(
                f"graph of workflow {name!r} disagrees with the imported code: {owner}option "
                f"{option} is {in_graph!r} in the graph but {registered!r} in the registered "
                f"{by}; {fix}"
            )


def _check_identity(
    path: Path,
    graph: Graph,
    name: str,
    expected_hash: object,
    manifest_path: Path | None = None,
) -> None:
    """Refuse a graph file that is not the version of ``name`` it is filed as.

    A file copied or renamed by hand would otherwise run another workflow's
    body, or another version's, under this name.
    """
    fix = "rebuild the graphs with vrb-compile build"
    if graph.workflow.name != name:
        raise ConfigurationError(
            f"{path}: holds the graph of workflow {graph.workflow.name!r}, not of {name!r} "
            f"as its place in the build says; {fix}"
        )
    if graph.hash != expected_hash:
        where = (
            f"its file name says {str(expected_hash)[:12]}..."
            if manifest_path is None
            else f"{manifest_path} names {str(expected_hash)[:12]}... for {name!r}"
        )
        raise ConfigurationError(
            f"{path}: holds graph version {graph.hash[:12]}... but {where}; {fix}"
        )


def _not_verbatim(code: str, lines: list[str]) -> str | None:
    """The first line of ``code`` not found verbatim, in order, in ``lines``; ``None`` if all are.

    Both sides are compared stripped of indentation (the graph holds statements
    dedented). A code line must be a whole source line, or a whole statement of
    one: between the line's start, a ``;`` or a compound header's ``:`` and the
    line's end, a ``;`` or a comment. A substring test would let ``x = 1`` pass
    for ``x = 10``, and ``y = x`` for ``y = x * 2``.
    """
    source = [line.strip() for line in lines]
    row, column = 0, 0
    for part in code.splitlines():
        wanted = part.strip()
        if not wanted:
            continue
        while row < len(source):
            end = _statement_at(source[row], wanted, column)
            if end is not None:
                column = end
                break
            row, column = row + 1, 0
        else:
            return wanted
    return None


def _statement_at(text: str, wanted: str, start: int) -> int | None:
    """Where ``wanted`` ends in ``text`` (searched from ``start``) as a whole statement."""
    index = text.find(wanted, start)
    while index >= 0:
        before = text[:index].rstrip()
        after = text[index + len(wanted) :].lstrip()
        if (not before or before.endswith((";", ":"))) and (
            not after or after.startswith((";", "#"))
        ):
            return index + len(wanted)
        index = text.find(wanted, index + 1)
    return None


def _import_root(path: Path, module: str) -> Path:
    parts = module.split(".")
    root = path.parent
    count = len(parts) - (0 if path.stem == "__init__" else 1)
    for _ in range(count):
        root = root.parent
    return root if str(root) else Path(sys.path[0] or ".")
