"""check_paths: precision, determinism, selection, exclusion, cache."""

from __future__ import annotations

import random
from pathlib import Path

import libcst
import pytest

from tests.conftest import CheckFiles
from vrb_compile.api import CheckConfig, check_paths, check_sources
from vrb_compile.errors import PathNotFound
from vrb_compile.source import load_sources

REALISTIC = """\
import collections
import copy
import dataclasses
import functools
import itertools
import json
import math
import os
import re
import uuid
from datetime import datetime, timedelta

from runtime import StepFailed, WorkflowContext, step, workflow

TAX = 0.2


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    qty: int


@step("reserve", retries=3, timeout="30s")
async def reserve(order: dict) -> dict:
    return order


def total(lines: list[Line]) -> float:
    return math.fsum(line.qty * 1.5 for line in lines) * (1 + TAX)


@workflow("order", max_events=1000)
async def order_flow(ctx: WorkflowContext, order: dict) -> dict:
    lines = [Line(**raw) for raw in order["lines"]]
    by_sku = collections.Counter(line.sku for line in lines)
    skus = sorted(set(order["skus"]))
    pairs = list(itertools.product(skus, repeat=2))
    due = datetime.fromisoformat(order["created"]) + timedelta(days=3)
    key = uuid.UUID(order["id"])
    path = os.path.join("orders", os.path.basename(order["file"]))
    name = re.sub(r"\\s+", " ", order["name"]).strip().upper()
    snapshot = copy.deepcopy(order)
    largest = functools.reduce(max, [1, 2, 3])
    for sku, count in by_sku.items():
        snapshot[sku] = count
    try:
        reserved = await reserve(order)
    except StepFailed as exc:
        return {"status": "failed", "step": exc.step}
    await ctx.sleep("1m")
    decision = await ctx.wait_for_signal("approve")
    stamp = ctx.now().isoformat()
    return {
        "total": total(lines), "pairs": len(pairs), "due": due.isoformat(), "key": str(key),
        "path": path, "name": name, "largest": largest, "json": json.dumps(snapshot),
        "reserved": reserved, "decision": decision, "stamp": stamp, "run": ctx.run_id,
    }
"""


def test_realistic_pure_workflow_has_no_diagnostics(check_files: CheckFiles) -> None:
    result = check_files({"orders.py": REALISTIC})
    assert result.diagnostics == ()
    assert (result.files, result.workflows, result.errors, result.warnings) == (1, 1, 0, 0)


BROKEN = {
    "pkg/__init__.py": "",
    "pkg/a.py": "import time\nfrom runtime import workflow\n\n\n@workflow('a')\nasync def a(ctx):\n    return time.time()\n",
    "pkg/b.py": "import os\nfrom runtime import workflow\n\n\n@workflow('b')\nasync def b(ctx):\n    return os.getenv('X')\n",
    "pkg/c.py": "def broken(:\n",
    "pkg/d.py": "import random\nfrom runtime import workflow\n\n\n@workflow('a')\nasync def d(ctx):\n    return random.random()\n",
}


def test_output_is_identical_whatever_the_file_order(
    check_files: CheckFiles, tmp_path: Path
) -> None:
    baseline = check_files(BROKEN)
    assert [d.code for d in baseline.diagnostics] == [
        "VRB101",
        "VRB104",
        "VRB001",
        "VRB302",
        "VRB102",
    ]
    sources = load_sources([tmp_path], cwd=tmp_path)
    for seed in range(3):
        shuffled = sources[:]
        random.Random(seed).shuffle(shuffled)
        fresh = load_sources([tmp_path / s.display_path for s in shuffled], cwd=tmp_path)
        assert check_sources(fresh, CheckConfig(jobs=1)).diagnostics == baseline.diagnostics


def test_syntax_error_is_a_diagnostic(check_files: CheckFiles) -> None:
    [diag] = [d for d in check_files(BROKEN).diagnostics if d.code == "VRB001"]
    assert (diag.path, diag.line) == ("pkg/c.py", 1)
    assert diag.message.startswith("syntax error: ")


def test_select_and_ignore_are_prefixes_and_ignore_wins(check_files: CheckFiles) -> None:
    result = check_files(BROKEN, select=("VRB1",), ignore=("VRB104",))
    assert [d.code for d in result.diagnostics] == ["VRB101", "VRB102"]


def test_exclude_matches_paths_and_directory_names(check_files: CheckFiles) -> None:
    assert [d.path for d in check_files(BROKEN, exclude=("pkg/c.py", "*/d.py")).diagnostics] == [
        "pkg/a.py",
        "pkg/b.py",
    ]
    assert check_files(BROKEN, exclude=("pkg",)).files == 0


