"""Shared fixtures: write a small package under tmp_path and check it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from vrb_compile.api import CheckConfig, CheckResult, check_paths

CheckFiles = Callable[..., CheckResult]


@pytest.fixture
def check_files(tmp_path: Path) -> CheckFiles:
    """``check_files({"shop/flows.py": "..."}, pure=(...))`` writes the files and checks them."""

    def run(files: Mapping[str, str], **config: object) -> CheckResult:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        options = {"jobs": 1, **config}
        return check_paths([tmp_path], CheckConfig(**options), cwd=tmp_path)  # type: ignore[arg-type]

    return run
