"""VRB001-VRB003: syntax errors and suppression comments."""

from __future__ import annotations

from ..diagnostics import Severity
from ..limits import MAX_DEPTH, MAX_SOURCE_BYTES
from .base import RuleInfo, workflow_module

__all__ = ["RULES"]

RULES = (
    RuleInfo(
        code="VRB001",
        name="syntax-error",
        severity=Severity.ERROR,
        summary="the file cannot be parsed",
        rationale="Nothing can be checked or compiled in a file Python cannot parse, nor in "
        f"one past the compiler's limits: more than {MAX_DEPTH} levels of nesting (operators, "
        "calls, brackets or blocks inside one another; the compiler walks its trees "
        f"recursively) or more than {MAX_SOURCE_BYTES // 2**20} MiB.",
        hint="fix the syntax error; `python -m py_compile FILE` shows the same error",
        bad="def broken(:\n    pass\n",
        good="def fixed():\n    pass\n",
        valid=(workflow_module("    return order\n"),),
        invalid=("def broken(:\n    pass\n", "x = (1,\n"),
    ),
    RuleInfo(
        code="VRB002",
        name="bare-suppression",
        severity=Severity.WARNING,
        summary="`# vrb: ignore` without codes",
        rationale="A bare suppression hides every present and future finding on its line.",
        hint="name the codes: `# vrb: ignore[VRB101]`",
        bad=workflow_module("    return time.time()  # vrb: ignore\n", "import time\n"),
        good=workflow_module("    return time.time()  # vrb: ignore[VRB101]\n", "import time\n"),
        valid=(
            workflow_module("    return time.time()  # vrb: ignore[VRB101]\n", "import time\n"),
        ),
        invalid=(workflow_module("    return time.time()  # vrb: ignore\n", "import time\n"),),
    ),
    RuleInfo(
        code="VRB003",
        name="unknown-suppression",
        severity=Severity.WARNING,
        summary="suppression of a code that does not exist",
        rationale="A misspelt code suppresses nothing, and the finding it meant to hide stays.",
        hint="use a code listed by `vrb-compile rules`",
        bad=workflow_module("    return order  # vrb: ignore[VRB999]\n"),
        good=workflow_module("    return order\n"),
        valid=(workflow_module("    return order  # vrb: ignore[VRB101]\n"),),
        invalid=(workflow_module("    return order  # vrb: ignore[VRB999]\n"),),
    ),
)
