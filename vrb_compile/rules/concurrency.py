"""VRB107: threads and processes in a workflow body."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["RULES", "TABLE"]

TABLE = CallTable(
    code="VRB107",
    reason=lambda q: (
        "starts or coordinates threads or processes, whose timing no replay reproduces"
    ),
    hint="run concurrent work with ctx.parallel([...]) of steps, or inside a single step",
    prefixes=(
        "threading",
        "_thread",
        "multiprocessing",
        "concurrent.futures",
        "subprocess",
        "os.exec",
        "os.spawn",
    ),
    exact=frozenset(
        {
            "os.system",
            "os.popen",
            "os.fork",
            "os.forkpty",
            "os.kill",
            "os.killpg",
            "os.execv",
            "os.execve",
            "os.execl",
            "os.execle",
            "os.execlp",
            "os.execvp",
            "os.execvpe",
            "os.execlpe",
            "os.spawnl",
            "os.spawnv",
            "os.posix_spawn",
        }
    ),
)

RULES = (
    RuleInfo(
        code="VRB107",
        name="threads-processes",
        severity=Severity.ERROR,
        summary="threads or processes in a workflow body",
        rationale="Threads and processes run outside the event log: their results and timing "
        "are not recorded, so a replay cannot reproduce them.",
        hint=TABLE.hint,
        bad=workflow_module(
            "    return subprocess.run(['ls']).returncode\n", "import subprocess\n"
        ),
        good=workflow_module("    return await charge(order['amount'])\n"),
        valid=(
            workflow_module(
                "    return await ctx.parallel([lambda: charge(1), lambda: charge(2)])\n"
            ),
        ),
        invalid=(
            workflow_module("    subprocess.run(['ls'])\n", "import subprocess\n"),
            workflow_module("    threading.Thread(target=print).start()\n", "import threading\n"),
            workflow_module("    os.system('ls')\n", "import os\n"),
            workflow_module(
                "    ThreadPoolExecutor()\n", "from concurrent.futures import ThreadPoolExecutor\n"
            ),
        ),
    ),
)
