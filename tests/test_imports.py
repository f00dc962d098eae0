"""Checking some files of a package: the modules they import are context, not checked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from vrb_compile.api import CheckConfig, check_paths
from vrb_compile.imports import load_context, module_file, source_root
from vrb_compile.names import build_symbols
from vrb_compile.source import SourceFile

SHOP = {
    "shop/__init__.py": "",
    "shop/steps.py": (
        "import time\n"
        "from runtime import step, workflow\n\n\n"
        '@step("charge")\nasync def charge(x):\n    return time.time()\n\n\n'
        "async def _refund(x):\n    return x\n\n\n"
        'refund = step("refund", _refund)\n\n\n'
        # context files are never checked: none of these is reported
        '@workflow("inner")\nasync def inner(ctx):\n    return time.time()  # vrb: ignore\n\n\n'
        '@step("charge")\nasync def charge_again(x):\n    return x\n'
    ),
    "shop/pricing/__init__.py": "",
    "shop/pricing/rates.py": "import random\n\n\ndef jitter(x):\n    return x * random.random()\n",
    "shop/unrelated.py": "this is not python (\n",
    "shop/flows.py": (
        "import asyncio\n"
        "import shop.steps\n"
        "from runtime import workflow\n"
        "from . import steps\n"
        "from .steps import charge\n"
        "from .pricing.rates import jitter\n\n\n"
        '@workflow("order")\nasync def order_flow(ctx, order):\n'
        "    await charge(order)\n"
        "    await steps.refund(order)\n"
        "    await shop.steps.charge(order)\n"
        "    await asyncio.gather(*(charge(x) for x in order))\n"
        "    return jitter(order)\n"
    ),
}


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checking_one_file_knows_the_steps_its_package_defines(tmp_path: Path) -> None:
    _write(tmp_path, SHOP)
    result = check_paths(["shop/flows.py"], CheckConfig(jobs=1), cwd=tmp_path)
    assert [(d.code, d.path, d.line, d.chain) for d in result.diagnostics] == [
        ("VRB102", "shop/pricing/rates.py", 5, ("order_flow", "jitter"))
    ]
    assert (result.files, result.workflows) == (1, 1)


def test_checking_a_subset_reports_a_subset_of_the_package_check(tmp_path: Path) -> None:
    _write(tmp_path, SHOP)
    whole = check_paths(["shop"], CheckConfig(jobs=1), cwd=tmp_path).diagnostics
    part = check_paths(["shop/flows.py"], CheckConfig(jobs=1), cwd=tmp_path).diagnostics
    assert set(part) < set(whole)
    assert {d.path for d in whole} == {
        "shop/pricing/rates.py",
        "shop/steps.py",
        "shop/unrelated.py",
    }


def test_absolute_display_paths_and_a_file_outside_any_package(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "scripts/helpers.py": "import os\n\n\ndef region():\n    return os.getenv('R')\n",
            "scripts/job.py": (
                "from runtime import workflow\nfrom helpers import region\n\n\n"
                '@workflow("job")\nasync def job(ctx):\n    return region()\n'
            ),
        },
    )
    result = check_paths([tmp_path / "scripts/job.py"], CheckConfig(jobs=1), cwd=tmp_path)
    assert [(d.code, d.path, d.line) for d in result.diagnostics] == [
        ("VRB104", "scripts/helpers.py", 5)
    ]


def test_context_is_transitive_and_skips_what_is_not_on_disk(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/__init__.py": "from .core import *\n",
            "app/core/__init__.py": "",
            "app/core/base.py": "import json\nimport requests\n",
            "app/core/more.py": "from .base import json\n",
            "app/main.py": "from app.core import more\nimport app.core.more\n",
        },
    )
    main = SourceFile.from_path(tmp_path / "app/main.py", cwd=tmp_path)
    context = load_context(
        [main],
        lambda s: build_symbols(s.ast_tree, s.module, is_package=s.is_package),  # type: ignore[arg-type]
        cwd=tmp_path,
    )
    assert [s.display_path for s in context] == [
        "app/__init__.py",
        "app/core/__init__.py",
        "app/core/base.py",
        "app/core/more.py",
    ]
    assert [s.module for s in context] == ["app", "app.core", "app.core.base", "app.core.more"]


def test_context_is_bounded(tmp_path: Path) -> None:
    files = {"big/__init__.py": "", "big/m0.py": "from . import m1\n"}
    for i in range(1, 30):
        files[f"big/m{i}.py"] = f"from . import m{i + 1}\n"
    _write(tmp_path, files)
    first = SourceFile.from_path(tmp_path / "big/m0.py", cwd=tmp_path)
    context = load_context(
        [first],
        lambda s: build_symbols(s.ast_tree, s.module, is_package=s.is_package),  # type: ignore[arg-type]
        cwd=tmp_path,
        limit=5,
    )
    assert len(context) == 5


def test_module_file_and_source_root(tmp_path: Path) -> None:
    _write(tmp_path, {"a/__init__.py": "", "a/b/__init__.py": "", "a/b/c.py": "", "d/e.py": ""})
    assert module_file(tmp_path, "a.b.c") == [
        tmp_path / "a/b/c.py",
        tmp_path / "a/__init__.py",
        tmp_path / "a/b/__init__.py",
    ]
    assert module_file(tmp_path, "a.b") == [
        tmp_path / "a/b/__init__.py",
        tmp_path / "a/__init__.py",
    ]
    assert module_file(tmp_path, "d.e") == []  # d has no __init__.py
    assert module_file(tmp_path, "json") == []
    source = SourceFile.from_path(tmp_path / "a/b/c.py", cwd=tmp_path)
    assert source_root(source) == tmp_path.resolve()
    renamed = SourceFile.from_bytes(tmp_path / "a/b/c.py", b"", display_path="x", module="other")
    assert source_root(renamed) is None


def test_discover_with_context_lists_only_the_given_workflows(tmp_path: Path) -> None:
    from vrb_compile.discover import discover

    _write(tmp_path, SHOP)
    flows = SourceFile.from_path(tmp_path / "shop/flows.py", cwd=tmp_path)
    context = load_context(
        [flows],
        lambda s: build_symbols(s.ast_tree, s.module, is_package=s.is_package),  # type: ignore[arg-type]
        cwd=tmp_path,
    )
    index = discover([flows], context=context)
    assert [w.name for w in index.workflows] == ["order"]
    assert sorted(index.steps) == ["charge", "refund"]
    assert index.steps["charge"].ref == "shop.steps:charge"
    assert [w.name for w in discover([flows]).workflows] == ["order"]
    assert discover([flows]).steps == {}
