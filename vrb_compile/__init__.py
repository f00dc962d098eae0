"""vrb-compile: checks workflow modules for nondeterminism and compiles them to step graphs.

The public API: :func:`check_paths` (what ``vrb-compile check`` runs),
:func:`discover` (every step and workflow of some files), the
:class:`Diagnostic` values rules produce, and the error tree of
:mod:`vrb_compile.errors`.
"""

from .api import CheckConfig, CheckResult, check_paths, check_sources
from .diagnostics import Diagnostic, Severity
from .discover import Index, StepInfo, WorkflowInfo, discover
from .errors import ConfigError, GraphLoadError, PathNotFound, UsageError, VrbCompileError
from .rules.base import RuleInfo
from .rules.registry import RULES, get_rule
from .source import SourceFile, load_sources

__all__ = [
    "RULES",
    "CheckConfig",
    "CheckResult",
    "ConfigError",
    "Diagnostic",
    "GraphLoadError",
    "Index",
    "PathNotFound",
    "RuleInfo",
    "Severity",
    "SourceFile",
    "StepInfo",
    "UsageError",
    "VrbCompileError",
    "WorkflowInfo",
    "check_paths",
    "check_sources",
    "discover",
    "get_rule",
    "load_sources",
]

__version__ = "0.1.0"
