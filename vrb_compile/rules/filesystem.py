"""VRB105: filesystem I/O in a workflow body."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["PATH_IO_METHODS", "RULES", "TABLE"]

#: pathlib.Path methods that touch the filesystem (flagged on Path(...) values).
PATH_IO_METHODS = frozenset(
    {
        "read_text",
        "write_text",
        "read_bytes",
        "write_bytes",
        "open",
        "exists",
        "is_file",
        "is_dir",
        "iterdir",
        "glob",
        "rglob",
        "mkdir",
        "rmdir",
        "unlink",
        "stat",
        "lstat",
        "touch",
        "rename",
        "replace",
        "resolve",
        "samefile",
        "chmod",
        "owner",
        "group",
        "readlink",
        "symlink_to",
        "hardlink_to",
        "expanduser",
        "cwd",
        "home",
        "absolute",
    }
)

TABLE = CallTable(
    code="VRB105",
    reason=lambda q: "touches the filesystem; its result can change between the run and its replay",
    hint="move the file access into a step",
    exact=frozenset(
        {
            "builtins.open",
            "io.open",
            "os.listdir",
            "os.remove",
            "os.unlink",
            "os.rename",
            "os.replace",
            "os.makedirs",
            "os.mkdir",
            "os.rmdir",
            "os.removedirs",
            "os.stat",
            "os.lstat",
            "os.walk",
            "os.scandir",
            "os.chdir",
            "os.chmod",
            "os.open",
            "os.read",
            "os.write",
            "os.path.exists",
            "os.path.lexists",
            "os.path.isfile",
            "os.path.isdir",
            "os.path.islink",
            "os.path.getsize",
            "os.path.getmtime",
            "os.path.getctime",
            "os.path.getatime",
            "os.path.realpath",
            "os.path.abspath",
            "os.path.expanduser",
            "os.path.samefile",
            "glob.glob",
            "glob.iglob",
        }
    ),
    prefixes=("shutil", "tempfile", "fileinput"),
)

RULES = (
    RuleInfo(
        code="VRB105",
        name="filesystem-io",
        severity=Severity.ERROR,
        summary="filesystem I/O in a workflow body",
        rationale="Files change between a run and its replay, and I/O in the body repeats on "
        "every replay; steps are where I/O belongs, recorded once.",
        hint=TABLE.hint,
        bad=workflow_module("    with open(order['path']) as f:\n        return f.read()\n"),
        good=workflow_module("    return await charge(order['amount'])\n"),
        valid=(
            workflow_module(
                "    return os.path.join('a', os.path.basename(order['p']))\n", "import os\n"
            ),
            workflow_module(
                "    return PurePath(order['p']).name\n", "from pathlib import PurePath\n"
            ),
        ),
        invalid=(
            workflow_module("    data = open(order['path']).read()\n    return data\n"),
            workflow_module(
                "    return Path(order['p']).read_text()\n", "from pathlib import Path\n"
            ),
            workflow_module("    return os.listdir('.')\n", "import os\n"),
            workflow_module("    shutil.copy('a', 'b')\n", "import shutil\n"),
        ),
    ),
)
