"""vrb-compile: checks workflow modules for nondeterminism and compiles them to step graphs.

The public API: :func:`check_paths` (what ``vrb-compile check`` runs),
:func:`discover` (every step and workflow of some files), the
:class:`Diagnostic` values rules produce, :func:`build_paths` /
:func:`compile_paths` (``vrb-compile build``: check, then lower to step graphs),
the :class:`Graph` IR with :func:`load_graph` (what workers read), and the
error tree of :mod:`vrb_compile.errors`.
"""

# The exports load on first use (PEP 562): a worker that only needs the IR
# models must not pay for LibCST, the rules and the emitters at import time.
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import CheckConfig, CheckResult, check_paths, check_sources
    from .build import BuildResult, build_paths, compile_paths
    from .diagnostics import Diagnostic, Severity
    from .discover import Index, StepInfo, WorkflowInfo, discover
    from .errors import (
        ConfigError,
        GraphLoadError,
        PathNotFound,
        PathUnreadable,
        UsageError,
        VrbCompileError,
    )
    from .ir import Graph, load_graph
    from .rules.base import RuleInfo
    from .rules.registry import RULES, get_rule
    from .source import SourceFile, load_sources

__all__ = [
    "RULES",
    "BuildResult",
    "CheckConfig",
    "CheckResult",
    "ConfigError",
    "Diagnostic",
    "Graph",
    "GraphLoadError",
    "Index",
    "PathNotFound",
    "PathUnreadable",
    "RuleInfo",
    "Severity",
    "SourceFile",
    "StepInfo",
    "UsageError",
    "VrbCompileError",
    "WorkflowInfo",
    "build_paths",
    "check_paths",
    "check_sources",
    "compile_paths",
    "discover",
    "get_rule",
    "load_graph",
    "load_sources",
]

__version__ = "0.1.0"

_EXPORTS = {
    "BuildResult": ".build",
    "CheckConfig": ".api",
    "CheckResult": ".api",
    "ConfigError": ".errors",
    "Diagnostic": ".diagnostics",
    "Graph": ".ir",
    "GraphLoadError": ".errors",
    "Index": ".discover",
    "PathNotFound": ".errors",
    "PathUnreadable": ".errors",
    "RULES": ".rules.registry",
    "RuleInfo": ".rules.base",
    "Severity": ".diagnostics",
    "SourceFile": ".source",
    "StepInfo": ".discover",
    "UsageError": ".errors",
    "VrbCompileError": ".errors",
    "WorkflowInfo": ".discover",
    "build_paths": ".build",
    "check_paths": ".api",
    "check_sources": ".api",
    "compile_paths": ".build",
    "discover": ".discover",
    "get_rule": ".rules.registry",
    "load_graph": ".ir",
    "load_sources": ".source",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vrb_compile' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
