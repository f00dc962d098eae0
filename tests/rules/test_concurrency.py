"""VRB107: threads and processes in a workflow body."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB107"

VALID = [
    Valid(
        "ctx-parallel",
        wf("    return await ctx.parallel([lambda: charge(1), lambda: charge(2)])\n"),
    ),
    Valid(
        "subprocess-in-a-step",
        'import subprocess\nfrom runtime import step\n\n\n@step("ls")\nasync def ls():\n'
        "    return subprocess.run(['ls']).returncode\n",
    ),
    Valid("suppressed", wf("    os.system('ls')  # vrb: ignore[VRB107]\n", "import os\n")),
]

INVALID = [
    Invalid("subprocess", CODE, wf("    subprocess.run(['ls'])  # !\n", "import subprocess\n")),
    Invalid(
        "thread",
        CODE,
        wf("    threading.Thread(target=print).start()  # !\n", "import threading\n"),
    ),
    Invalid("lock", CODE, wf("    return Lock()  # !\n", "from threading import Lock\n")),
    Invalid("os-system", CODE, wf("    os.system('ls')  # !\n", "import os\n")),
    Invalid(
        "executor",
        CODE,
        wf(
            "    ThreadPoolExecutor()  # !\n", "from concurrent.futures import ThreadPoolExecutor\n"
        ),
    ),
    Invalid(
        "multiprocessing-alias",
        CODE,
        wf("    return mp.Pool(2)  # !\n", "import multiprocessing as mp\n"),
    ),
    Invalid(
        "helper",
        CODE,
        wf(
            "    return run(order)\n",
            "from subprocess import check_output\n",
            extra="def run(o):\n    return check_output(['echo', o['id']])  # !\n\n\n",
        ),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, [CODE])


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostic(check_files: CheckFiles) -> None:
    [diag] = only(check_files({"mod.py": wf("    os.system('ls')\n", "import os\n")}), CODE)
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 5, 12, 20)
    assert diag.message == (
        "os.system() starts or coordinates threads or processes, whose timing no replay reproduces"
    )
    assert diag.hint.startswith("run concurrent work with ctx.parallel")
