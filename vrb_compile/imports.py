"""The files a checked file imports, found on disk (the analysis *context*).

``vrb-compile check shop/flows.py`` (what pre-commit runs: only the changed
files) must know the steps and helpers ``flows.py`` imports from
``shop/steps.py``, or every ``await charge(...)`` would be an unknown call.
So the modules a given file imports are loaded too, when they resolve to
files below the same source root (the directory that holds the file's
top-level package, i.e. the ``sys.path`` entry its module name implies),
transitively and up to :data:`CONTEXT_LIMIT` files. Context files feed
discovery, the symbol table and helper following; they are never checked
themselves: the caller reports diagnostics only for the files it was given
(and for helpers a given file's workflow reaches, at the helper's line).

Nothing is imported or executed: a module name is mapped to a path the way
Python's path finder would (``shop/steps.py`` or ``shop/steps/__init__.py``,
every parent directory holding an ``__init__.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from .names import ModuleSymbols
from .source import SourceFile

__all__ = ["CONTEXT_LIMIT", "load_context", "module_file", "source_root"]

#: At most this many context files are loaded (a bound on a runaway import graph).
CONTEXT_LIMIT = 2000

#: The engine's own packages. The checker knows the SDK by its names, and a
#: project whose workflows live beside the engine's source (this repository's
#: examples, a vendored checkout) would otherwise load its ~80 files as context
#: in every compile: seconds each, for nothing a diagnostic or a graph uses.
_ENGINE = frozenset({"runtime", "vrb_compile"})


def source_root(source: SourceFile) -> Path | None:
    """The directory ``source``'s module name is relative to, or ``None`` if they disagree.

    ``/src/shop/flows.py`` named ``shop.flows`` gives ``/src``; a file outside
    any package gives its own directory.
    """
    parts = source.module.split(".")
    if source.is_package:
        parts.append("__init__")
    root = source.path.parent
    for _ in parts[:-1]:
        root = root.parent
    expected = root.joinpath(*parts[:-1], parts[-1] + ".py")
    return root if expected == source.path else None


def module_file(root: Path, module: str) -> list[Path]:
    """The file of ``module`` below ``root`` and its parent packages' ``__init__.py``.

    Returns:
        ``[]`` when ``module`` is not a module below ``root`` (a third-party or
        standard-library module, or a name inside a module); otherwise the
        module's file first, then each enclosing package's ``__init__.py``.
    """
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return []
    inits: list[Path] = []
    directory = root
    for part in parts[:-1]:
        directory = directory / part
        init = directory / "__init__.py"
        if not init.is_file():
            return []
        inits.append(init)
    for candidate in (directory / f"{parts[-1]}.py", directory / parts[-1] / "__init__.py"):
        if candidate.is_file():
            return [candidate, *inits]
    return []


def _imported_files(root: Path, symbols: ModuleSymbols) -> list[Path]:
    found: list[Path] = []
    for name in symbols.imports:
        parts = name.split(".")
        if parts[0] in _ENGINE:
            continue
        # `from shop.steps import charge` names `shop.steps.charge`: the longest
        # prefix that is a file is the module (charge may also be a submodule).
        for cut in range(len(parts), 0, -1):
            files = module_file(root, ".".join(parts[:cut]))
            if files:
                found.extend(files)
                break
    return found


def load_context(
    given: Sequence[SourceFile],
    symbols_of: Callable[[SourceFile], ModuleSymbols],
    *,
    cwd: Path,
    limit: int = CONTEXT_LIMIT,
) -> list[SourceFile]:
    """The files the ``given`` ones import, transitively, that are not given themselves.

    Args:
        given: The files to check.
        symbols_of: The symbol table of a file (the caller's summaries, cached).
        cwd: The directory display paths are relative to.
        limit: At most this many files are returned.

    Returns:
        The context files, sorted by display path. A file that cannot be read
        is skipped: context only ever adds knowledge.
    """
    known = {s.path for s in given}
    loaded: list[SourceFile] = []
    queue = deque(given)
    while queue and len(loaded) < limit:
        source = queue.popleft()
        root = source_root(source)
        if root is None:
            continue
        for path in sorted({p.resolve() for p in _imported_files(root, symbols_of(source))}):
            if path in known or len(loaded) >= limit:
                continue
            known.add(path)
            try:
                context = SourceFile.from_path(path, cwd=cwd)
            except OSError:
                continue
            loaded.append(context)
            queue.append(context)
    return sorted(loaded, key=lambda s: s.display_path)
