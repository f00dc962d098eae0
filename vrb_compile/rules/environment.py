"""VRB104: reading the process environment."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["RULES", "TABLE"]

TABLE = CallTable(
    code="VRB104",
    reason=lambda q: (
        "reads the process environment, which can differ on the worker that replays the run"
    ),
    hint="pass the value as a workflow argument, or read it inside a step",
    exact=frozenset(
        {
            "os.getenv",
            "os.getenvb",
            "os.putenv",
            "os.unsetenv",
            "os.getpid",
            "os.getppid",
            "os.getcwd",
            "os.getuid",
            "os.getlogin",
            "os.uname",
            "os.cpu_count",
            "socket.gethostname",
            "getpass.getuser",
            "builtins.input",
        }
    ),
    prefixes=("platform",),
    attributes=("os.environ", "os.environb", "sys.argv", "sys.orig_argv"),
)

RULES = (
    RuleInfo(
        code="VRB104",
        name="process-environment",
        severity=Severity.ERROR,
        summary="process environment read in a workflow body",
        rationale="Environment variables, argv, host and process ids belong to the worker, and "
        "another worker may replay the run.",
        hint=TABLE.hint,
        bad=workflow_module("    return os.environ['REGION']\n", "import os\n"),
        good=workflow_module("    return order['region']\n"),
        valid=(workflow_module("    return os.path.join('a', order['id'])\n", "import os\n"),),
        invalid=(
            workflow_module("    return os.environ.get('REGION')\n", "import os\n"),
            workflow_module("    return getenv('REGION')\n", "from os import getenv\n"),
            workflow_module("    return sys.argv[1]\n", "import sys\n"),
            workflow_module("    return platform.node()\n", "import platform\n"),
        ),
    ),
)
