"""One Python source file as the compiler sees it.

A :class:`SourceFile` is cheap to create: it holds the text and its hash. The
LibCST tree and Python's ``ast`` tree are parsed lazily, on first use, because
most of a large package never needs a LibCST tree (only workflow modules and
the helpers they call do), and a LibCST parse is about ten times the cost of
an ``ast`` parse.

Positions are computed lazily too: :meth:`SourceFile.position` runs LibCST's
``PositionProvider`` on the single top-level statement enclosing a node (as a
one-statement synthetic module, shifted by the statement's first line, which
the ``ast`` tree gives for free). Running it on a whole module costs several
times the parse, and the checker must cost at most about twice the parse.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from .errors import PathNotFound

__all__ = [
    "SourceFile",
    "SyntaxProblem",
    "decode_source",
    "iter_python_files",
    "load_sources",
    "module_name",
]

#: Directory names never descended into when a package directory is given.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "build", "dist"})


@dataclass(frozen=True)
class SyntaxProblem:
    """Why a file could not be parsed (becomes a ``VRB001`` diagnostic).

    Attributes:
        message: The parser's message, one line.
        line: 1-based line.
        column: 1-based column.
    """

    message: str
    line: int
    column: int


def module_name(path: Path) -> str:
    """The dotted module name of ``path``, from its package root.

    The root is found by walking up while the directory holds an ``__init__.py``;
    ``pkg/sub/__init__.py`` is ``pkg.sub`` and a file outside any package is its stem.
    """
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.append(directory.name)
        if directory.parent == directory:
            break
        directory = directory.parent
    return ".".join(reversed(parts)) or path.stem


def _display_path(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass(eq=False)
class SourceFile:
    """One file: its text, hash, module name, and lazily parsed trees.

    Attributes:
        path: Absolute path.
        display_path: Relative to the working directory when below it, else
            absolute; posix separators.
        module: Dotted module name (``shop.orders``).
        text: The decoded source.
        sha256: Hex digest of the file's bytes.
        decode_error: Set when the bytes cannot be decoded (UTF-8, or the
            encoding the file declares, PEP 263).
    """

    path: Path
    display_path: str
    module: str
    text: str
    sha256: str
    decode_error: SyntaxProblem | None = None
    _positions: dict[int, dict[cst.CSTNode, CodeRange]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __getstate__(self) -> dict[str, object]:
        # Worker processes re-parse on demand; shipping trees costs more than parsing.
        keep = ("path", "display_path", "module", "text", "sha256", "decode_error")
        return {k: self.__dict__[k] for k in keep} | {"_positions": {}}

    @classmethod
    def from_path(cls, path: Path, *, cwd: Path | None = None) -> SourceFile:
        """Read ``path`` (absolute or relative to ``cwd``)."""
        cwd = cwd or Path.cwd()
        path = (cwd / path).resolve() if not path.is_absolute() else path.resolve()
        data = path.read_bytes()
        return cls.from_bytes(path, data, display_path=_display_path(path, cwd))

    @classmethod
    def from_bytes(
        cls, path: Path, data: bytes, *, display_path: str, module: str | None = None
    ) -> SourceFile:
        """Build a source from bytes already read (used by tests and workers)."""
        text, problem = decode_source(data)
        return cls(
            path=path,
            display_path=display_path,
            module=module if module is not None else module_name(path),
            text=text,
            sha256=hashlib.sha256(data).hexdigest(),
            decode_error=problem,
        )

    @property
    def is_package(self) -> bool:
        """True for a package's ``__init__.py`` (relative imports start from it)."""
        return self.path.name == "__init__.py"

    # -- trees -------------------------------------------------------------

    @cached_property
    def ast_tree(self) -> ast.Module | None:
        """Python's own parse of the file, or ``None`` on a syntax error."""
        return self._ast_and_error[0]

    @cached_property
    def _ast_and_error(self) -> tuple[ast.Module | None, SyntaxProblem | None]:
        if self.decode_error is not None:
            return None, self.decode_error
        try:
            return ast.parse(self.text, filename=self.display_path), None
        except SyntaxError as exc:
            message = (exc.msg or "invalid syntax").splitlines()[0]
            return None, SyntaxProblem(message, exc.lineno or 1, max(exc.offset or 1, 1))
        except ValueError as exc:  # e.g. null bytes in the source
            return None, SyntaxProblem(str(exc), 1, 1)

    @cached_property
    def _cst_and_error(self) -> tuple[cst.Module | None, SyntaxProblem | None]:
        tree, problem = self._ast_and_error
        if tree is None:
            return None, problem
        try:
            return cst.parse_module(self.text), None
        except cst.ParserSyntaxError as exc:
            message = str(exc.message).splitlines()[0]
            return None, SyntaxProblem(message, exc.raw_line, exc.raw_column + 1)

    @property
    def tree(self) -> cst.Module | None:
        """The LibCST tree (parsed on first access), or ``None`` on a syntax error."""
        return self._cst_and_error[0]

    @property
    def syntax_error(self) -> SyntaxProblem | None:
        """The syntax problem found by Python's parser (cheap; no LibCST parse)."""
        return self._ast_and_error[1]

    @property
    def cst_syntax_error(self) -> SyntaxProblem | None:
        """The problem LibCST's parser found (forces the LibCST parse)."""
        return self._cst_and_error[1]

    # -- positions ---------------------------------------------------------

    @cached_property
    def _top_lines(self) -> list[int] | None:
        """First line (decorators included) of each LibCST top-level statement."""
        tree, module = self.ast_tree, self.tree
        if tree is None or module is None:
            return None
        starts: list[int] = []
        index = 0
        for stmt in module.body:
            if index >= len(tree.body):
                return None
            node = tree.body[index]
            decorators = getattr(node, "decorator_list", ())
            starts.append(min([node.lineno, *(d.lineno for d in decorators)]))
            # `a = 1; b = 2` is one LibCST line but two ast statements.
            index += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        return starts if index == len(tree.body) else None

    def _ranges_for(self, index: int) -> dict[cst.CSTNode, CodeRange]:
        ranges = self._positions.get(index)
        if ranges is not None:
            return ranges
        module = self.tree
        assert module is not None
        starts = self._top_lines
        if starts is None:
            # ast and LibCST disagree on the statement list: pay for a whole-module pass.
            ranges = dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
            for i in range(len(module.body)):
                self._positions[i] = ranges
            return ranges
        stmt = module.body[index]
        single = module.with_changes(body=[stmt], header=(), footer=())
        raw = MetadataWrapper(single, unsafe_skip_copy=True).resolve(PositionProvider)
        shift = starts[index] - (len(stmt.leading_lines) + 1)
        ranges = {}
        for node, rng in raw.items():
            ranges[node] = CodeRange(
                (rng.start.line + shift, rng.start.column), (rng.end.line + shift, rng.end.column)
            )
        self._positions[index] = ranges
        return ranges

    def position(
        self, node: cst.CSTNode, *, top: cst.CSTNode | None = None
    ) -> tuple[int, int, int, int]:
        """``(line, column, end_line, end_column)`` of ``node``, all 1-based.

        ``end_column`` is the column just past the node's last character.

        Args:
            node: A node of :attr:`tree`.
            top: The top-level statement enclosing ``node``, when the caller
                knows it (saves a search).

        Raises:
            KeyError: ``node`` is not part of this file's tree.
        """
        module = self.tree
        if module is None:
            raise KeyError("the file has no LibCST tree (syntax error)")
        if top is not None:
            for i, stmt in enumerate(module.body):
                if stmt is top:
                    rng = self._ranges_for(i).get(node)
                    if rng is not None:
                        return _one_based(rng)
                    break
        for ranges in list(self._positions.values()):
            rng = ranges.get(node)
            if rng is not None:
                return _one_based(rng)
        for i in range(len(module.body)):
            if i not in self._positions:
                rng = self._ranges_for(i).get(node)
                if rng is not None:
                    return _one_based(rng)
        raise KeyError(f"node not found in {self.display_path}")

    def segment(self, node: cst.CSTNode) -> str:
        """The exact source text of ``node``."""
        module = self.tree
        if module is None:
            raise KeyError("the file has no LibCST tree (syntax error)")
        return module.code_for_node(node)


