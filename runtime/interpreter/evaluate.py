"""Evaluating the Python source a graph stores, in one namespace dict per frame.

A frame's namespace is a copy of the defining module's globals with the
frame's locals written into it. Evaluating with a single dict (as globals)
matters: in Python 3.11 a comprehension inside ``eval`` with separate locals
cannot see those locals. Compiled code objects are cached per source string.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
from collections.abc import Sequence
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any

from vrb_compile.ir.models import Argument, Param

__all__ = [
    "assign",
    "bind_params",
    "call_args",
    "evaluate",
    "execute",
    "module_namespace",
]

_VALUE = "_vrb_value"


@lru_cache(maxsize=4096)
def _compiled(source: str, mode: str) -> CodeType:
    return compile(source, f"<vrb {mode}>", mode)


def module_namespace(module: str | ModuleType) -> dict[str, Any]:
    """A fresh namespace built on the module's globals (imported if needed)."""
    found = importlib.import_module(module) if isinstance(module, str) else module
    namespace = dict(vars(found))
    namespace.setdefault("__builtins__", builtins)
    return namespace


def evaluate(source: str, namespace: dict[str, Any]) -> Any:
    """Evaluate an expression's source in ``namespace``."""
    return eval(_compiled(source, "eval"), namespace)


def execute(source: str, namespace: dict[str, Any]) -> None:
    """Execute statements' source in ``namespace``."""
    exec(_compiled(source, "exec"), namespace)


def assign(target: str | None, value: Any, namespace: dict[str, Any]) -> None:
    """Bind ``value`` to an assignment target's source (a name, tuple, subscript ...)."""
    if target is None:
        return
    if target.isidentifier():
        namespace[target] = value
        return
    namespace[_VALUE] = value
    try:
        execute(f"{target} = {_VALUE}", namespace)
    finally:
        namespace.pop(_VALUE, None)


def call_args(
    arguments: Sequence[Argument], namespace: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Evaluate a call's arguments into positional and keyword values."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for argument in arguments:
        value = evaluate(argument.expr, namespace)
        if argument.star == "*":
            args.extend(value)
        elif argument.star == "**":
            kwargs.update(value)
        elif argument.keyword is not None:
            kwargs[argument.keyword] = value
        else:
            args.append(value)
    return tuple(args), kwargs


_KINDS = {
    "positional_only": inspect.Parameter.POSITIONAL_ONLY,
    "positional_or_keyword": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "var_positional": inspect.Parameter.VAR_POSITIONAL,
    "keyword_only": inspect.Parameter.KEYWORD_ONLY,
    "var_keyword": inspect.Parameter.VAR_KEYWORD,
}


def bind_params(
    params: Sequence[Param],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    namespace: dict[str, Any],
    *,
    what: str,
) -> None:
    """Bind arguments to parameters like a Python call, writing them into ``namespace``.

    Defaults are evaluated in ``namespace`` (the module's globals).

    Raises:
        TypeError: The arguments do not fit the parameters (the message names ``what``).
    """
    signature = inspect.Signature(
        [
            inspect.Parameter(
                param.name,
                _KINDS[param.kind],
                default=(
                    inspect.Parameter.empty
                    if param.default is None
                    else evaluate(param.default, namespace)
                ),
            )
            for param in params
        ]
    )
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{what}: {error}") from None
    bound.apply_defaults()
    namespace.update(bound.arguments)
