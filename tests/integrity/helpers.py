"""Helpers in another module: a frame of an async one is built on this module's globals."""

from __future__ import annotations

from .steps import triple


def scaled(x: int) -> int:
    return x * 3


async def tripled(x: int) -> int:
    y = await triple(x)
    return y + 0
