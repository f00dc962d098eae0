"""VRB307: step and workflow options the compiler cannot evaluate, or of the wrong type.

Options are literals or module-level constants (and simple expressions of
them); anything else is a diagnostic at the option's value, never a silent
default. Each ``# !`` line is where VRB307 must fire.
"""

from __future__ import annotations

import pytest

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only

CODES = ("VRB307",)
STEP = "from runtime import step\n\n"
SDK = "from datetime import timedelta\n\nfrom runtime import Backoff, Step, Workflow, step, workflow\n\n"


def deco(options: str, constants: str = "", header: str = STEP, *, mark: str = "") -> str:
    """A decorator-form step ``s`` given ``options``, after module-level ``constants``."""
    return f'{header}{constants}\n\n@step("s", {options}){mark}\nasync def s(x):\n    return x\n'


def bad(options: str, constants: str = "", header: str = STEP) -> str:
    """:func:`deco`, its decorator line marked as where VRB307 fires."""
    return deco(options, constants, header, mark="  # !")


VALID = [
    Valid("literals", deco('retries=2, timeout="30s", backoff={"initial": 1, "max": 5}')),
    Valid("constant", deco("retries=RETRIES", "RETRIES = 3")),
    Valid("annotated-constant", deco("retries=RETRIES", "RETRIES: int = 3")),
    Valid("arithmetic", deco("retries=BASE * 2 - 1, timeout=(-BASE) ** 2", "BASE = 2")),
    Valid("string-concatenation", deco("timeout=SECONDS + 's'", "SECONDS = '30'")),
    Valid("constant-of-constants", deco("retries=TOTAL", "BASE = 2\nTOTAL = BASE + 1")),
    Valid(
        "timedelta-and-backoff",
        deco(
            "timeout=LIMIT, backoff=SLOW",
            'LIMIT = timedelta(minutes=2)\nSLOW = Backoff(initial="1s", factor=3.0, max=LIMIT)',
            SDK,
        ),
    ),
    Valid(
        "backoff-dict-merge-and-subscript",
        deco(
            'retries=LIMITS["retries"], backoff={**BASE, "max": 10}',
            'BASE = {"initial": 1, "factor": 2.0}\nLIMITS = {"retries": 4}',
        ),
    ),
    Valid("backoff-tuple-subscript", deco("retries=TRIES[1]", "TRIES = (1, 2, 3)")),
    Valid("none-constant", deco("timeout=NO_LIMIT", "NO_LIMIT = None")),
    Valid(
        "imported-constant",
        {
            "shop/__init__.py": "",
            "shop/config.py": "RETRIES = 3\nSLOW = {'initial': 2}\n",
            "shop/steps.py": STEP + "from . import config\nfrom .config import RETRIES as R\n\n\n"
            '@step("s", retries=R, backoff=config.SLOW)\nasync def s(x):\n    return x\n',
        },
    ),
    Valid(
        "functional-style",
        STEP + "RETRIES = 3\n\n\nasync def _s(x):\n    return x\n\n\n"
        's = step("s", _s, retries=RETRIES)\n',
    ),
    Valid(
        "workflow-options",
        SDK + 'MAX = 10 * 100\nLIMIT = "5m"\n\n\n'
        '@workflow("w", max_events=MAX, execution_timeout=LIMIT)\nasync def w(ctx):\n    return 1\n',
    ),
    Valid(
        "class-style",
        SDK + "MAX = 50\nRETRIES = 1\n\n\n"
        '@Workflow("c", max_events=MAX)\nclass C:\n'
        '    @Step("c-step", retries=RETRIES)\n    async def one(self, x):\n        return x\n\n'
        "    async def run(self, ctx, x):\n        return await self.one(x)\n",
    ),
    Valid(
        "rollback-alias-and-none",
        STEP + "async def _undo(error, output):\n    pass\n\n\nUNDO = _undo\nNONE = None\n\n\n"
        '@step("s", rollback_fn=UNDO)\nasync def s(x):\n    return x\n\n\n'
        '@step("t", rollback_fn=NONE)\nasync def t(x):\n    return x\n',
    ),
    Valid(
        "class-attribute-defined-after-the-step",
        SDK + "RETRIES = 1\n\n\nclass C:\n"
        '    @Step("c-step", retries=RETRIES)\n    async def one(self, x):\n        return x\n\n'
        "    RETRIES = 5\n",
    ),
]

