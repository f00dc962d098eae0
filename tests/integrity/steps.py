"""A step the helpers module calls."""

from __future__ import annotations

from runtime import step


@step("integrity-triple")
async def triple(x: int) -> int:
    return x * 3
