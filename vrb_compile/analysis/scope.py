"""Function-local scopes of a workflow body or helper (flow-insensitive).

A name bound anywhere in the function (parameter, assignment, for/with
target, comprehension variable, walrus, except name) is local for the whole
function and shadows the module's symbols. Locals assigned only Name/Attribute
chains are value aliases (``clock = time.time``); locals assigned only set
expressions are tracked for VRB109.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from ..discover import cst_dotted

__all__ = ["GlobalSets", "LocalScope", "build_scope", "kids", "lambda_scope", "nested_scope"]

#: ``is_set(dotted, called)``: whether a module-level reference holds a set
#: (``ALLOWED = {"a", "b"}``) or, called, returns one (``def tags() -> set[str]``).
GlobalSets = Callable[[str, bool], bool]

_SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference", "copy"})
_SET_OPS = (cst.BitOr, cst.BitAnd, cst.Subtract, cst.BitXor)


@dataclass
class LocalScope:
    """What the function binds locally.

    Attributes:
        names: Every locally bound name.
        aliases: Local names assigned only dotted references, with those references.
        sets: Local names holding a set or frozenset.
        ctx_names: Names holding the WorkflowContext.
        values: Every value assigned to each local (``None`` for a binding
            whose value is unknown: a loop target, an unpacking, ``+=``).
        annotations: The annotation of each annotated parameter.
        global_sets: Which module-level names hold sets (names that are not
            local); ``None`` when unknown.
    """

    names: set[str] = field(default_factory=set)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    sets: set[str] = field(default_factory=set)
    ctx_names: set[str] = field(default_factory=set)
    values: dict[str, list[cst.BaseExpression | None]] = field(default_factory=dict)
    annotations: dict[str, cst.BaseExpression] = field(default_factory=dict)
    global_sets: GlobalSets | None = None

    def is_set(self, node: cst.BaseExpression) -> bool:
        """Whether ``node`` evaluates to a set (by construction)."""
        if isinstance(node, cst.Set | cst.SetComp):
            return True
        if isinstance(node, cst.Name) and node.value in self.names:
            return node.value in self.sets
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, _SET_OPS):
            return self.is_set(node.left) or self.is_set(node.right)
        called = isinstance(node, cst.Call)
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Name) and func.value in ("set", "frozenset"):
                return func.value not in self.names
            if isinstance(func, cst.Attribute) and func.attr.value in _SET_METHODS:
                return self.is_set(func.value)
            node = func
        dotted = cst_dotted(node)
        if dotted is None or dotted.split(".")[0] in self.names or self.global_sets is None:
            return False
        return self.global_sets(dotted, called)


def _targets(node: cst.BaseExpression) -> Iterator[cst.Name]:
    if isinstance(node, cst.Name):
        yield node
    elif isinstance(node, cst.Tuple | cst.List):
        for element in node.elements:
            yield from _targets(element.value)
    elif isinstance(node, cst.StarredElement):
        yield from _targets(node.value)


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, cst.FunctionDef | cst.ClassDef | cst.Lambda) and current is not node:
            continue
        stack.extend(reversed(kids(current)))


_SET_ANNOTATIONS = ("set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet")


def _param_list(params: cst.Parameters) -> list[cst.Param]:
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    for extra in (params.star_arg, params.star_kwarg):
        if isinstance(extra, cst.Param):
            found.append(extra)
    return found


def lambda_scope(lam: cst.Lambda) -> LocalScope:
    """The parameters of a lambda, as locals."""
    return LocalScope(names={p.name.value for p in _param_list(lam.params)})


def nested_scope(outer: LocalScope, inner: LocalScope) -> LocalScope:
    """The scope of a nested function or lambda: its own locals shadow the enclosing ones."""
    shadowed = inner.names
    return LocalScope(
        names=outer.names | inner.names,
        aliases={k: v for k, v in outer.aliases.items() if k not in shadowed} | inner.aliases,
        sets=(outer.sets - shadowed) | inner.sets,
        ctx_names=outer.ctx_names - shadowed,
        values={**outer.values, **inner.values},
        annotations={k: v for k, v in outer.annotations.items() if k not in shadowed}
        | inner.annotations,
        global_sets=outer.global_sets,
    )


def build_scope(
    fn: cst.FunctionDef, *, skip_first: bool = False, global_sets: GlobalSets | None = None
) -> LocalScope:
    """Collect the local bindings of ``fn`` (``skip_first`` drops ``self``).

    ``global_sets`` tells which module-level names hold sets, so that a local
    assigned one (``tags = ALLOWED``) is known to hold a set too.
    """
    scope = LocalScope(global_sets=global_sets)
    for param in _param_list(fn.params):
        scope.names.add(param.name.value)
        if param.annotation is not None:
            ann = param.annotation.annotation
            scope.annotations[param.name.value] = ann
            if isinstance(ann, cst.Subscript):
                ann = ann.value
            dotted = cst_dotted(ann) or ""
            if dotted.split(".")[-1] in _SET_ANNOTATIONS:
                scope.sets.add(param.name.value)
    assigned: dict[str, list[cst.BaseExpression | None]] = {}
    for node in _walk(fn.body):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                for name in _targets(target.target):
                    value = node.value if isinstance(target.target, cst.Name) else None
                    assigned.setdefault(name.value, []).append(value)
        elif isinstance(node, cst.AnnAssign | cst.AugAssign):
            if isinstance(node.target, cst.Name):
                value = node.value if isinstance(node, cst.AnnAssign) else None
                if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.BitOrAssign):
                    continue  # s |= other keeps a set a set
                assigned.setdefault(node.target.value, []).append(value)
        elif isinstance(node, cst.For | cst.CompFor):
            for name in _targets(node.target):
                assigned.setdefault(name.value, []).append(None)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            for name in _targets(node.asname.name):
                assigned.setdefault(name.value, []).append(None)
        elif isinstance(node, cst.NamedExpr) and isinstance(node.target, cst.Name):
            assigned.setdefault(node.target.value, []).append(node.value)
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            if isinstance(node.name.name, cst.Name):
                assigned.setdefault(node.name.name.value, []).append(None)
        elif isinstance(node, cst.FunctionDef | cst.ClassDef):
            assigned.setdefault(node.name.value, []).append(None)  # a nested definition
        elif isinstance(node, cst.MatchAs | cst.MatchStar) and node.name is not None:
            assigned.setdefault(node.name.value, []).append(None)
        elif isinstance(node, cst.Global | cst.Nonlocal):
            pass
    scope.names.update(assigned)
    scope.values = assigned
    for local, values in assigned.items():
        chains = [cst_dotted(v) if v is not None else None for v in values]
        if all(c is not None for c in chains):
            scope.aliases[local] = [c for c in chains if c is not None]
    # a set assigned from set expressions (iterate: s2 = s1 | s0)
    changed = True
    while changed:
        changed = False
        for local, values in assigned.items():
            if local in scope.sets:
                continue
            if values and all(v is not None and scope.is_set(v) for v in values):
                scope.sets.add(local)
                changed = True
    # a local alias of a parameter is not an alias of a global
    for local in list(scope.aliases):
        if any(a.split(".")[0] in scope.names for a in scope.aliases[local]):
            del scope.aliases[local]
    return scope


_SKIP = (
    cst.BaseParenthesizableWhitespace,
    cst.EmptyLine,
    cst.TrailingWhitespace,
    cst.Comment,
    cst.Newline,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Comma,
    cst.Dot,
    cst.BaseUnaryOp,
    cst.BaseBinaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseAugOp,
    cst.AssignEqual,
    cst.Colon,
    cst.Semicolon,
    cst.ImportStar,
)


_FIELDS: dict[type, tuple[str, ...]] = {}


def kids(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The syntactic children of ``node``, in field order, without whitespace and tokens.

    LibCST's ``children`` property runs a visitor per node, which made walking
    bodies cost as much as parsing them; reading the dataclass fields is cheap.
    """
    out: list[cst.CSTNode] = []
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            if not isinstance(value, _SKIP):
                out.append(value)
        elif isinstance(value, tuple | list):
            for item in value:
                if isinstance(item, cst.CSTNode) and not isinstance(item, _SKIP):
                    out.append(item)
    return out