INVALID = [
    Invalid("unknown-call", "VRB307", bad("retries=compute()", "def compute():\n    return 3")),
    Invalid("constant-from-a-call", "VRB307", bad("retries=RETRIES", "RETRIES = int('3')")),
    Invalid("reassigned", "VRB307", bad("retries=RETRIES", "RETRIES = 3\nRETRIES = 5")),
    Invalid("augmented", "VRB307", bad("retries=RETRIES", "RETRIES = 3\nRETRIES += 1")),
    Invalid(
        "changed-in-place",
        "VRB307",
        bad("backoff=SLOW", "SLOW = {'initial': 1}\nSLOW['max'] = 5"),
    ),
    Invalid(
        "global-in-a-function",
        "VRB307",
        bad("retries=RETRIES", "RETRIES = 3\n\n\ndef more():\n    global RETRIES\n    RETRIES = 9"),
    ),
    Invalid(
        "conditional",
        "VRB307",
        bad("retries=RETRIES", "import sys\n\nif sys.argv:\n    RETRIES = 3"),
    ),
    Invalid(
        "environment",
        "VRB307",
        bad("retries=RETRIES", "import os\n\nRETRIES = int(os.environ['RETRIES'])"),
    ),
    Invalid("environment-directly", "VRB307", "import os\n\n" + bad("timeout=os.environ['T']")),
    Invalid("wrong-type-retries", "VRB307", bad('retries="3"')),
    Invalid("negative-retries", "VRB307", bad("retries=-RETRIES", "RETRIES = 3")),
    Invalid("bool-retries", "VRB307", bad("retries=True")),
    Invalid("bad-duration", "VRB307", bad('timeout="3 minutes"')),
    Invalid("bad-backoff-key", "VRB307", bad('backoff={"delay": 1}')),
    Invalid("bad-backoff-factor", "VRB307", bad("backoff=Backoff(factor=0.5)", "", SDK)),
    Invalid("undefined-name", "VRB307", bad("retries=RETRIES")),
    Invalid("used-before-assignment", "VRB307", bad("retries=LATER") + "\nLATER = 3\n"),
    Invalid("conditional-expression", "VRB307", bad("retries=1 if X else 2", "X = 1")),
    Invalid("keyword-mapping", "VRB307", bad("**OPTIONS", "OPTIONS = {'retries': 3}")),
    Invalid("division-by-zero", "VRB307", bad("timeout=1 / ZERO", "ZERO = 0")),
    Invalid("huge-power", "VRB307", bad("retries=10 ** 10 ** 10")),
    Invalid(
        "external-constant",
        "VRB307",
        "from settings import RETRIES\n" + bad("retries=RETRIES"),
    ),
    Invalid(
        "imported-reassigned",
        "VRB307",
        {
            "shop/__init__.py": "",
            "shop/config.py": "RETRIES = 3\nRETRIES = 4\n",
            "shop/steps.py": STEP + "from .config import RETRIES\n\n\n"
            '@step("s", retries=RETRIES)  # !\nasync def s(x):\n    return x\n',
        },
    ),
    Invalid(
        "class-attribute",
        "VRB307",
        SDK + "class C:\n    RETRIES = 5\n\n"
        '    @Step("c-step", retries=RETRIES)  # !\n    async def one(self, x):\n        return x\n',
    ),
    Invalid(
        "workflow-max-events",
        "VRB307",
        SDK + "import os\n\nMAX = int(os.environ['MAX'])\n\n\n"
        '@workflow("w", max_events=MAX)  # !\nasync def w(ctx):\n    return 1\n',
    ),
    Invalid(
        "workflow-execution-timeout-type",
        "VRB307",
        SDK + "async def w(ctx):\n    return 1\n\n\n"
        'workflow("w", execution_timeout=[1]).run(w)  # !\n',
    ),
    Invalid(
        "class-workflow-max-events-zero",
        "VRB307",
        SDK + '@Workflow("c", max_events=0)  # !\nclass C:\n    async def run(self, ctx):\n'
        "        return 1\n",
    ),
    Invalid(
        "rollback-expression",
        "VRB307",
        STEP + "async def _undo(error, output):\n    pass\n\n\nFLAG = True\n\n\n"
        '@step("s", rollback_fn=_undo if FLAG else None)  # !\nasync def s(x):\n    return x\n',
    ),
    Invalid("rollback-undefined", "VRB307", bad("rollback_fn=undo")),
    Invalid("rollback-not-a-function", "VRB307", bad("rollback_fn=UNDO", "UNDO = 3")),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, CODES)


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


