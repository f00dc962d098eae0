"""Step and workflow options, evaluated at compile time: the one owner of their values.

The summary of a file records each option as written
(:class:`~vrb_compile.summary.OptionExpr`); the project index evaluates them
here against the module-level constants of every analysed module
(:mod:`vrb_compile.constants`), with Python's own semantics for the forms
options are written in: literals; names of constants, local or imported from
an analysed module (``from .config import RETRIES``, ``config.RETRIES``);
arithmetic, unary minus and string concatenation; tuples, lists and dicts
(``{**BASE, "max": 5}`` included) and subscripts of them; and calls of
``timedelta``, ``Backoff`` and ``dict`` with such arguments. The values are then
validated with the runtime's own functions (:mod:`runtime.durations`), as
``Step`` and ``Workflow`` validate them when the module is imported.

An option that cannot be evaluated, or whose value the runtime would refuse, is
a VRB307 diagnostic, never a silent default: what ``check`` accepts, ``build``
lowers with exactly the values the registered ``Step``/``Workflow`` hold.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .names import Target, dotted_name
from .summary import OptionExpr, Span, StepDef, WorkflowDef

if TYPE_CHECKING:
    from .discover import ProjectIndex

__all__ = ["FlowOptions", "OptionProblem", "StepOptions", "evaluate_options"]

HINT = (
    "give the option as a literal or as a module-level constant assigned once "
    "(numbers, strings, timedelta(...), Backoff(...), dicts of those, or arithmetic on them)"
)


@dataclass(frozen=True)
class StepOptions:
    """A step's options as the compiler evaluated them (the graph records these).

    Attributes:
        retries: Further attempts after a failure.
        timeout: Seconds per attempt, or ``None``.
        backoff: ``{"initial", "factor", "max"}`` in seconds, or ``None`` when not given.
        rollback_ref: ``module:attr`` of ``rollback_fn`` (``module:<lambda>``), or ``None``.
        unevaluated: The options that could not be evaluated (each is a VRB307
            diagnostic; the fields above hold defaults for them).
    """

    retries: int = 0
    timeout: float | None = None
    backoff: Mapping[str, float] | None = None
    rollback_ref: str | None = None
    unevaluated: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlowOptions:
    """A workflow's options as the compiler evaluated them.

    Attributes:
        max_events: The event-log circuit breaker, or ``None``.
        execution_timeout: The wall-time circuit breaker in seconds, or ``None``.
        unevaluated: The options that could not be evaluated (VRB307).
    """

    max_events: int | None = None
    execution_timeout: float | None = None
    unevaluated: tuple[str, ...] = ()

    @property
    def has_breaker(self) -> bool:
        """Whether ``max_events`` is set (an unevaluable one counts: VRB307 reports it)."""
        return self.max_events is not None or "max_events" in self.unevaluated


@dataclass(frozen=True)
class OptionProblem:
    """An option the compiler cannot evaluate or the runtime would refuse (VRB307).

    Attributes:
        path: The file, as diagnostics show it.
        span: Where the option's value is.
        message: What is wrong, naming the step or workflow and the option.
        hint: What to write instead.
        workflow: The workflow's name, for a workflow option.
    """

    path: str
    span: Span
    message: str
    hint: str = HINT
    workflow: str | None = None


class _Unevaluable(Exception):
    """Why an expression has no value known at compile time (phrased to end a sentence)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Invalid(Exception):
    """A value the runtime would refuse, with the runtime's reason."""


@dataclass(frozen=True)
class _Ref:
    """A name that is not a value: a function, class, module or something outside the sources."""

    dotted: str
    target: Target


def _timedelta(*args: Any, **kwargs: Any) -> Any:
    from datetime import timedelta

    return timedelta(*args, **kwargs)


def _backoff(*args: Any, **kwargs: Any) -> Any:
    from runtime.durations import Backoff

    return Backoff(*args, **kwargs)


