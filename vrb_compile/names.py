"""Lean name resolution: module symbol tables and qualified names.

LibCST's ``ScopeProvider`` + ``QualifiedNameProvider`` cost several times the
parse on a whole module, while the checker only needs the names that workflow
bodies (and the helpers they call) use. So this module builds, from Python's
``ast`` tree, a symbol table of each module's *top-level* statements only:

* imports with aliases (``import datetime as dt``, ``from time import time as now``),
  relative imports, and ``from x import *``;
* imports and definitions inside top-level ``if``/``try`` blocks, which give a
  name several candidate targets (``try: import ujson as json`` / ``except: import json``);
* module-level ``def``/``class`` and assignments, including value aliases
  (``clock = datetime.now``), and whether an assigned value is a mutable container.

:class:`SymbolTable` resolves a dotted reference (``dt.datetime.now``) in a
module to its candidate :class:`Target` s, following re-exports through the
analysed modules. Function-local scopes are the analysis engine's business
(:mod:`vrb_compile.analysis.scope`): a local name shadows everything here.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Binding",
    "ModuleSymbols",
    "SymbolTable",
    "Target",
    "build_symbols",
    "dotted_name",
]

BindingKind = Literal["import", "def", "asyncdef", "class", "alias", "data", "step", "workflow"]
TargetKind = Literal[
    "def",
    "asyncdef",
    "class",
    "data",
    "step",
    "workflow",
    "module",
    "missing",
    "member",
    "external",
    "builtin",
    "unresolved",
]

#: Callables of the SDK the compiler recognises, by canonical qualified name.
RUNTIME_ALIASES = {
    "runtime.sdk.step": "runtime.step",
    "runtime.sdk.workflow": "runtime.workflow",
    "runtime.sdk.Step": "runtime.Step",
    "runtime.sdk.Workflow": "runtime.Workflow",
    "runtime.context.WorkflowContext": "runtime.WorkflowContext",
    "runtime.context.StepContext": "runtime.StepContext",
    "runtime.sdk.WorkflowContext": "runtime.WorkflowContext",
    "runtime.sdk.StepContext": "runtime.StepContext",
}

_MUTABLE_CALLS = frozenset(
    {
        "list",
        "dict",
        "set",
        "bytearray",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
    }
)


_SET_OPS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)
_SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference", "copy"})
_SET_ANNOTATIONS = frozenset({"set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet"})


@dataclass(frozen=True)
class Binding:
    """What a module-level name is bound to.

    Attributes:
        kind: ``import`` (a module or a name imported from one), ``def`` /
            ``asyncdef`` / ``class`` (defined here), ``alias`` (assigned a dotted
            reference), ``data`` (assigned any other value), ``step`` /
            ``workflow`` (assigned or decorated by the SDK).
        target: The qualified name the binding stands for.
        mutable: For ``data``: the value is a mutable container display or constructor.
        origin: For ``data`` built by a call: the callee's qualified name, with
            any attributes read from the result (``aiohttp.ClientSession`` for
            ``session = aiohttp.ClientSession()``, ``requests.Session.get`` for
            ``get = requests.Session().get``), so calls on the object can be
            matched against the rule tables.
        is_set: For ``data``: the value is a set or frozenset; for ``def``:
            the function returns one (by its annotation, or every ``return``),
            so iterating it depends on an order a replay may not reproduce.
    """

    kind: BindingKind
    target: str
    mutable: bool = False
    origin: str = ""
    is_set: bool = False


@dataclass(frozen=True)
class Target:
    """One candidate meaning of a resolved reference.

    Attributes:
        qname: Canonical qualified name (``datetime.datetime.now``).
        kind: What it is: a definition in an analysed module (``def``,
            ``asyncdef``, ``class``, ``data``, ``step``, ``workflow``), an
            analysed ``module``, a name an analysed module does not define
            (``missing``: a typo, or a module the compiler cannot see), an
            attribute of a function, step or workflow defined in an analysed
            module (``member``), something in a module outside the analysed
            sources (``external``), a ``builtin``, or ``unresolved``.
        mutable: For ``data``: a mutable module-level container.
        origin: For ``data`` built by a call: what the reference means in terms
            of the callee (``aiohttp.ClientSession.get`` for ``session.get``).
        is_set: See :attr:`Binding.is_set`.
    """

    qname: str
    kind: TargetKind
    mutable: bool = False
    origin: str = ""
    is_set: bool = False


@dataclass
class ModuleSymbols:
    """The top-level symbol table of one module.

    Attributes:
        module: Dotted module name.
        is_package: True for a package ``__init__``.
        bindings: Candidate bindings of each top-level name (several when
            bound in different branches of a top-level ``if``/``try``).
        star_imports: Modules imported with ``from m import *``, in order.
        imports: Every absolute name imported at the top level (``shop.steps``
            for ``import shop.steps``, ``shop.steps.charge`` for
            ``from .steps import charge``), sorted; used to find the modules a
            file depends on.
    """

    module: str
    is_package: bool = False
    bindings: dict[str, tuple[Binding, ...]] = field(default_factory=dict)
    star_imports: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (for the cache)."""
        return {
            "module": self.module,
            "is_package": self.is_package,
            "bindings": {
                name: [[b.kind, b.target, b.mutable, b.origin, b.is_set] for b in bs]
                for name, bs in sorted(self.bindings.items())
            },
            "star_imports": list(self.star_imports),
            "imports": list(self.imports),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModuleSymbols:
        """Inverse of :meth:`to_json`."""
        return cls(
            module=data["module"],
            is_package=data["is_package"],
            bindings={
                name: tuple(Binding(*b) for b in bs) for name, bs in data["bindings"].items()
            },
            star_imports=tuple(data["star_imports"]),
            imports=tuple(data["imports"]),
        )


def dotted_name(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else ``None``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from <level dots><name> import ...`` in ``module``."""
    if level == 0:
        return name or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: max(len(parts) - (level - 1), 0)]
    base = ".".join(parts)
    if name:
        return f"{base}.{name}" if base else name
    return base


class _Builder:
    def __init__(self, module: str, is_package: bool) -> None:
        self.symbols = ModuleSymbols(module, is_package)
        self.stars: list[str] = []
        self.imports: set[str] = set()

    def bind(self, name: str, binding: Binding, conditional: bool) -> None:
        existing = self.symbols.bindings.get(name, ())
        if conditional and existing:
            if binding not in existing:
                self.symbols.bindings[name] = (*existing, binding)
        else:
            self.symbols.bindings[name] = (binding,)

    def local_resolve(self, dotted: str) -> list[str]:
        """Resolve ``dotted`` against what has been bound so far (no cross-module step)."""
        head, _, rest = dotted.partition(".")
        bindings = self.symbols.bindings.get(head)
        suffix = f".{rest}" if rest else ""
        if not bindings:
            if hasattr(builtins, head):
                return [f"builtins.{dotted}"]
            return [f"{self.symbols.module}.{dotted}"]
        return [b.target + suffix for b in bindings]

    def statements(self, body: Iterable[ast.stmt], conditional: bool) -> None:
        for stmt in body:
            self.statement(stmt, conditional)

    def statement(self, stmt: ast.stmt, conditional: bool) -> None:
        module = self.symbols.module
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                self.imports.add(alias.name)
                if alias.asname:
                    self.bind(alias.asname, Binding("import", alias.name), conditional)
                else:
                    head = alias.name.split(".")[0]
                    self.bind(head, Binding("import", head), conditional)
        elif isinstance(stmt, ast.ImportFrom):
            base = resolve_relative(module, self.symbols.is_package, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    self.stars.append(base)
                    self.imports.add(base)
                    continue
                target = f"{base}.{alias.name}" if base else alias.name
                self.imports.add(target)
                self.bind(alias.asname or alias.name, Binding("import", target), conditional)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            kind: BindingKind = "asyncdef" if isinstance(stmt, ast.AsyncFunctionDef) else "def"
            if any(
                self._is_sdk_call(d, ("runtime.step", "runtime.Step")) for d in stmt.decorator_list
            ):
                kind = "step"
            elif any(
                self._is_sdk_call(d, ("runtime.workflow", "runtime.Workflow"))
                for d in stmt.decorator_list
            ):
                kind = "workflow"
            returns_set = isinstance(stmt, ast.FunctionDef) and self.returns_set(stmt)
            self.bind(
                stmt.name, Binding(kind, f"{module}.{stmt.name}", is_set=returns_set), conditional
            )
        elif isinstance(stmt, ast.ClassDef):
            self.bind(stmt.name, Binding("class", f"{module}.{stmt.name}"), conditional)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            value = stmt.value
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for assigned in targets:
                if isinstance(assigned, ast.Name):
                    for binding in self._value_bindings(assigned.id, value):
                        self.bind(assigned.id, binding, conditional)
                elif isinstance(assigned, ast.Tuple | ast.List):
                    for elt in assigned.elts:
                        if isinstance(elt, ast.Name):
                            self.bind(elt.id, Binding("data", f"{module}.{elt.id}"), conditional)
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            pass  # rebinding with the same kind of value; keep the first binding
        elif isinstance(stmt, ast.If):
            self.statements(stmt.body, True)
            self.statements(stmt.orelse, True)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            self.statements(stmt.body, True)
            for handler in stmt.handlers:
                self.statements(handler.body, True)
            self.statements(stmt.orelse, True)
            self.statements(stmt.finalbody, conditional)
        elif isinstance(stmt, ast.With):
            self.statements(stmt.body, conditional)

    def _is_sdk_call(self, node: ast.expr, names: tuple[str, ...]) -> bool:
        if isinstance(node, ast.Call):
            node = node.func
        dotted = dotted_name(node)
        if dotted is None:
            return False
        return any(RUNTIME_ALIASES.get(q, q) in names for q in self.local_resolve(dotted))

    def _origin(self, value: ast.expr) -> str:
        """``pkg.Cls.attr`` for ``pkg.Cls(...).attr`` (the first candidate), else ``""``."""
        attrs: list[str] = []
        while isinstance(value, ast.Attribute):
            attrs.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Call):
            return ""
        dotted = dotted_name(value.func)
        if dotted is None:
            return ""
        return ".".join([self.local_resolve(dotted)[0], *reversed(attrs)])

    def _value_bindings(self, name: str, value: ast.expr | None) -> list[Binding]:
        module = self.symbols.module
        if value is None:
            return [Binding("data", f"{module}.{name}")]
        if isinstance(value, ast.Call):
            func = value.func
            # workflow("n").run(fn) evaluates to the Workflow object
            if isinstance(func, ast.Attribute) and func.attr == "run":
                func = func.value.func if isinstance(func.value, ast.Call) else func.value
            if self._is_sdk_call(func, ("runtime.step", "runtime.Step")):
                return [Binding("step", f"{module}.{name}")]
            if self._is_sdk_call(func, ("runtime.workflow", "runtime.Workflow")):
                return [Binding("workflow", f"{module}.{name}")]
            dotted = dotted_name(value.func)
            mutable = dotted is not None and any(
                q.removeprefix("builtins.") in _MUTABLE_CALLS for q in self.local_resolve(dotted)
            )
            is_set = self.is_set_value(value)
            return [Binding("data", f"{module}.{name}", mutable, self._origin(value), is_set)]
        dotted = dotted_name(value)
        if dotted is not None:
            return [Binding("alias", q) for q in self.local_resolve(dotted)]
        if isinstance(value, ast.Attribute):
            return [Binding("data", f"{module}.{name}", False, self._origin(value))]
        mutable = isinstance(
            value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp
        )
        return [Binding("data", f"{module}.{name}", mutable, is_set=self.is_set_value(value))]

    def is_set_value(self, value: ast.expr, local: Mapping[str, bool] | None = None) -> bool:
        """Whether ``value`` evaluates to a set, by construction.

        Args:
            value: An expression at the top level, or inside a function when
                ``local`` is given.
            local: Inside a function: whether each local name holds a set
                (locals shadow the module's names).
        """
        if isinstance(value, ast.Set | ast.SetComp):
            return True
        if isinstance(value, ast.BinOp) and isinstance(value.op, _SET_OPS):
            return self.is_set_value(value.left, local) or self.is_set_value(value.right, local)
        called = isinstance(value, ast.Call)
        if isinstance(value, ast.Call):
            if isinstance(value.func, ast.Attribute) and value.func.attr in _SET_METHODS:
                return self.is_set_value(value.func.value, local)
            value = value.func
        dotted = dotted_name(value)
        if dotted is None or "." in dotted:
            return False  # an attribute of an imported module: resolved when it is used
        if local is not None and dotted in local:
            return not called and local[dotted]
        bindings = self.symbols.bindings.get(dotted)
        if not bindings:
            return called and dotted in ("set", "frozenset")
        kind = "def" if called else "data"
        return all(b.kind == kind and b.is_set for b in bindings)

    def returns_set(self, fn: ast.FunctionDef) -> bool:
        """Whether ``fn`` returns a set: by its annotation, or because every ``return`` does."""
        if fn.returns is not None:
            ann = fn.returns.value if isinstance(fn.returns, ast.Subscript) else fn.returns
            if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
                return ann.value.split("[")[0].split(".")[-1].strip() in _SET_ANNOTATIONS
            dotted = dotted_name(ann)
            return dotted is not None and dotted.split(".")[-1] in _SET_ANNOTATIONS
        returns: list[ast.expr | None] = []
        assigned: dict[str, list[ast.expr | None]] = {}
        for arg in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs):
            assigned.setdefault(arg.arg, []).append(None)
        for extra in (fn.args.vararg, fn.args.kwarg):
            if extra is not None:
                assigned.setdefault(extra.arg, []).append(None)
        stack: list[ast.AST] = list(fn.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                if not isinstance(node, ast.Lambda):
                    assigned.setdefault(node.name, []).append(None)
                continue
            if isinstance(node, ast.Return):
                returns.append(node.value)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for assigned_to in targets:
                    whole = isinstance(assigned_to, ast.Name)
                    for bound in ast.walk(assigned_to):
                        if isinstance(bound, ast.Name):
                            assigned.setdefault(bound.id, []).append(node.value if whole else None)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                if not isinstance(node.op, ast.BitOr):  # s |= other keeps a set a set
                    assigned.setdefault(node.target.id, []).append(None)
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension | ast.withitem):
                loop_target = node.optional_vars if isinstance(node, ast.withitem) else node.target
                for bound in ast.walk(loop_target) if loop_target is not None else ():
                    if isinstance(bound, ast.Name):
                        assigned.setdefault(bound.id, []).append(None)
            stack.extend(ast.iter_child_nodes(node))
        local = dict.fromkeys(assigned, False)
        changed = True
        while changed:  # s2 = s1 | s0: iterate until nothing more is known to be a set
            changed = False
            for local_name, values in assigned.items():
                if not local[local_name] and all(
                    v is not None and self.is_set_value(v, local) for v in values
                ):
                    local[local_name] = changed = True
        return bool(returns) and all(r is not None and self.is_set_value(r, local) for r in returns)


def build_symbols(tree: ast.Module, module: str, *, is_package: bool = False) -> ModuleSymbols:
    """The top-level symbol table of ``tree``."""
    builder = _Builder(module, is_package)
    builder.statements(tree.body, False)
    builder.symbols.star_imports = tuple(builder.stars)
    builder.symbols.imports = tuple(sorted(i for i in builder.imports if i))
    return builder.symbols


_STDLIB = frozenset(sys.stdlib_module_names)


def _stdlib_has(module: str, name: str) -> bool:
    # Only standard-library modules are imported to answer a star import;
    # user and third-party code is never executed by the compiler.
    if module.split(".")[0] not in _STDLIB:
        return False
    try:
        return hasattr(importlib.import_module(module), name)
    except Exception:  # an unimportable stdlib module on this platform
        return False


class SymbolTable:
    """Every analysed module's symbols; resolves references across modules."""

    def __init__(self, modules: Mapping[str, ModuleSymbols]) -> None:
        self.modules = dict(modules)
        self._cache: dict[tuple[str, str], tuple[Target, ...]] = {}

    def resolve(self, module: str, dotted: str) -> tuple[Target, ...]:
        """The candidate meanings of ``dotted`` used at the top level of ``module``.

        Args:
            module: The module the reference appears in.
            dotted: A Name/Attribute chain as text (``dt.datetime.now``).

        Returns:
            One target per candidate binding, sorted; ``unresolved`` when the
            head name is bound nowhere.
        """
        key = (module, dotted)
        cached = self._cache.get(key)
        if cached is None:
            found = {t.qname: t for t in self._resolve(module, dotted)}
            cached = tuple(found[q] for q in sorted(found))
            self._cache[key] = cached
        return cached

    def _resolve(self, module: str, dotted: str) -> list[Target]:
        head, _, rest = dotted.partition(".")
        suffix = f".{rest}" if rest else ""
        symbols = self.modules.get(module)
        bindings = symbols.bindings.get(head, ()) if symbols else ()
        if bindings:
            out: list[Target] = []
            for binding in bindings:
                if binding.kind in ("import", "alias") or rest:
                    out.extend(self.canonical(binding.target + suffix))
                else:
                    out.append(_target(binding))
            return out
        if symbols is not None:
            found = self._star_lookup(module, dotted, set())
            if found is not None:
                return found
        if hasattr(builtins, head):
            return [Target(f"builtins.{dotted}", "builtin")]
        if symbols is not None:
            guess = self._star_guess(module, set())
            if guess is not None:
                # a star import from code we cannot see: the best guess
                return [Target(f"{guess}.{dotted}", "external")]
        return [Target(dotted, "unresolved")]

    def _star_lookup(self, module: str, dotted: str, seen: set[str]) -> list[Target] | None:
        """What ``dotted`` means through the star imports of ``module``, if one provides its head.

        Star imports are followed through analysed modules transitively
        (``from .helpers import *`` where helpers does ``from random import *``);
        ``seen`` cuts import cycles.
        """
        head = dotted.partition(".")[0]
        if module in seen or head.startswith("_"):  # `import *` leaves out private names
            return None
        seen.add(module)
        symbols = self.modules.get(module)
        for star in symbols.star_imports if symbols is not None else ():
            star_symbols = self.modules.get(star)
            if star_symbols is not None:
                if head in star_symbols.bindings:
                    return self._resolve(star, dotted)
                found = self._star_lookup(star, dotted, seen)
                if found is not None:
                    return found
            elif _stdlib_has(star, head):
                return self.canonical(f"{star}.{dotted}")
        return None

    def _star_guess(self, module: str, seen: set[str]) -> str | None:
        """The first module outside the analysed sources and the standard library that
        ``module`` star-imports (directly or through analysed modules)."""
        if module in seen:
            return None
        seen.add(module)
        symbols = self.modules.get(module)
        for star in symbols.star_imports if symbols is not None else ():
            if star in self.modules:
                guess = self._star_guess(star, seen)
                if guess is not None:
                    return guess
            elif star.split(".")[0] not in _STDLIB:
                return star
        return None

    def canonical(self, qname: str, _depth: int = 0) -> list[Target]:
        """Follow re-exports of ``qname`` through the analysed modules."""
        qname = RUNTIME_ALIASES.get(qname, qname)
        parts = qname.split(".")
        # the longest prefix that is an analysed module
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self.modules:
                break
        else:
            return [Target(qname, "external")]
        if cut == len(parts):
            return [Target(qname, "module")]
        if _depth > 20:
            return [Target(qname, "unresolved")]
        name, rest = parts[cut], parts[cut + 1 :]
        symbols = self.modules[prefix]
        if name not in symbols.bindings:
            if f"{prefix}.{name}" in self.modules:
                return (
                    self.canonical(qname, _depth + 1)
                    if cut + 1 < len(parts)
                    else [Target(qname, "module")]
                )
            found = self._star_lookup(prefix, ".".join(parts[cut:]), set())
            if found is not None:
                return found
            guess = self._star_guess(prefix, set())
            if guess is not None:
                return [Target(".".join([guess, *parts[cut:]]), "external")]
            return [Target(qname, "missing")]
        out: list[Target] = []
        for binding in symbols.bindings[name]:
            if binding.kind in ("import", "alias"):
                target = ".".join([binding.target, *rest])
                if target == qname:
                    out.append(Target(qname, "missing"))
                else:
                    out.extend(self.canonical(target, _depth + 1))
            elif rest:
                # an attribute of a definition (Cls.method, OBJ.attr, helper.cache_clear)
                kind: TargetKind = "member"
                if binding.kind in ("data", "class"):
                    kind = binding.kind
                origin = ".".join([binding.origin, *rest]) if binding.origin else ""
                out.append(Target(".".join([binding.target, *rest]), kind, binding.mutable, origin))
            else:
                out.append(_target(binding))
        return out


def _target(binding: Binding) -> Target:
    """The target a definition binding stands for (not an ``import`` or ``alias``)."""
    kind: TargetKind = binding.kind  # type: ignore[assignment]
    return Target(binding.target, kind, binding.mutable, binding.origin, binding.is_set)
