"""Where a worker gets its step graphs, trusting no graph file further than it can prove.

* From a build directory (``Worker(graphs="build/graphs")``) written by
  ``vrb-compile build``: the manifest names each workflow's newest graph, and
  every version under ``versions/<workflow>/`` is loaded too, so runs finish on
  the graph they started with while new runs take the newest.
* Without a directory, compiled in-process from the modules that registered the
  workflows (for development): each module's file is checked and lowered.

A graph is code the worker runs (its nodes hold the workflow's expressions and
statements), so a build directory is checked as untrusted input:

* The newest graph of each workflow must be exactly what the module the worker
  imported compiles to: the worker lowers that module in-process and requires
  the same content hash, and runs the graph it compiled itself. The graph's
  ``source.module`` must be the registered workflow's module; no module is
  imported because a graph names it. Its options (``max_events``,
  ``execution_timeout``, each step's ``retries``, ``timeout``, ``backoff`` and
  whether it has a ``rollback_fn``) must be those of the registered objects.
* An older version's source is gone, so nothing can recompile it. Given a
  signing key (``GraphLibrary(key=...)``, ``VRB_GRAPH_KEY``), the worker reads
  only files whose HMAC-SHA256 signature the key verifies, the manifest
  included. Without a key, the graph directory is as trusted as the code.
* Files are read by :class:`~runtime._graph_files.BuildDirectory`: regular
  files inside the directory only, of bounded size.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vrb_compile.errors import VrbCompileError
from vrb_compile.ir.models import Graph
from vrb_compile.ir.signing import GraphKey

from ._graph_files import BuildDirectory
from .durations import Backoff
from .errors import ConfigurationError
from .sdk import Workflow, get_workflow, registered_steps, registered_workflows

if TYPE_CHECKING:
    from vrb_compile.api import CheckConfig

__all__ = ["GraphKey", "GraphLibrary", "module_file"]


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
        key: The key graph files must be signed with (a :class:`GraphKey`, or
            the secret itself); by default the one in ``VRB_GRAPH_KEY``, if set.
            Without one, the directory is trusted as the code is.

    Raises:
        ConfigurationError: The key is too short.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        key: GraphKey | str | bytes | None = None,
    ) -> None:
        self.directory = None if directory is None else Path(directory)
        try:
            self.key = key if isinstance(key, GraphKey | None) else GraphKey(key)
            if self.key is None:
                self.key = GraphKey.from_env()
        except VrbCompileError as error:
            raise ConfigurationError(str(error)) from None
        self._latest: dict[str, Graph] = {}
        self._versions: dict[tuple[str, str], Graph] = {}
        self._roots: dict[Path, Path] = {}
        self.load_seconds = 0.0
        """How long the last :meth:`load` took (reading, compiling and proving graphs)."""

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
        started = time.perf_counter()
        try:
            wanted = list(names)
            if self.directory is not None:
                return self._load_directory(wanted)
            names = wanted or sorted(registered_workflows())
            self._compile([name for name in names if name not in self._latest])
            return names
        finally:
            self.load_seconds = time.perf_counter() - started

    def add(self, graph: Graph, *, latest: bool = True) -> None:
        """Make ``graph`` available (tests and in-process use)."""
        self._versions[(graph.workflow.name, graph.hash)] = graph
        if latest:
            self._latest[graph.workflow.name] = graph

    # ------------------------------------------------------------------ directory

    def _load_directory(self, wanted: list[str]) -> list[str]:
        assert self.directory is not None
        files = BuildDirectory(self.directory, self.key)
        workflows = files.manifest()
        registered = registered_workflows()
        names = wanted or [name for name in sorted(workflows) if name in registered]
        if not names:
            raise ConfigurationError(
                f"none of the workflows in {files.manifest_path} is registered: import their "
                "modules before the worker starts (vrb worker MODULE ...); a worker never "
                "imports a module because a graph names it"
            )
        newest: dict[str, Graph] = {}
        for name in names:
            entry = workflows.get(name)
            if not isinstance(entry, dict):
                raise ConfigurationError(
                    f"workflow {name!r} is not in {files.manifest_path}; rebuild the graphs with it"
                )
            flow = registered.get(name)
            if flow is None:
                raise ConfigurationError(
                    f"workflow {name!r} is not registered: import its module before the worker "
                    "starts (vrb worker MODULE ...); a worker never imports a module because a "
                    "graph names it"
                )
            for path in files.versions(name):
                graph = files.graph(path)
                _check_identity(path, graph, name, path.name.removesuffix(".graph.json"))
                self._versions[(name, graph.hash)] = graph
            latest_path = files.latest_path(name, entry)
            latest = files.graph(latest_path)
            _check_identity(latest_path, latest, name, entry.get("hash"), files.manifest_path)
            _check_module(latest_path, latest, flow)
            # Said plainly before the compile says "not what the module compiles to".
            _check_options(latest, "rebuild the graphs with vrb-compile build")
            newest[name] = latest
        compiled = self._compile_graphs(names)
        for name, graph in compiled.items():
            if graph.hash != newest[name].hash:
                raise ConfigurationError(
                    f"graph of workflow {name!r} in {self.directory} is not what "
                    f"{graph.source.module} compiles to (the file has version "
                    f"{newest[name].hash[:12]}..., the module compiles to {graph.hash[:12]}...): "
                    "the file was edited, or built by another vrb-compile version; rebuild "
                    "the graphs with this one"
                )
            # The graph the worker compiled itself, not the file's: equal in meaning by
            # the hash, and its lines are those of the module that runs.
            self.add(graph)
        return names

    # ------------------------------------------------------------------ in-process

    def _compile(self, names: list[str]) -> list[str]:
        for graph in self._compile_graphs(names).values():
            self.add(graph)
        return names

    def _compile_graphs(self, names: list[str]) -> dict[str, Graph]:
        """Check and lower the modules that registered ``names``; their graphs by name.

        Raises:
            ConfigurationError: A workflow is not registered or lives in ``__main__``,
                its module has check errors, or its options are not those the
                compiler read.
        """
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
        graphs: dict[str, Graph] = {}
        for path, workflow_names in by_file.items():
            try:
                # Loading built graphs compiles too (to prove them), so the compiler is
                # imported here, not at the top: a client needs none of it.
                from vrb_compile.build import compile_paths

                result = compile_paths([path], _project_config(path), cwd=self._roots[path])
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
                graphs[name] = found[name]
        return graphs


def _project_config(path: Path) -> CheckConfig:
    """The ``[tool.vrb-compile]`` settings of the project holding ``path``, as CI's build read them.

    Without them, a rule the project ignores would stop the worker from compiling
    a module its CI built.
    """
    from vrb_compile.api import CheckConfig
    from vrb_compile.config import find_config, load_config_file
    from vrb_compile.rules.registry import RULES

    found = find_config(path.parent)
    if found is None:
        return CheckConfig()
    settings = load_config_file(found, tuple(RULES))
    return CheckConfig(select=settings.select, ignore=settings.ignore, pure=settings.pure)


def _check_module(path: Path, graph: Graph, flow: Workflow) -> None:
    """Refuse a newest graph that names another module than the registered workflow's.

    The module a graph names is where its expressions are evaluated; a graph
    pointing elsewhere would run another module's code under this workflow.
    """
    module = _module_of(flow)
    if graph.source.module != module:
        raise ConfigurationError(
            f"{path}: describes workflow {graph.workflow.name!r} of module "
            f"{graph.source.module!r}, but the worker imported it from {module!r}; "
            "rebuild the graphs with vrb-compile build"
        )
    loaded = sys.modules.get(module)
    file = getattr(loaded, "__file__", None)
    if file and _sha256(Path(file)) != graph.source.sha256:
        # The common case of a stale build, said plainly before the compile says it.
        raise ConfigurationError(
            f"graph of workflow {graph.workflow.name!r} was built from a different "
            f"{graph.source.path} (sha256 {graph.source.sha256[:12]}..., the imported "
            f"module {file} has {_sha256(Path(file))[:12]}...); rebuild the graphs with "
            "vrb-compile build"
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


def _import_root(path: Path, module: str) -> Path:
    parts = module.split(".")
    root = path.parent
    count = len(parts) - (0 if path.stem == "__init__" else 1)
    for _ in range(count):
        root = root.parent
    return root if str(root) else Path(sys.path[0] or ".")