def test_pure_globs_allow_unknown_calls(check_files: CheckFiles) -> None:
    src = "import mylib.pricing\nfrom runtime import workflow\n\n\n@workflow('w')\nasync def w(ctx):\n    return mylib.pricing.total(1)\n"
    [diag] = check_files({"w.py": src}).diagnostics
    assert diag.code == "VRB111"
    assert "mylib.pricing.total" in diag.message
    assert check_files({"w.py": src}, pure=("mylib.pricing.*",)).diagnostics == ()


def test_missing_path_raises() -> None:
    with pytest.raises(PathNotFound, match=r"nope\.py: no such file or directory"):
        check_paths(["nope.py"])


def test_second_run_uses_the_cache_and_edits_invalidate(
    check_files: CheckFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        **BROKEN,
        "pkg/helpers.py": "import time\n\n\ndef stamp():\n    return 1\n",
        "pkg/e.py": "from runtime import workflow\nfrom .helpers import stamp\n\n\n@workflow('e')\nasync def e(ctx):\n    return stamp()\n",
    }
    cache = tmp_path / ".cache"
    cold = check_files(files, cache_dir=cache)
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"

    def no_parse(*args: object, **kwargs: object) -> object:
        raise AssertionError("parsed although the cache should answer")

    monkeypatch.setattr(libcst, "parse_module", no_parse)
    warm = check_paths([tmp_path / "pkg"], CheckConfig(jobs=1, cache_dir=cache), cwd=tmp_path)
    assert warm.diagnostics == cold.diagnostics
    monkeypatch.undo()
    (tmp_path / "pkg/helpers.py").write_text(
        "import time\n\n\ndef stamp():\n    return time.time()\n"
    )
    edited = check_paths([tmp_path / "pkg"], CheckConfig(jobs=1, cache_dir=cache), cwd=tmp_path)
    assert [
        (d.code, d.path, d.chain) for d in edited.diagnostics if d.path == "pkg/helpers.py"
    ] == [("VRB101", "pkg/helpers.py", ("e", "stamp"))]


def _many_workflows(count: int) -> dict[str, str]:
    files = {
        "big/__init__.py": "",
        "big/steps.py": 'from runtime import step\n\n\n@step("charge")\nasync def charge(x):\n    return x\n',
        "big/helpers.py": "import time\n\n\ndef stamp():\n    return time.time()\n",
        "big/broken.py": "def broken(:\n",
    }
    for i in range(count):
        files[f"big/w{i:02}.py"] = (
            "import random\nimport mystery\nfrom runtime import workflow\n"
            "from .steps import charge\nfrom .helpers import stamp\n\n\n"
            f'@workflow("w{i}")\nasync def w(ctx, order):\n'
            "    await charge(set(order))\n"
            f"    x = stamp() + random.random()  # vrb: ignore[VRB10{i % 3}]\n"
            "    return mystery.value(x)\n"
        )
    return files


def test_process_pool_gives_the_same_result_as_one_process(
    check_files: CheckFiles, tmp_path: Path
) -> None:
    from vrb_compile.api import _jobs

    files = _many_workflows(32)
    assert _jobs(CheckConfig(jobs=2), len(files) - 3) == 2  # the pool really starts
    single = check_files(files, jobs=1)
    pooled = check_paths([tmp_path], CheckConfig(jobs=2), cwd=tmp_path)
    assert pooled == single
    codes = [d.code for d in single.diagnostics]
    assert (codes.count("VRB101"), codes.count("VRB102"), codes.count("VRB109")) == (1, 22, 32)
    assert (codes.count("VRB111"), codes.count("VRB001"), codes.count("VRB003")) == (32, 1, 11)
    [clock] = [d for d in single.diagnostics if d.code == "VRB101"]
    # reached from every workflow; reported once, from the first file by path
    assert (clock.path, clock.workflow, clock.chain) == ("big/helpers.py", "w0", ("w", "stamp"))


def test_small_inputs_never_start_a_process_pool(
    check_files: CheckFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vrb_compile.api as api

    def no_pool(*args: object, **kwargs: object) -> object:
        raise AssertionError("a pool was started for a small input")

    monkeypatch.setattr(api, "ProcessPoolExecutor", no_pool)
    result = check_files(_many_workflows(api.POOL_THRESHOLD - 1), jobs=8)
    assert result.errors > 0
    assert api._jobs(CheckConfig(jobs=None), api.POOL_THRESHOLD - 1) == 1
