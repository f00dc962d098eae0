"""Step graphs in documentation: ``module:workflow`` -> Mermaid, at docs build time.

Write a fenced block whose language is ``vrb-graph`` and whose body names a
workflow::

    ```vrb-graph
    shop.orders:order_processing
    ```

and :func:`expand_graph_fences` replaces it with a ``mermaid`` fence holding
the workflow's step graph, exactly what ``vrb-compile graph --format mermaid``
prints. The part after the colon is the workflow body's qualified name
(``order_processing``, ``TripBooking`` for the class style) or the registered
workflow name (``order-processing``); a module defining a single workflow may
be named alone (``shop.orders``).

The module is found as a file under the documentation's root directory
(``shop/orders.py`` or ``shop/orders/__init__.py``), else through the import
system; it is compiled, never imported, so documenting a workflow runs none of
its code. The MkDocs plugin :mod:`vrb_compile.mkdocs_plugin` calls this for
every page; any other Markdown pipeline can call it on its source.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .api import CheckConfig
from .build import compile_paths
from .emit import render
from .errors import VrbCompileError
from .ir.models import Graph

__all__ = [
    "FENCE_LANGUAGE",
    "GraphRefError",
    "GraphRenderer",
    "expand_graph_fences",
    "graph_refs",
]

FENCE_LANGUAGE = "vrb-graph"

# A fence opener: indentation, three or more backticks or tildes, the info string.
_OPENER = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*?)[ \t]*\n?$")
_REF = re.compile(r"^(?P<module>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(?::(?P<attr>[\w.\-]+))?$")


class GraphRefError(VrbCompileError, ValueError):
    """A ``vrb-graph`` reference that cannot be drawn: malformed, not found,
    failing the check, or ambiguous. The message says which and what to write."""


@dataclass
class GraphRenderer:
    """Resolves ``module:workflow`` references and renders them, caching per file.

    Args:
        root: Where module files are looked for first (the project root).
    """

    root: Path
    _cache: dict[tuple[Path, float], tuple[Graph, ...]] = field(default_factory=dict)

    def module_path(self, module: str) -> Path:
        """The source file of a dotted module name.

        Raises:
            GraphRefError: No such module under the root nor on the import path.
        """
        relative = Path(*module.split("."))
        for candidate in (
            self.root / relative.with_suffix(".py"),
            self.root / relative / "__init__.py",
        ):
            if candidate.is_file():
                return candidate
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            raise GraphRefError(
                f"module {module!r} not found under {self.root} nor on the import path; "
                "write the dotted module name of a workflow module (shop.orders:order_processing)"
            )
        return Path(spec.origin)

    @staticmethod
    def _key(path: Path) -> tuple[Path, float]:
        return (path.resolve(), path.stat().st_mtime)

    def graphs(self, path: Path) -> tuple[Graph, ...]:
        """Every workflow graph of one file (compiled once per file version)."""
        key = self._key(path)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        compiled = compile_paths([path], CheckConfig(jobs=1), cwd=self.root)
        if compiled.check.errors:
            first = next(d for d in compiled.check.diagnostics if d.severity == "error")
            raise GraphRefError(
                f"{path} does not compile ({compiled.check.errors} error(s)); first: "
                f"{first.path}:{first.line}:{first.column}: {first.code} {first.message}"
            )
        self._cache[key] = compiled.graphs
        return compiled.graphs

    def prefetch(self, refs: Iterable[str]) -> None:
        """Compile the modules of many references at once.

        Compiling costs mostly the loading of what the modules import, so one
        compilation of every module a site draws is much cheaper than one per
        module. Best effort: when the joint compilation fails (a module does
        not compile, two share a workflow name), nothing is cached and each
        reference is compiled alone later, with its own error.
        """
        paths: set[Path] = set()
        for ref in refs:
            match = _REF.match(ref.strip())
            if match is None:
                continue
            try:
                paths.add(self.module_path(match.group("module")).resolve())
            except GraphRefError:
                continue
        todo = sorted(p for p in paths if self._key(p) not in self._cache)
        if len(todo) < 2:
            return
        try:
            compiled = compile_paths(todo, CheckConfig(jobs=1), cwd=self.root)
        except VrbCompileError:
            return
        if compiled.check.errors:
            return
        by_path: dict[Path, list[Graph]] = {path: [] for path in todo}
        for graph in compiled.graphs:
            source = Path(graph.source.path)
            source = (source if source.is_absolute() else self.root / source).resolve()
            by_path.setdefault(source, []).append(graph)
        for path in todo:
            self._cache[self._key(path)] = tuple(by_path[path])

    def graph(self, ref: str) -> Graph:
        """The graph of ``module:workflow`` (see the module docstring).

        Raises:
            GraphRefError: The reference is malformed, not found or ambiguous.
        """
        match = _REF.match(ref.strip())
        if match is None:
            raise GraphRefError(
                f"{ref.strip()!r} is not a workflow reference; write module:workflow "
                "(shop.orders:order_processing)"
            )
        module, attr = match.group("module"), match.group("attr")
        graphs = self.graphs(self.module_path(module))
        names = ", ".join(f"{g.source.qualname} ({g.workflow.name})" for g in graphs) or "none"
        if attr is None:
            if len(graphs) == 1:
                return graphs[0]
            raise GraphRefError(
                f"module {module!r} defines {len(graphs)} workflows ({names}); "
                f"write {module}:<workflow>"
            )
        for graph in graphs:
            names_of = {graph.source.qualname, graph.workflow.name}
            if graph.source.style == "class":
                names_of.add(graph.source.qualname.removesuffix(".run"))
            if attr in names_of:
                return graph
        raise GraphRefError(f"no workflow {attr!r} in module {module!r} (found: {names})")

    def mermaid(self, ref: str) -> str:
        """The Mermaid source of ``ref``'s step graph, as ``vrb-compile graph`` prints it."""
        return render(self.graph(ref), "mermaid")


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def expand_graph_fences(markdown: str, renderer: GraphRenderer) -> str:
    """Replace every ``vrb-graph`` fence of ``markdown`` by a ``mermaid`` fence.

    A fence may list several references, one per line; each becomes its own
    diagram. Blank lines and lines starting with ``#`` are ignored. A
    ``vrb-graph`` fence inside another fenced block (an example of the syntax)
    is left alone.

    Raises:
        GraphRefError: A reference cannot be drawn, or a block is empty or unclosed.
    """

    def draw(refs: list[str], indent: str, fence: str) -> str:
        blocks = []
        for ref in refs:
            text = renderer.mermaid(ref).rstrip("\n")
            lines = "\n".join(indent + line if line else line for line in text.splitlines())
            blocks.append(f"{indent}{fence}mermaid\n{lines}\n{indent}{fence}")
        return "\n\n".join(blocks)

    return _rewrite(markdown, draw)


