"""A step of another module the worker imported: a graph must not call it in place of its own."""

from __future__ import annotations

import os
from pathlib import Path

from runtime import step


@step("integrity-other")
async def other(x: int, y: int = 0) -> int:
    mark = os.environ.get("VRB_TEST_BAIT_FILE")
    if mark:
        Path(mark).write_text("ran", encoding="utf-8")
    return x