#: The calls an option may make, by the qualified name of the callee.
_CALLS: dict[str, Callable[..., Any]] = {
    "datetime.timedelta": _timedelta,
    "runtime.Backoff": _backoff,
    "runtime.durations.Backoff": _backoff,
    "runtime.sdk.Backoff": _backoff,
    "builtins.dict": dict,
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

_WHAT = {
    ast.IfExp: "a conditional expression",
    ast.BoolOp: "an `and`/`or` expression",
    ast.Compare: "a comparison",
    ast.JoinedStr: "an f-string",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Set: "a set",
    ast.Await: "an `await`",
    ast.NamedExpr: "an assignment expression",
    ast.Starred: "a starred expression",
}

#: Bounds on what evaluation may build, so a constant cannot stall the compiler.
_MAX_LENGTH = 10_000
_MAX_BITS = 4_096


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _show(value: Any) -> str:
    """``'3' (a str)``: the value and its type, as a message shows a wrong value."""
    kind = type(value).__name__
    article = "an" if kind[:1] in "aeiou" else "a"
    return f"{value!r} ({article} {kind})"


def _ref_reason(ref: _Ref) -> str:
    kind, dotted, qname = ref.target.kind, ref.dotted, ref.target.qname
    if kind == "external":
        where = dotted if dotted == qname else f"{dotted} ({qname})"
        return f"{where} is outside the analysed sources: its value is known only when the program runs"
    if kind == "builtin":
        return f"{dotted} is a builtin, not a constant"
    if kind == "module":
        return f"{dotted} is a module, not a constant"
    if kind in ("def", "asyncdef"):
        return f"{dotted} is a function, not a constant"
    if kind in ("step", "workflow"):
        return f"{dotted} is a {kind}, not a constant"
    if kind == "class" and "." not in dotted:
        return f"{dotted} is a class, not a constant"
    return f"{dotted} is an attribute of a class or function: only module-level constants are evaluated"


class _Evaluator:
    """Evaluates option expressions in one project; constants are evaluated once."""

    def __init__(self, project: ProjectIndex) -> None:
        self.project = project
        self.home = ""
        self._memo: dict[tuple[str, str], tuple[bool, Any]] = {}
        self._active: set[tuple[str, str]] = set()

    # -- names -----------------------------------------------------------------

    def label(self, module: str, name: str) -> str:
        return name if module == self.home else f"{module}.{name}"

    def where(self, module: str, line: int) -> str:
        if module == self.home:
            return f"line {line}"
        summary = self.project.summaries.get(module)
        return f"{summary.display_path if summary else module}:{line}"

    def name(self, module: str, dotted: str, line: int | None) -> Any:
        """The value of ``dotted`` used at ``line`` of ``module`` (``None``: after the module ran)."""
        head, _, rest = dotted.partition(".")
        summary = self.project.summaries.get(module)
        if summary is not None and head in summary.constants:
            value = self.constant(module, head, line)
            if not rest:
                return value
            if isinstance(value, _Ref):  # D = datetime; D.timedelta(...)
                targets = self.project.symbols.canonical(f"{value.target.qname}.{rest}")
                return self.meaning(dotted, tuple(targets))
            raise _Unevaluable(
                f"{dotted} reads an attribute of {head}, which the compiler does not evaluate"
            )
        return self.meaning(dotted, self.project.symbols.resolve(module, dotted))

    def meaning(self, dotted: str, targets: tuple[Target, ...]) -> Any:
        """The value (or the reference) ``dotted`` stands for, given what it resolves to."""
        if len(targets) != 1:
            raise _Unevaluable(
                f"{dotted} has {len(targets)} possible meanings (it is bound in different "
                "branches of a top-level `if`/`try`)"
            )
        target = targets[0]
        if target.kind == "data":
            split = self.project.split_qname(target.qname)
            if split is not None and "." not in split[1]:
                return self.constant(split[0], split[1], None)
            raise _Unevaluable(
                f"{dotted} is an attribute of a module-level value: only module-level "
                "constants are evaluated"
            )
        if target.kind == "missing":
            owner = target.qname.rpartition(".")[0]
            raise _Unevaluable(f"{dotted} is not defined in {owner}")
        if target.kind == "unresolved":
            raise _Unevaluable(f"{dotted} is not defined")
        return _Ref(dotted, target)

    def constant(self, module: str, name: str, line: int | None) -> Any:
        summary = self.project.summaries.get(module)
        entry = summary.constants.get(name) if summary is not None else None
        label = self.label(module, name)
        if entry is None:
            raise _Unevaluable(f"{label} is not assigned a value at the top level of {module}")
        if entry.problem:
            # "line 7" in another module's reason needs its file to be found
            at = "" if module == self.home else f" ({self.where(module, entry.line)})"
            raise _Unevaluable(f"{label}{at} {entry.problem}")
        if line is not None and entry.line >= line:
            raise _Unevaluable(
                f"{label} is assigned at line {entry.line}, after it is used: importing "
                "the module raises NameError"
            )
        key = (module, name)
        known = self._memo.get(key)
        if known is None:
            if key in self._active:
                raise _Unevaluable(f"{label} is defined in terms of itself")
            self._active.add(key)
            try:
                tree = ast.parse(entry.source, mode="eval")
                known = (True, self.expr(tree.body, module, entry.line))
            except _Unevaluable as inner:
                known = (False, inner.reason)
            except (SyntaxError, RecursionError, MemoryError):
                known = (False, "its value is too deeply nested to evaluate")
            finally:
                self._active.discard(key)
            self._memo[key] = known
        ok, value = known
        if not ok:
            at = self.where(module, entry.line)
            raise _Unevaluable(f"{label} = {_short(entry.source)} ({at}): {value}")
        return value

    # -- expressions -----------------------------------------------------------

    def plain(self, value: Any) -> Any:
        """``value``, unless it is a reference rather than a value."""
        if isinstance(value, _Ref):
            raise _Unevaluable(_ref_reason(value))
        return value

    def expr(self, node: ast.expr, module: str, line: int | None) -> Any:
        """The value of ``node``, an expression at ``line`` of ``module``."""
        if isinstance(node, ast.Constant):
            return node.value
        dotted = dotted_name(node)
        if dotted is not None:
            return self.name(module, dotted, line)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.plain(self.expr(node.operand, module, line))
            return self.apply(
                node, operator.neg if isinstance(node.op, ast.USub) else operator.pos, operand
            )
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left = self.plain(self.expr(node.left, module, line))
            right = self.plain(self.expr(node.right, module, line))
            self.bound(node, left, right)
            return self.apply(node, _BINOPS[type(node.op)], left, right)
        if isinstance(node, ast.Tuple | ast.List):
            items = [self.plain(self.expr(e, module, line)) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            return self.dict(node, module, line)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            container = self.plain(self.expr(node.value, module, line))
            key = self.plain(self.expr(node.slice, module, line))
            return self.apply(node, operator.getitem, container, key)
        if isinstance(node, ast.Call):
            return self.call(node, module, line)
        what = _WHAT.get(type(node), "an expression")
        raise _Unevaluable(
            f"{_short(ast.unparse(node))} is {what}, which the compiler does not evaluate"
        )

    def dict(self, node: ast.Dict, module: str, line: int | None) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            value = self.plain(self.expr(value_node, module, line))
            if key_node is None:
                if not isinstance(value, dict):
                    raise _Unevaluable(f"**{_short(ast.unparse(value_node))} is not a dict")
                out.update(value)
                continue
            key = self.plain(self.expr(key_node, module, line))
            if not isinstance(key, str | int | float | bool | None):
                raise _Unevaluable(f"a dict key {_show(key)} is not a string or a number")
            out[key] = value
        return out

    def call(self, node: ast.Call, module: str, line: int | None) -> Any:
        dotted = dotted_name(node.func)
        callee = self.name(module, dotted, line) if dotted is not None else None
        qname = callee.target.qname if isinstance(callee, _Ref) else None
        factory = _CALLS.get(qname or "")
        shown = f"{dotted or _short(ast.unparse(node.func))}(...)"
        if factory is None:
            raise _Unevaluable(
                f"{shown} is a call the compiler does not evaluate (only timedelta(...), "
                "Backoff(...) and dict(...) are)"
            )
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            raise _Unevaluable(
                f"{shown} unpacks its arguments (* or **), which the compiler does not evaluate"
            )
        args = [self.plain(self.expr(a, module, line)) for a in node.args]
        kwargs = {
            k.arg: self.plain(self.expr(k.value, module, line)) for k in node.keywords if k.arg
        }
        try:
            return factory(*args, **kwargs)
        except Exception as error:  # the callee's own refusal (TypeError, ConfigurationError...)
            raise _Unevaluable(f"{shown} fails: {error}") from None

    @staticmethod
    def apply(node: ast.expr, fn: Callable[..., Any], *operands: Any) -> Any:
        try:
            return fn(*operands)
        except Exception as error:  # ZeroDivisionError, TypeError, KeyError, OverflowError...
            detail = f": {error}" if str(error) else ""
            raise _Unevaluable(
                f"{_short(ast.unparse(node))} fails with {type(error).__name__}{detail}"
            ) from None

    @staticmethod
    def bound(node: ast.BinOp, left: Any, right: Any) -> None:
        """Refuse ``10 ** 10 ** 9`` and ``"x" * 10 ** 9`` before computing them."""
        too_big = False
        if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and right > 0:
            if isinstance(left, int) and abs(left) > 1:
                too_big = right * math.log2(abs(left)) > _MAX_BITS
        elif isinstance(node.op, ast.Mult):
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | tuple | list) and isinstance(times, int):
                    too_big = too_big or len(seq) * times > _MAX_LENGTH
        if too_big:
            raise _Unevaluable(f"{_short(ast.unparse(node))} is too large to evaluate")


# -- validating the values as the runtime does --------------------------------


def _retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(f"retries must be a non-negative int, not {_show(value)}")
    return value


def _max_events(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid(f"max_events must be a positive int or None, not {_show(value)}")
    return value


def _duration(what: str) -> Callable[[Any], float | None]:
    def convert(value: Any) -> float | None:
        from runtime.durations import parse_duration

        if value is None:
            return None
        try:
            return parse_duration(value, what=what)
        except Exception as error:  # the runtime's ConfigurationError, with its message
            raise _Invalid(str(error)) from None

    return convert


def _backoff_value(value: Any) -> dict[str, float] | None:
    from runtime.durations import Backoff

    if value is None:
        return None
    try:
        return Backoff.coerce(value).to_dict()
    except Exception as error:  # the runtime's ConfigurationError, with its message
        raise _Invalid(str(error)) from None


_STEP_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "retries": _retries,
    "timeout": _duration("timeout"),
    "backoff": _backoff_value,
}
_WORKFLOW_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "max_events": _max_events,
    "execution_timeout": _duration("execution_timeout"),
}
_DURATION_HINT = "write a duration: seconds (30), a string ('250ms', '30s', '5m') or timedelta(...)"
#: What to write instead of a value of the wrong type, by option.
_HINTS = {
    "retries": "write retries as a non-negative int: retries=3",
    "timeout": _DURATION_HINT,
    "backoff": "write Backoff(initial='1s', factor=2.0, max='60s') or a dict with those keys",
    "max_events": "write max_events as a positive int: max_events=1000",
    "execution_timeout": _DURATION_HINT,
}
_REF_KINDS = frozenset({"def", "asyncdef", "step", "external", "builtin", "member", "class"})