def graph_refs(markdown: str) -> list[str]:
    """The references of every ``vrb-graph`` fence of ``markdown``, in order.

    Raises:
        GraphRefError: A block is empty or unclosed.
    """
    found: list[str] = []

    def collect(refs: list[str], indent: str, fence: str) -> str:
        found.extend(refs)
        return ""

    _rewrite(markdown, collect)
    return found


def _rewrite(markdown: str, draw: Callable[[list[str], str, str], str]) -> str:
    lines = markdown.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        opener = _OPENER.match(line)
        if opener is None:
            out.append(line)
            continue
        indent, fence = opener.group("indent"), opener.group("fence")
        language = opener.group("info").split(maxsplit=1)[0] if opener.group("info") else ""
        body: list[str] = []
        while index < len(lines) and not _closes(lines[index], fence):
            body.append(lines[index])
            index += 1
        closed = index < len(lines)
        closer = lines[index] if closed else ""
        index += 1
        if language != FENCE_LANGUAGE:
            out += [line, *body, closer]
            continue
        if not closed:
            raise GraphRefError(f"a vrb-graph block is not closed; end it with {fence}")
        refs = [item.strip() for item in body if item.strip() and not item.strip().startswith("#")]
        if not refs:
            raise GraphRefError("an empty vrb-graph block; write module:workflow inside it")
        out.append(draw(refs, indent, fence))
        if closer.endswith("\n"):
            out.append("\n")
    return "".join(out)