def decode_source(data: bytes) -> tuple[str, SyntaxProblem | None]:
    """The text of a Python file, decoded as Python would (PEP 263).

    A ``# -*- coding: latin-1 -*-`` line (or a UTF-8 BOM) decides the encoding,
    UTF-8 otherwise. Positions are then counted in characters of the decoded
    text, whatever the encoding of the bytes.

    Returns:
        The text and ``None``, or a best-effort text and the problem that
        makes the file unreadable to Python (reported as ``VRB001``).
    """
    declared: SyntaxError | None = None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # an unknown encoding, a BOM contradicting the declaration, or (most often)
        # bytes that are not UTF-8 in the first two lines: decoding as UTF-8
        # below finds the offending line
        declared, encoding = exc, "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        shown = "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding
        problem = SyntaxProblem(f"the file is not valid {shown} ({exc.reason})", line, 1)
        return data.decode(encoding, errors="replace"), problem
    if declared is not None:
        message = (declared.msg or "invalid encoding declaration").splitlines()[0]
        return text, SyntaxProblem(message, declared.lineno or 1, 1)
    return text, None


def _one_based(rng: CodeRange) -> tuple[int, int, int, int]:
    return (rng.start.line, rng.start.column + 1, rng.end.line, rng.end.column + 1)


def iter_python_files(directory: Path) -> Iterator[Path]:
    """Every ``*.py`` file below ``directory``, skipping hidden and build directories."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(root) / name


def _expand(paths: Iterable[str | os.PathLike[str]], cwd: Path) -> list[Path]:
    found: dict[Path, None] = {}
    for raw in paths:
        given = Path(raw)
        path = given if given.is_absolute() else cwd / given
        if path.is_dir():
            for file in iter_python_files(path):
                found.setdefault(file.resolve(), None)
        elif path.is_file():
            found.setdefault(path.resolve(), None)
        else:
            raise PathNotFound(os.fspath(raw))
    return list(found)


def load_sources(
    paths: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None
) -> list[SourceFile]:
    """Read every Python file named by ``paths`` (files or package directories).

    Returns:
        The files, sorted by display path, each once.

    Raises:
        PathNotFound: A path does not exist.
    """
    cwd = (cwd or Path.cwd()).resolve()
    files = [SourceFile.from_path(p, cwd=cwd) for p in _expand(paths, cwd)]
    return sorted(files, key=lambda f: f.display_path)