def _ref_string(project: ProjectIndex, target: Target) -> str:
    split = project.split_qname(target.qname)
    if split is not None:
        return f"{split[0]}:{split[1]}"
    head, _, tail = target.qname.rpartition(".")
    return f"{head}:{tail}" if head else target.qname


@dataclass
class _Outcome:
    values: dict[str, Any] = field(default_factory=dict)
    unevaluated: list[str] = field(default_factory=list)
    problems: list[OptionProblem] = field(default_factory=list)


def _evaluate(
    evaluator: _Evaluator,
    module: str,
    path: str,
    owner: str,
    options: Iterable[OptionExpr],
    converters: Mapping[str, Callable[[Any], Any]],
    workflow: str | None,
) -> _Outcome:
    out = _Outcome()
    evaluator.home = module
    for option in options:
        convert = converters.get(option.keyword)
        if convert is None and option.keyword != "**":
            continue  # rollback_fn is resolved apart; an unknown keyword fails at import
        if option.keyword == "**":
            shown, hint = f"**{_short(option.source)}", HINT
        else:
            shown, hint = f"{option.keyword}={_short(option.source)}", HINT
        try:
            if option.problem:
                raise _Unevaluable(option.problem)
            assert convert is not None
            line = option.span[0]
            value = evaluator.expr(ast.parse(option.source, mode="eval").body, module, line)
            out.values[option.keyword] = convert(evaluator.plain(value))
        except _Unevaluable as error:
            message = f"{owner}: {shown} cannot be evaluated at compile time: {error.reason}"
        except _Invalid as error:
            message, hint = f"{owner}: {error}", _HINTS[option.keyword]
        except (SyntaxError, RecursionError, MemoryError):
            message = f"{owner}: {shown} is too deeply nested to evaluate at compile time"
        else:
            continue
        out.unevaluated.append(option.keyword)
        out.problems.append(OptionProblem(path, option.span, message, hint, workflow))
    return out


