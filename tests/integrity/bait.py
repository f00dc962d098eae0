"""A module no worker may import: importing it leaves a mark (VRB_TEST_BAIT_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

_MARK = os.environ.get("VRB_TEST_BAIT_FILE")
if _MARK:
    Path(_MARK).write_text("imported", encoding="utf-8")

from runtime import step  # noqa: E402


@step("integrity-bait-step")
async def bait_step(x: int) -> int:
    if _MARK:
        Path(_MARK).write_text("ran", encoding="utf-8")
    return x
