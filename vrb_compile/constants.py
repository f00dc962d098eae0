"""Module-level constants: which top-level names have a value the compiler can know.

A step's or workflow's options may be given by name (``retries=RETRIES``); the
compiler evaluates them (:mod:`vrb_compile.options`) from each module's
constants, collected here from the top level of Python's ``ast`` tree, cheaply,
as part of the cached per-file summary.

A name is a constant when it is bound exactly once, unconditionally, by a
plain assignment (``RETRIES = 3``, ``RETRIES: int = 3``) and nothing else in
the module rebinds or changes it: no second assignment, ``+=``, ``del``,
import or definition of the same name, no ``global RETRIES`` in a function, no
``RETRIES[...] = ...`` or method call on it at the top level. For every other
name bound at the top level, :class:`Constant` records why its value is not
known (the diagnostic says so); names bound once by an ``import``, ``def`` or
``class`` get no entry (the symbol table says what they are).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Constant", "collect_constants"]

#: Assigned values with more nodes than this are not kept (a lookup table, not an option).
MAX_NODES = 400


@dataclass(frozen=True)
class Constant:
    """What option evaluation knows about one module-level name.

    Attributes:
        line: The line of its (first) binding.
        source: The assigned expression (``ast.unparse`` text) when the name is
            a constant; ``""`` otherwise.
        problem: Why its value cannot be known at compile time, phrased to
            follow the name (``"is assigned again at line 7"``); ``""`` for a
            constant.
    """

    line: int
    source: str = ""
    problem: str = ""


_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}


@dataclass(frozen=True)
class _Binding:
    line: int
    kind: str  # a key of _KIND_WORDS
    block: str | None  # the compound statement it is inside ("if", "try", "for"...), if any
    value: ast.expr | None = None
    op: str = ""  # the operator of an augmented assignment


class _Collector:
    def __init__(self) -> None:
        self.bindings: dict[str, list[_Binding]] = {}
        self.changed: dict[str, int] = {}

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def change(self, target: ast.expr, line: int) -> None:
        # RETRIES["x"] = 1, RETRIES.x = 1, RETRIES.update(...): the value is changed in place
        while isinstance(target, ast.Attribute | ast.Subscript):
            target = target.value
        if isinstance(target, ast.Name):
            self.changed.setdefault(target.id, line)

    def target(self, node: ast.expr, line: int, block: str | None, kind: str) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id, _Binding(line, kind, block))
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.target(elt, line, block, kind)
        elif isinstance(node, ast.Starred):
            self.target(node.value, line, block, kind)
        else:
            self.change(node, line)

    def statements(self, body: Iterable[ast.stmt], block: str | None) -> None:
        for stmt in body:
            self.statement(stmt, block)

    def statement(self, stmt: ast.stmt, block: str | None) -> None:
        line = stmt.lineno
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    self.bind(target.id, _Binding(line, "assign", block, stmt.value))
                else:
                    self.target(target, line, block, "unpack")
        elif isinstance(stmt, ast.AnnAssign):
            if isinstance(stmt.target, ast.Name):
                if stmt.value is not None:  # a bare annotation binds nothing
                    self.bind(stmt.target.id, _Binding(line, "assign", block, stmt.value))
            else:
                self.change(stmt.target, line)
        elif isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, ast.Name):
                op = _OPERATORS.get(type(stmt.op), "")
                self.bind(stmt.target.id, _Binding(line, "augmented", block, op=op))
            else:
                self.change(stmt.target, line)
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                self.target(target, line, block, "del")
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                if alias.name != "*":
                    name = alias.asname or alias.name.split(".")[0]
                    self.bind(name, _Binding(line, "import", block))
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.bind(stmt.name, _Binding(line, "def", block))
        elif isinstance(stmt, ast.Expr):
            call = stmt.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                self.change(call.func.value, line)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            self.target(stmt.target, line, "for", "for")
            self.statements(stmt.body, "for")
            self.statements(stmt.orelse, "for")
        elif isinstance(stmt, ast.While):
            self.statements(stmt.body, "while")
            self.statements(stmt.orelse, "while")
        elif isinstance(stmt, ast.If):
            self.statements(stmt.body, "if")
            self.statements(stmt.orelse, "if")
        elif isinstance(stmt, ast.Try | ast.TryStar):
            self.statements(stmt.body, "try")
            for handler in stmt.handlers:
                if handler.name:
                    self.bind(handler.name, _Binding(handler.lineno, "except", "try"))
                self.statements(handler.body, "try")
            self.statements(stmt.orelse, "try")
            self.statements(stmt.finalbody, block)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    self.target(item.optional_vars, line, block, "with")
            self.statements(stmt.body, block)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                self.statements(case.body, "match")


def _globals(tree: ast.Module) -> dict[str, tuple[str, int]]:
    """``global NAME`` declarations in functions: the function and the line, by name."""
    found: dict[str, tuple[str, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Global):
                    for name in inner.names:
                        found.setdefault(name, (node.name, inner.lineno))
    return found


def _walrus(tree: ast.Module) -> dict[str, int]:
    """Names bound by ``:=`` outside functions (they bind in the module's scope)."""
    found: dict[str, int] = {}
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            found.setdefault(node.target.id, node.lineno)
        stack.extend(ast.iter_child_nodes(node))
    return found


_KIND_WORDS = {
    "augmented": "changed by an augmented assignment",
    "del": "deleted",
    "import": "imported",
    "def": "defined",
    "for": "bound by a `for` loop",
    "with": "bound by a `with` statement",
    "except": "bound by an `except` clause",
    "unpack": "assigned by unpacking",
    "walrus": "assigned by `:=`",
    "assign": "assigned",
}


def _entry(
    bindings: list[_Binding], changed: int | None, declared: tuple[str, int] | None
) -> Constant | None:
    first = bindings[0] if bindings else None
    line = first.line if first is not None else (changed or 1)
    if declared is not None:
        function, at = declared
        return Constant(line, problem=f"is declared `global` in {function}() (line {at})")
    if len(bindings) > 1:
        again = bindings[1]
        if again.kind == "augmented":
            return Constant(line, problem=f"is changed by `{again.op}=` at line {again.line}")
        return Constant(line, problem=f"is {_KIND_WORDS[again.kind]} again at line {again.line}")
    if first is None:
        return None
    if first.block is not None:
        return Constant(
            line,
            problem=f"is {_KIND_WORDS[first.kind]} inside a top-level `{first.block}` "
            f"(line {first.line}), so its value depends on how the module runs",
        )
    if first.kind == "assign" and changed is not None:
        return Constant(line, problem=f"is changed in place at line {changed}")
    if first.kind in ("import", "def"):
        return None  # the symbol table says what the name is
    if first.kind != "assign" or first.value is None:
        return Constant(line, problem=f"is {_KIND_WORDS[first.kind]} at line {first.line}")
    if sum(1 for _ in ast.walk(first.value)) > MAX_NODES:
        return Constant(line, problem=f"has a value at line {line} too large to evaluate")
    return Constant(line, source=ast.unparse(first.value))


def collect_constants(tree: ast.Module, text: str) -> dict[str, Constant]:
    """Every name bound at the top level of ``tree`` that is, or looks like, a constant.

    Args:
        tree: The module's ``ast`` tree.
        text: Its source (the costlier walks run only when it holds ``global`` or ``:=``).

    Returns:
        By name: the constants, and the names that are assigned or changed but
        whose value is not known (with the reason), sorted.
    """
    collector = _Collector()
    collector.statements(tree.body, None)
    declared = _globals(tree) if "global" in text else {}
    if ":=" in text:
        for name, line in _walrus(tree).items():
            collector.bind(name, _Binding(line, "walrus", None))
    out: dict[str, Constant] = {}
    names = {*collector.bindings, *collector.changed, *declared}
    for name in sorted(names):
        bindings = sorted(collector.bindings.get(name, []), key=lambda b: b.line)
        assigned = any(b.kind != "import" and b.kind != "def" for b in bindings)
        # Calling a method of an imported module (logging.basicConfig()) changes nothing
        # an option could read; only assigned names count as changed in place.
        changed = collector.changed.get(name) if assigned else None
        if not bindings and name not in declared:
            continue
        entry = _entry(bindings, changed, declared.get(name))
        if entry is not None:
            out[name] = entry
    return out
