"""VRB105: filesystem I/O in a workflow body."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB105"

VALID = [
    Valid(
        "os-path-pure",
        wf("    return os.path.join('a', os.path.basename(order['p']))\n", "import os\n"),
    ),
    Valid(
        "pure-path", wf("    return PurePath(order['p']).name\n", "from pathlib import PurePath\n")
    ),
    Valid(
        "path-arithmetic",
        wf(
            "    p = Path(order['p'])\n    return (p / 'x').suffix, p.name, p.parent.stem\n",
            "from pathlib import Path\n",
        ),
    ),
    Valid("string-io", wf("    return io.StringIO(order['text']).read()\n", "import io\n")),
    Valid("json-loads", wf("    return json.loads(order['raw'])\n", "import json\n")),
    Valid(
        "open-in-a-step",
        'from runtime import step\n\n\n@step("read")\nasync def read(p):\n    return open(p).read()\n',
    ),
    Valid("suppressed", wf("    return os.listdir('.')  # vrb: ignore[VRB105]\n", "import os\n")),
    Valid("local-method-named-exists", wf("    return order.exists()\n")),
]

INVALID = [
    Invalid("open", CODE, wf("    data = open(order['path']).read()  # !\n    return data\n")),
    Invalid(
        "with-open", CODE, wf("    with open(order['p']) as f:  # !\n        return f.read()\n")
    ),
    Invalid(
        "path-call-read",
        CODE,
        wf("    return Path(order['p']).read_text()  # !\n", "from pathlib import Path\n"),
    ),
    Invalid(
        "path-local",
        CODE,
        wf(
            "    p = Path(order['p'])\n    return p.read_text()  # !\n",
            "from pathlib import Path\n",
        ),
    ),
    Invalid(
        "path-local-derived",
        CODE,
        wf(
            "    base = pathlib.Path(order['dir'])\n    target = base / 'out.json'\n"
            "    target.write_text('x')  # !\n    return target.exists()  # !\n",
            "import pathlib\n",
        ),
    ),
    Invalid("path-cwd", CODE, wf("    return Path.cwd()  # !\n", "from pathlib import Path\n")),
    Invalid("listdir", CODE, wf("    return os.listdir('.')  # !\n", "import os\n")),
    Invalid(
        "exists", CODE, wf("    return exists(order['p'])  # !\n", "from os.path import exists\n")
    ),
    Invalid("shutil", CODE, wf("    shutil.copy('a', 'b')  # !\n", "import shutil\n")),
    Invalid("tempfile", CODE, wf("    return tempfile.mkdtemp()  # !\n", "import tempfile\n")),
    Invalid("glob", CODE, wf("    return glob('*.csv')  # !\n", "from glob import glob\n")),
    Invalid(
        "helper",
        CODE,
        wf(
            "    return load(order['p'])\n",
            extra="def load(p):\n    with open(p) as f:  # !\n        return f.read()\n\n\n",
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
    src = wf("    p = Path(order['p'])\n    return p.read_text()\n", "from pathlib import Path\n")
    [diag] = only(check_files({"mod.py": src}), CODE)
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (13, 12, 13, 25)
    assert diag.message == (
        "Path(...).read_text() touches the filesystem; its result can change between the run and its replay"
    )
    assert diag.hint == "move the file access into a step"
