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
import stat
import tokenize
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from .errors import PathNotFound, PathUnreadable
from .files import read_regular
from .limits import LIMIT_HINT, MAX_SOURCE_BYTES, parse_limited, too_deep, too_long

__all__ = [
    "SourceFile",
    "SyntaxProblem",
    "decode_source",
    "index_functions",
    "iter_python_files",
    "load_sources",
    "module_name",
    "read_source",
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
        hint: How to fix it, when the rule's hint (fix the syntax) does not fit:
            a limit of the compiler's (:data:`~vrb_compile.limits.LIMIT_HINT`).
    """

    message: str
    line: int
    column: int
    hint: str = ""


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
    # Python's tree, from the first parse until drop_ast(); parsed again if asked for after.
    _ast: ast.Module | None = field(default=None, init=False, repr=False, compare=False)
    # The file's ModuleSummary, once vrb_compile.summary has built it (then the ast can go).
    _summary: object = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, object]:
        # Worker processes re-parse on demand; shipping trees costs more than parsing.
        keep = ("path", "display_path", "module", "text", "sha256", "decode_error")
        return {k: self.__dict__[k] for k in keep} | {
            "_positions": {},
            "_ast": None,
            "_summary": None,
        }

    @classmethod
    def from_path(cls, path: Path, *, cwd: Path | None = None) -> SourceFile:
        """Read ``path`` (absolute or relative to ``cwd``).

        Raises:
            OSError: It cannot be read, or is not a regular file (see :func:`read_source`).
        """
        cwd = cwd or Path.cwd()
        path = Path(os.path.realpath(path if path.is_absolute() else cwd / path))
        data = read_source(path)
        return cls.from_bytes(path, data, display_path=_display_path(path, cwd))

    @classmethod
    def from_bytes(
        cls, path: Path, data: bytes, *, display_path: str, module: str | None = None
    ) -> SourceFile:
        """Build a source from bytes already read (used by tests and workers).

        Bytes beyond :data:`~vrb_compile.limits.MAX_SOURCE_BYTES` make a file
        without text whose ``decode_error`` says it is too long (``VRB001``).
        """
        problem: SyntaxProblem | None
        if len(data) > MAX_SOURCE_BYTES:
            text, problem = "", SyntaxProblem(too_long(), 1, 1, LIMIT_HINT)
        else:
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
    def _ast_facts(self) -> tuple[SyntaxProblem | None, tuple[int, ...]]:
        """What the ``ast`` parse says for good: the syntax problem, or the first line
        (decorators included) of each top-level statement."""
        if self.decode_error is not None:
            return self.decode_error, ()
        # Too long or too deep for LibCST and the walkers is refused here (see .limits).
        tree, problem = parse_limited(self.text, self.display_path)
        if tree is None:
            assert problem is not None
            return SyntaxProblem(*problem), ()
        self._ast = tree
        starts = tuple(
            min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
            for node in tree.body
        )
        return None, starts

    @property
    def ast_tree(self) -> ast.Module | None:
        """Python's own parse of the file, or ``None`` on a syntax error."""
        if self._ast_facts[0] is not None:
            return None
        if self._ast is None:  # dropped once the summary was built: parse it again
            self._ast = parse_limited(self.text, self.display_path)[0]
        return self._ast

    def drop_ast(self) -> None:
        """Forget the ``ast`` tree, which costs more memory than the LibCST one.

        :func:`~vrb_compile.summary.summarise` calls it once the file's summary is
        built: the summary holds what the checker needs, and the rare later use
        (suppression comments in a file with findings) parses the file again.
        """
        self._ast = None

    @cached_property
    def _cst_and_error(self) -> tuple[cst.Module | None, SyntaxProblem | None]:
        problem = self._ast_facts[0]
        if problem is not None:
            return None, problem
        try:
            return cst.parse_module(self.text), None
        except cst.ParserSyntaxError as exc:
            message = str(exc.message).splitlines()[0]
            return None, SyntaxProblem(message, exc.raw_line, exc.raw_column + 1)
        except (RecursionError, MemoryError):
            # below MAX_DEPTH by Python's measure, yet too deep for LibCST from this stack
            return None, SyntaxProblem(too_deep(stack=True), 1, 1, LIMIT_HINT)

    @property
    def tree(self) -> cst.Module | None:
        """The LibCST tree (parsed on first access), or ``None`` on a syntax error."""
        return self._cst_and_error[0]

    @property
    def syntax_error(self) -> SyntaxProblem | None:
        """The syntax problem found by Python's parser (cheap; no LibCST parse)."""
        return self._ast_facts[0]

    @property
    def cst_syntax_error(self) -> SyntaxProblem | None:
        """The problem LibCST's parser found (forces the LibCST parse)."""
        return self._cst_and_error[1]

    # -- positions ---------------------------------------------------------

    @cached_property
    def _top_lines(self) -> list[int] | None:
        """First line (decorators included) of each LibCST top-level statement."""
        problem, ast_starts = self._ast_facts
        module = self.tree
        if problem is not None or module is None:
            return None
        starts: list[int] = []
        index = 0
        for stmt in module.body:
            if index >= len(ast_starts):
                return None
            starts.append(ast_starts[index])
            # `a = 1; b = 2` is one LibCST line but two ast statements.
            index += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
        return starts if index == len(ast_starts) else None

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

    @cached_property
    def functions(self) -> dict[str, tuple[cst.FunctionDef, cst.CSTNode]]:
        """Every top-level function and class method of :attr:`tree` by qualname, with
        the top-level statement holding it (see :func:`index_functions`; empty
        without a tree)."""
        module = self.tree
        return index_functions(module) if module is not None else {}

    def find_function(self, qualname: str) -> cst.FunctionDef | None:
        """The top-level function or method ``qualname`` (``f`` or ``Cls.m``), if any."""
        found = self.functions.get(qualname)
        return found[0] if found is not None else None

    def segment(self, node: cst.CSTNode) -> str:
        """The exact source text of ``node``."""
        module = self.tree
        if module is None:
            raise KeyError("the file has no LibCST tree (syntax error)")
        return module.code_for_node(node)


def index_functions(tree: cst.Module) -> dict[str, tuple[cst.FunctionDef, cst.CSTNode]]:
    """Every top-level function and class method of ``tree`` by qualname (``f``,
    ``Cls.m``), with the top-level statement holding it.

    Definitions inside a top-level ``if``/``try`` count; the last definition of a
    name wins, as at runtime, except one inside an ``if``/``try`` over one at
    the top level.
    """
    index: dict[str, tuple[cst.FunctionDef, cst.CSTNode]] = {}
    for stmt in tree.body:
        inner = _compound_bodies(stmt) if isinstance(stmt, cst.If | cst.Try) else [stmt]
        for node in inner:
            if isinstance(node, cst.FunctionDef):
                if node is stmt or node.name.value not in index:
                    index[node.name.value] = (node, stmt)
            elif isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
                for item in node.body.body:
                    if isinstance(item, cst.FunctionDef):
                        index[f"{node.name.value}.{item.name.value}"] = (item, stmt)
    return index


def _compound_bodies(stmt: cst.If | cst.Try) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    blocks: list[cst.BaseSuite] = [stmt.body]
    if isinstance(stmt, cst.If) and stmt.orelse is not None:
        blocks.append(stmt.orelse.body)
    if isinstance(stmt, cst.Try):
        blocks.extend(h.body for h in stmt.handlers)
    for block in blocks:
        if isinstance(block, cst.IndentedBlock):
            out.extend(block.body)
    return out


def read_source(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the file at ``path``, at most one more than the compiler reads.

    A FIFO or a device named ``*.py`` is refused, not read (reading a FIFO
    blocks until someone writes to it; ``/dev/zero`` never ends), and a file
    longer than :data:`~vrb_compile.limits.MAX_SOURCE_BYTES` is read no further
    than its limit: :meth:`SourceFile.from_bytes` refuses it.

    Raises:
        OSError: The file cannot be opened or read, or is not a regular file.
    """
    return read_regular(path, MAX_SOURCE_BYTES)[0]


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


def iter_python_files(
    directory: Path, *, skip_dir: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Every ``*.py`` file below ``directory``, skipping hidden and build directories.

    Args:
        directory: Where to start.
        skip_dir: Directories it says yes to are not descended into (excluded ones).

    Raises:
        PathUnreadable: A directory on the way cannot be listed (no permission):
            a check that silently skipped it would pass without looking.
    """

    def fail(error: OSError) -> None:
        raise _unreadable(error.filename or os.fspath(directory), error)

    for root, dirs, files in os.walk(directory, onerror=fail):
        here = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIPPED_DIRS
            and not (skip_dir is not None and skip_dir(here / d))
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield here / name


def _unreadable(path: str | os.PathLike[str], error: OSError | str) -> PathUnreadable:
    reason = error if isinstance(error, str) else error.strerror or str(error)
    return PathUnreadable(os.fspath(path), reason)


def _kind(path: Path, shown: str | os.PathLike[str]) -> int:
    """The ``st_mode`` of ``path`` (symlinks followed), or why it cannot be used."""
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        if os.path.lexists(path):
            raise _unreadable(shown, "it is a symlink to a path that does not exist") from None
        raise PathNotFound(os.fspath(shown)) from None
    except OSError as exc:  # a symlink loop, a name too long, a parent without permission
        raise _unreadable(shown, exc) from None
    except ValueError:  # a NUL, or a lone surrogate the file system cannot encode
        raise PathNotFound(os.fspath(shown)) from None


def _expand(
    paths: Iterable[str | os.PathLike[str]],
    cwd: Path,
    skip_dir: Callable[[Path], bool] | None,
) -> list[Path]:
    found: dict[Path, None] = {}
    for raw in paths:
        given = Path(raw)
        path = given if given.is_absolute() else cwd / given
        mode = _kind(path, raw)
        if stat.S_ISDIR(mode):
            try:
                for file in iter_python_files(path, skip_dir=skip_dir):
                    if not stat.S_ISREG(_kind(file, file)):
                        raise _unreadable(file, "not a regular file")
                    found.setdefault(Path(os.path.realpath(file)), None)
            except PathUnreadable as exc:  # named as the user sees paths
                raise PathUnreadable(_display_path(Path(exc.path), cwd), exc.reason) from None
        elif stat.S_ISREG(mode):
            found.setdefault(Path(os.path.realpath(path)), None)
        else:
            raise _unreadable(raw, "not a regular file or directory")
    return list(found)


def load_sources(
    paths: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    skip_dir: Callable[[Path], bool] | None = None,
) -> list[SourceFile]:
    """Read every Python file named by ``paths`` (files or package directories).

    Args:
        paths: Files or package directories.
        cwd: Directory display paths are relative to (default: the working directory).
        skip_dir: Directories below ``paths`` it says yes to are not read (excluded ones).

    Returns:
        The files, sorted by display path, each once.

    Raises:
        PathNotFound: A path does not exist.
        PathUnreadable: A path, or a file or directory below one, cannot be read
            (no permission, a symlink loop or a dangling symlink, not a regular file).
    """
    cwd = (cwd or Path.cwd()).resolve()
    files: list[SourceFile] = []
    for path in _expand(paths, cwd, skip_dir):
        try:
            files.append(SourceFile.from_path(path, cwd=cwd))
        except OSError as exc:
            raise _unreadable(_display_path(path, cwd), exc) from None
    return sorted(files, key=lambda f: f.display_path)
