"""VRB104: reading the process environment."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB104"

VALID = [
    Valid("os-path", wf("    return os.path.join('a', order['id']), os.sep\n", "import os\n")),
    Valid(
        "sys-constants", wf("    return sys.maxsize, sys.version_info >= (3, 11)\n", "import sys\n")
    ),
    Valid(
        "env-in-a-step",
        "import os\nfrom runtime import step\n\n\n"
        '@step("region")\nasync def region():\n    return os.environ["REGION"]\n',
    ),
    Valid("argument-instead", wf("    return order['region']\n")),
    Valid("suppressed", wf("    return os.getenv('R')  # vrb: ignore[VRB104]\n", "import os\n")),
]

INVALID = [
    Invalid(
        "attribute-read-assigned",
        CODE,
        wf("    args = sys.argv  # !\n    env = os.environ  # !\n", "import os\nimport sys\n"),
    ),
    Invalid("environ-subscript", CODE, wf("    return os.environ['REGION']  # !\n", "import os\n")),
    Invalid("environ-get", CODE, wf("    return os.environ.get('REGION')  # !\n", "import os\n")),
    Invalid(
        "from-os-environ",
        CODE,
        wf("    return environ.get('REGION')  # !\n", "from os import environ\n"),
    ),
    Invalid("environ-passed", CODE, wf("    return dict(os.environ)  # !\n", "import os\n")),
    Invalid(
        "getenv-alias",
        CODE,
        wf("    return env('REGION')  # !\n", "from os import getenv as env\n"),
    ),
    Invalid("argv", CODE, wf("    return sys.argv[1]  # !\n", "import sys\n")),
    Invalid("platform", CODE, wf("    return platform.node()  # !\n", "import platform\n")),
    Invalid("hostname", CODE, wf("    return socket.gethostname()  # !\n", "import socket\n")),
    Invalid("pid", CODE, wf("    return os.getpid()  # !\n", "import os\n")),
    Invalid("input", CODE, wf("    return input('?')  # !\n")),
    Invalid(
        "module-level-alias",
        CODE,
        wf("    return ENV['REGION']  # !\n", "import os\n", extra="ENV = os.environ\n"),
    ),
    Invalid(
        "helper",
        CODE,
        wf(
            "    return region()\n",
            "import os\n",
            extra="def region():\n    return os.getenv('REGION', 'eu')  # !\n\n\n",
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
    [diag] = only(check_files({"mod.py": wf("    return os.environ['R']\n", "import os\n")}), CODE)
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 12, 12, 22)
    assert diag.message == (
        "os.environ reads the process environment, which can differ on the worker that replays the run"
    )
    assert diag.hint == "pass the value as a workflow argument, or read it inside a step"