def _rollback(
    evaluator: _Evaluator, project: ProjectIndex, step: StepDef, path: str
) -> tuple[str | None, OptionProblem | None]:
    option = next((o for o in step.options if o.keyword == "rollback_fn"), None)
    if step.rollback == "<lambda>":
        return f"{step.module}:<lambda>", None
    if option is None or not step.rollback:
        return None, None
    owner = f"step {step.name!r}"
    try:
        if option.problem:
            raise _Unevaluable(option.problem)
        tree = ast.parse(option.source, mode="eval")
        value = evaluator.expr(tree.body, step.module, option.span[0])
    except _Unevaluable as error:
        message = (
            f"{owner}: rollback_fn={_short(option.source)} cannot be evaluated at compile "
            f"time: {error.reason}"
        )
        return None, OptionProblem(path, option.span, message, hint=_ROLLBACK_HINT)
    except (SyntaxError, RecursionError, MemoryError):
        message = f"{owner}: rollback_fn is too deeply nested to evaluate at compile time"
        return None, OptionProblem(path, option.span, message, hint=_ROLLBACK_HINT)
    if value is None:
        return None, None
    if isinstance(value, _Ref) and value.target.kind in _REF_KINDS:
        return _ref_string(project, value.target), None
    what = _ref_reason(value) if isinstance(value, _Ref) else f"it is {_show(value)}"
    message = f"{owner}: rollback_fn must be a function, but {what}"
    return None, OptionProblem(path, option.span, message, hint=_ROLLBACK_HINT)


