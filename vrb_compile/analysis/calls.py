"""What a call, a reference or an await in a workflow body means.

Classifies each callee through the symbol table and the local bindings: a step,
a ctx method, a helper to follow, a call a rule table flags (VRB101-VRB108),
module state being mutated (VRB110), or something the compiler cannot prove
deterministic (VRB111).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import libcst as cst

from ..discover import cst_dotted
from ..names import Target
from ..rules.constructs import CTX_METHODS
from ..rules.filesystem import PATH_IO_METHODS
from ..rules.registry import CALL_TABLES, RULES
from ..rules.state import MUTATING_METHODS
from .base import AnalyserBase, Frame, short

__all__ = ["PURE_MODULES", "CallChecker", "is_gather_map"]

#: Standard-library modules whose functions are deterministic.
PURE_MODULES = frozenset(
    {
        "json",
        "math",
        "cmath",
        "re",
        "itertools",
        "functools",
        "operator",
        "collections",
        "copy",
        "dataclasses",
        "decimal",
        "fractions",
        "statistics",
        "string",
        "textwrap",
        "enum",
        "typing",
        "typing_extensions",
        "base64",
        "binascii",
        "hashlib",
        "hmac",
        "heapq",
        "bisect",
        "struct",
        "zlib",
        "unicodedata",
        "datetime",
        "uuid",
        "os.path",
        "posixpath",
        "ntpath",
        "pathlib",
        "abc",
        "numbers",
        "array",
        "contextlib",
        "types",
        "logging",
        "warnings",
        "pprint",
        "reprlib",
        "difflib",
        "html",
        "urllib.parse",
        "ipaddress",
        "calendar",
        "zoneinfo",
        "shlex",
        "fnmatch",
        "keyword",
        "graphlib",
        "csv",
        "io",
        "runtime",
        "pydantic",
        "time",
        "random",
        "os",
        "sys",
        "asyncio",
    }
)


_IMPURE_BUILTINS = {
    "builtins.eval": "evaluates code",
    "builtins.exec": "executes code",
    "builtins.compile": "compiles code",
    "builtins.__import__": "imports a module",
    "builtins.breakpoint": "stops in the debugger",
    "builtins.globals": "reads module state",
}


_SET_CONSUMERS = frozenset({"list", "tuple", "enumerate", "zip", "iter", "map", "filter", "next"})


_CONCRETE_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})


#: Path methods and properties that return another path.
_PATH_RETURNING = frozenset(
    {"joinpath", "with_name", "with_stem", "with_suffix", "relative_to", "with_segments"}
)


def _path_class_io(qname: str) -> tuple[str, str, str] | None:
    """VRB105 for ``Path.cwd()``, ``Path.home()`` and I/O methods called on the class."""
    owner, _, method = qname.rpartition(".")
    if owner in _CONCRETE_PATH_TYPES and method in PATH_IO_METHODS:
        rule = RULES["VRB105"]
        shown = f"{owner.removeprefix('pathlib.')}.{method}()"
        return (
            "VRB105",
            f"{shown} touches the filesystem; its result can change between the run and its replay",
            rule.hint,
        )
    return None


def is_gather_map(call: cst.Call) -> bool:
    if len(call.args) != 1 or call.args[0].star != "*":
        return False
    value = call.args[0].value
    return isinstance(value, cst.GeneratorExp | cst.ListComp) and isinstance(value.elt, cst.Call)


class CallChecker(AnalyserBase):
    """Classifies calls, references and awaited expressions."""

    def call_kind(self, frame: Frame, call: cst.Call) -> str:
        dotted = cst_dotted(call.func)
        if dotted is None:
            return "other"
        head, _, rest = dotted.partition(".")
        if head in frame.scope.ctx_names:
            return "parallel" if rest == "parallel" else "ctx"
        if head == "self" and frame.self_class and rest and "." not in rest:
            qname = f"{frame.source.module}.{frame.self_class}.{rest}"
            if qname in self.project.steps_by_qname:
                return "step"
            return "helper"
        if head in frame.scope.names and self.alias_of(frame, head) is None:
            return "other"
        targets = self._targets(frame, dotted)
        if self.project.step_for_targets(targets) is not None:
            return "step"
        if any(t.kind in ("def", "asyncdef") for t in targets):
            return "helper"
        if any(t.qname == "asyncio.gather" for t in targets) and is_gather_map(call):
            return "gather-map"
        if any(
            self.match(t.qname, True, len(call.args))
            or (t.origin and self.match(t.origin, True, len(call.args)))
            for t in targets
        ):
            return "flagged"
        return "other"

    def reference(self, frame: Frame, node: cst.BaseExpression, dotted: str) -> None:
        head, _, rest = dotted.partition(".")
        if head in frame.scope.ctx_names:
            if rest and rest.split(".")[0] not in CTX_METHODS:
                self.report(
                    frame,
                    node,
                    "VRB215",
                    f"ctx.{rest.split('.')[0]} is not part of the WorkflowContext API",
                )
            return
        if head == "self" and frame.self_class and rest and "." not in rest:
            qname = f"{frame.source.module}.{frame.self_class}.{rest}"
            if qname not in self.project.steps_by_qname:
                self.follow(frame, None, f"{frame.self_class}.{rest}", frame.source)
            return
        targets = self._targets(frame, dotted)
        for target in targets:
            found = self.match(target.qname, False, 0, reference_only=True)
            if found is not None:
                self.report(frame, node, found[0], found[1], found[2])
                return
        # a module-local function passed as a value (sorted(xs, key=f), map(f, xs),
        # apply(f, x)) runs wherever it ends up being called: check it as if called here
        for target in targets:
            split = self.project.split_qname(target.qname)
            helper_source = self.by_module.get(split[0]) if split else None
            if target.kind in ("def", "asyncdef") and split and helper_source is not None:
                self.follow(frame, None, split[1], helper_source)

    def attribute_read(self, frame: Frame, node: cst.BaseExpression) -> None:
        """Report ``node`` if reading it is nondeterministic by itself (``sys.argv``, ``os.environ``)."""
        dotted = cst_dotted(node)
        for target in self._targets(frame, dotted) if dotted is not None else ():
            for table in CALL_TABLES:
                if any(
                    target.qname == a or target.qname.startswith(a + ".") for a in table.attributes
                ):
                    found = table.match(target.qname, called=False, nargs=0)
                    if found is not None:
                        self.report(frame, node, found.code, found.message, found.hint)
                        return

    def match(
        self, qname: str, called: bool, nargs: int, *, reference_only: bool = False
    ) -> tuple[str, str, str] | None:
        for table in CALL_TABLES:
            # a plain reference is flagged only when it names something a table knows
            if (
                reference_only
                and not any(qname == a or qname.startswith(a + ".") for a in table.attributes)
                and not (
                    qname in table.exact or any(qname.startswith(p + ".") for p in table.prefixes)
                )
            ):
                continue
            found = table.match(qname, called=called, nargs=nargs)
            if found is not None:
                return found.code, found.message, found.hint
        return None

    def call(
        self, frame: Frame, call: cst.Call, *, awaited: bool, quiet_unknown: bool = False
    ) -> None:
        """Check one call; ``quiet_unknown``: it was already reported as VRB112."""
        func = call.func
        dotted = cst_dotted(func)
        for arg in call.args:
            self.expr(frame, arg.value)
        if dotted is None and isinstance(func, cst.Call):
            dynamic = self.getattr_callee(frame, func)
            if dynamic is not None:
                self.expr(frame, func)
                base, attr = dynamic
                if attr is not None:
                    dotted = f"{base}.{attr}"  # getattr(time, "time")() is time.time()
                elif base.split(".")[0] in frame.scope.ctx_names:
                    return  # the ctx passed to getattr is already VRB214
                else:
                    self.report(
                        frame,
                        call,
                        "VRB111",
                        f"getattr({base}, ...)() calls an attribute of {base} chosen at run time; "
                        "the compiler cannot prove it deterministic",
                    )
                    return
        if dotted is None:
            if isinstance(func, cst.Attribute):
                if (
                    func.attr.value == "join"
                    and call.args
                    and frame.scope.is_set(call.args[0].value)
                ):
                    self.report(
                        frame,
                        call.args[0].value,
                        "VRB109",
                        "joining a set depends on its iteration order",
                    )
                self.path_io(frame, call, func)
                self.expr(frame, func.value)
            else:
                self.expr(frame, func)
            return
        head, _, rest = dotted.partition(".")
        if head in frame.scope.ctx_names:
            method = rest.split(".")[0]
            if not rest or method not in CTX_METHODS:
                self.report(
                    frame,
                    func,
                    "VRB215",
                    f"ctx.{method or '__call__'} is not part of the WorkflowContext API",
                )
            return
        if head == "self" and frame.self_class and rest and "." not in rest:
            qname = f"{frame.source.module}.{frame.self_class}.{rest}"
            if qname in self.project.steps_by_qname:
                self.step_args(frame, call)
            else:
                self.follow(frame, call, f"{frame.self_class}.{rest}", frame.source)
            return
        if head in frame.scope.names and self.alias_of(frame, head) is None:
            method = rest.split(".")[-1] if rest else ""
            if isinstance(func, cst.Attribute):
                self.path_io(frame, call, func)
            if head in frame.scope.sets and method == "pop":
                self.report(
                    frame, call, "VRB109", f"{head}.pop() removes an arbitrary element of a set"
                )
            self.escape_args(frame, call, allowed=False) if not rest else None
            return
        targets = self._targets(frame, dotted)
        found = None
        for target in targets:
            if (
                target.qname == "builtins.hash"
                and call.args
                and self.is_int(frame, call.args[0].value)
            ):
                continue  # hash() of an int (or a tuple of ints) is the int's value, not salted
            found = self.match(target.qname, True, len(call.args))
            if found is None:
                found = _path_class_io(target.qname)
            if found is None and target.origin:
                # a method of a module-level object: session.get with session = aiohttp.ClientSession()
                found = self.match(target.origin, True, len(call.args))
            if found is not None:
                break
        if found is not None:
            self.report(frame, call, found[0], found[1], found[2])
            return
        if self.project.step_for_targets(targets) is not None:
            self.step_args(frame, call)
            return
        for target in targets:
            if target.qname in (
                "runtime.step",
                "runtime.workflow",
                "runtime.Step",
                "runtime.Workflow",
            ):
                self.report(
                    frame,
                    call,
                    "VRB206",
                    f"{dotted}(...) defines a step or workflow inside a workflow body",
                )
                return
        # a name bound in several branches (try: import a as x / except: import b as x)
        # is checked under every candidate meaning
        others: list[Target] = []
        followed = False
        for target in targets:
            split = self.project.split_qname(target.qname)
            helper_source = self.by_module.get(split[0]) if split else None
            if target.kind in ("def", "asyncdef") and split and helper_source is not None:
                self.follow(frame, call, split[1], helper_source)
                followed = True
            else:
                others.append(target)
        if followed and not others:
            return
        builtin = next((t for t in others if t.kind == "builtin"), None)
        if builtin is not None:
            name = builtin.qname.removeprefix("builtins.")
            if builtin.qname in _IMPURE_BUILTINS:
                self.report(
                    frame,
                    call,
                    "VRB111",
                    f"{name}() {_IMPURE_BUILTINS[builtin.qname]}; the compiler cannot prove it deterministic",
                )
            elif name in _SET_CONSUMERS and any(frame.scope.is_set(a.value) for a in call.args):
                self.report(
                    frame, call, "VRB109", f"{name}() of a set depends on the set's iteration order"
                )
            self.escape_args(frame, call, allowed=False)
            return
        mutating = rest.split(".")[-1] if rest else ""
        for target in others:
            if (
                target.kind == "data"
                and mutating in MUTATING_METHODS
                and target.qname.count(".") >= 1
            ):
                self.report(
                    frame,
                    call,
                    "VRB110",
                    f"{dotted}() mutates module-level {head!r}, state another worker replaying the run would not see",
                )
                return
        unknown = [t for t in others if not self.is_known([t])]
        if not unknown or quiet_unknown:
            self.escape_args(frame, call, allowed=False)
            return
        if all(t.kind == "unresolved" for t in unknown):
            self.report(
                frame,
                call,
                "VRB111",
                f"{dotted}() calls {head!r}, a name this module does not define or import",
            )
            return
        where = next(t for t in unknown if t.kind != "unresolved")
        if where.kind == "missing":
            message = (
                f"{dotted}() calls {where.qname}, which no analysed module defines "
                "(a typo, or a module the compiler cannot see); it may not be deterministic"
            )
        else:
            message = (
                f"{dotted}() calls {where.qname}, from a module the compiler cannot see; "
                "it may not be deterministic"
            )
        self.report(frame, call, "VRB111", message)

    def getattr_callee(self, frame: Frame, func: cst.Call) -> tuple[str, str | None] | None:
        """``(base, name)`` when ``func`` is ``getattr(base, name)`` on a non-local ``base``.

        ``name`` is the attribute when it is a string literal, else ``None``
        (chosen at run time). A getattr on a local value is left alone, as
        other calls on local values are.
        """
        callee = cst_dotted(func.func)
        if callee is None or len(func.args) < 2 or any(a.keyword for a in func.args[:2]):
            return None
        if not any(t.qname == "builtins.getattr" for t in self._targets(frame, callee)):
            return None
        base = cst_dotted(func.args[0].value)
        if base is None:
            return None
        head = base.split(".")[0]
        if (
            head in frame.scope.names
            and head not in frame.scope.ctx_names
            and self.alias_of(frame, head) is None
        ):
            return None
        name = func.args[1].value
        if isinstance(name, cst.SimpleString) and name.prefix.lower() in ("", "u"):
            literal = name.evaluated_value
            if isinstance(literal, str) and literal.isidentifier():
                return base, literal
        return base, None

    def path_io(self, frame: Frame, call: cst.Call, func: cst.Attribute) -> None:
        """VRB105 for ``p.read_text()`` where ``p`` is a ``pathlib.Path`` value."""
        method = func.attr.value
        if method in PATH_IO_METHODS and self.is_path(frame, func.value, 0):
            self.report(
                frame,
                call,
                "VRB105",
                f"Path(...).{method}() touches the filesystem; its result can change between the run and its replay",
                RULES["VRB105"].hint,
            )

    def is_path(self, frame: Frame, node: cst.BaseExpression, depth: int) -> bool:
        """Whether ``node`` evaluates to a concrete ``pathlib`` path (by construction)."""
        if depth > 8:
            return False
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _PATH_RETURNING:
                return self.is_path(frame, func.value, depth + 1)
            dotted = cst_dotted(func)
            return dotted is not None and any(
                t.qname in _CONCRETE_PATH_TYPES for t in self._targets(frame, dotted)
            )
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            return self.is_path(frame, node.left, depth + 1)
        if isinstance(node, cst.Attribute) and node.attr.value in ("parent",):
            return self.is_path(frame, node.value, depth + 1)
        if isinstance(node, cst.Name) and node.value in frame.scope.names:
            annotation = frame.scope.annotations.get(node.value)
            if annotation is not None:
                dotted = cst_dotted(annotation)
                return dotted is not None and any(
                    t.qname in _CONCRETE_PATH_TYPES for t in self.resolve(frame, dotted)
                )
            values = frame.scope.values.get(node.value, [])
            return bool(values) and all(
                v is not None and self.is_path(frame, v, depth + 1) for v in values
            )
        return False

    def is_int(self, frame: Frame, node: cst.BaseExpression) -> bool:
        """Whether ``node`` is obviously an int, or a tuple of them."""
        if isinstance(node, cst.Integer):
            return True
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            return self.is_int(frame, node.expression)
        if isinstance(node, cst.Tuple):
            return all(
                isinstance(e, cst.Element) and self.is_int(frame, e.value) for e in node.elements
            )
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            name = node.func.value
            return (
                name in ("len", "int", "ord")
                and name not in frame.scope.names
                and all(t.kind == "builtin" for t in self.resolve(frame, name))
            )
        return False

    def is_known(self, targets: Sequence[Target]) -> bool:
        if not targets:
            return True
        for target in targets:
            if target.kind in ("class", "data", "module", "member", "step", "workflow", "builtin"):
                return True
            if target.kind in ("external", "missing"):
                q = target.qname
                parts = q.split(".")
                if any(".".join(parts[:i]) in PURE_MODULES for i in range(1, len(parts) + 1)):
                    return True
                if any(fnmatch.fnmatchcase(q, glob) for glob in self.pure):
                    return True
        return False

    def step_args(self, frame: Frame, call: cst.Call) -> None:
        for arg in call.args:
            if frame.scope.is_set(arg.value):
                self.report(
                    frame,
                    arg.value,
                    "VRB109",
                    f"passing {short(frame, arg.value)} to a step records an order that can differ on replay",
                )
        self.escape_args(frame, call, allowed=False)

    def escape_args(self, frame: Frame, call: cst.Call, *, allowed: bool) -> None:
        if allowed:
            return
        for arg in call.args:
            if isinstance(arg.value, cst.Name) and arg.value.value in frame.scope.ctx_names:
                self.report(
                    frame,
                    arg.value,
                    "VRB214",
                    f"the workflow context is passed to {short(frame, call.func)}, which the compiler does not inline",
                )