# (case, source, line, column, end column, message)
EXACT = [
    (
        "unknown-call",
        deco("retries=compute()", "def compute():\n    return 3"),
        6,
        20,
        29,
        "step 's': retries=compute() cannot be evaluated at compile time: compute(...) is a "
        "call the compiler does not evaluate (only timedelta(...), Backoff(...) and dict(...) are)",
    ),
    (
        "reassigned",
        deco("retries=RETRIES", "RETRIES = 3\nRETRIES = 5"),
        6,
        20,
        27,
        "step 's': retries=RETRIES cannot be evaluated at compile time: RETRIES is assigned "
        "again at line 4",
    ),
    (
        "environment",
        deco("retries=RETRIES", "import os\n\nRETRIES = int(os.environ.get('RETRIES', '3'))"),
        7,
        20,
        27,
        "step 's': retries=RETRIES cannot be evaluated at compile time: RETRIES = "
        "int(os.environ.get('RETRIES', '3')) (line 5): int(...) is a call the compiler does "
        "not evaluate (only timedelta(...), Backoff(...) and dict(...) are)",
    ),
    (
        "environment-directly",
        "import os\n\n" + deco("timeout=os.environ['T']"),
        7,
        20,
        35,
        "step 's': timeout=os.environ['T'] cannot be evaluated at compile time: os.environ is "
        "outside the analysed sources: its value is known only when the program runs",
    ),
    (
        "wrong-type",
        deco('retries="3"'),
        5,
        20,
        23,
        "step 's': retries must be a non-negative int, not '3' (a str)",
    ),
    (
        "class-attribute",
        SDK + "class C:\n    RETRIES = 5\n\n"
        '    @Step("c-step", retries=RETRIES)\n    async def one(self, x):\n        return x\n',
        8,
        29,
        36,
        "step 'c-step': retries=RETRIES cannot be evaluated at compile time: RETRIES is an "
        "attribute of class C: only module-level constants are evaluated",
    ),
    (
        "workflow",
        SDK + '@workflow("w", max_events=MAX)\nasync def w(ctx):\n    return 1\n',
        5,
        27,
        30,
        "workflow 'w': max_events=MAX cannot be evaluated at compile time: MAX is not defined",
    ),
]


@pytest.mark.parametrize(
    ("source", "line", "column", "end_column", "message"),
    [case[1:] for case in EXACT],
    ids=[case[0] for case in EXACT],
)
def test_the_diagnostic_names_the_option_where_it_is_and_why(
    check_files: CheckFiles, source: str, line: int, column: int, end_column: int, message: str
) -> None:
    [diag] = only(check_files({"mod.py": source}), "VRB307")
    assert (diag.path, diag.line, diag.column, diag.end_line, diag.end_column) == (
        "mod.py",
        line,
        column,
        line,
        end_column,
    )
    assert (diag.severity.value, diag.message) == ("error", message)
    assert diag.hint


def test_a_wrong_type_hint_says_what_to_write(check_files: CheckFiles) -> None:
    [diag] = only(check_files({"mod.py": deco('retries="3"')}), "VRB307")
    assert diag.hint == "write retries as a non-negative int: retries=3"
    [diag] = only(check_files({"mod.py": deco("retries=compute()")}), "VRB307")
    assert diag.hint == (
        "give the option as a literal or as a module-level constant assigned once "
        "(numbers, strings, timedelta(...), Backoff(...), dicts of those, or arithmetic on them)"
    )