_ROLLBACK_HINT = (
    "name the rollback function (rollback_fn=release or a module-level alias of it), "
    "or give a lambda or None"
)


def evaluate_options(
    project: ProjectIndex,
) -> tuple[dict[StepDef, StepOptions], dict[WorkflowDef, FlowOptions], list[OptionProblem]]:
    """Evaluate the options of every step and workflow of ``project``.

    Returns:
        The step options and the workflow options, by definition, and every
        option that could not be evaluated or holds a value the runtime would
        refuse, in file order.
    """
    evaluator = _Evaluator(project)
    steps: dict[StepDef, StepOptions] = {}
    flows: dict[WorkflowDef, FlowOptions] = {}
    problems: list[OptionProblem] = []
    for summary in project.all_summaries:
        path = summary.display_path
        for step in summary.steps:
            owner = f"step {step.name!r}"
            done = _evaluate(evaluator, step.module, path, owner, step.options, _STEP_OPTIONS, None)
            rollback_ref, problem = _rollback(evaluator, project, step, path)
            if problem is not None:
                done.problems.append(problem)
                done.unevaluated.append("rollback_fn")
            problems.extend(done.problems)
            steps.setdefault(
                step,
                StepOptions(
                    retries=done.values.get("retries", 0),
                    timeout=done.values.get("timeout"),
                    backoff=done.values.get("backoff"),
                    rollback_ref=rollback_ref,
                    unevaluated=tuple(done.unevaluated),
                ),
            )
        for wf in summary.workflows:
            owner = f"workflow {wf.name!r}"
            done = _evaluate(
                evaluator, wf.module, path, owner, wf.options, _WORKFLOW_OPTIONS, wf.name
            )
            problems.extend(done.problems)
            flows.setdefault(
                wf,
                FlowOptions(
                    max_events=done.values.get("max_events"),
                    execution_timeout=done.values.get("execution_timeout"),
                    unevaluated=tuple(done.unevaluated),
                ),
            )
    return steps, flows, problems
