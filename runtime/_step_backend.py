"""The backend of the :class:`~runtime.context.StepContext` a step body gets from :mod:`runtime.worker_run`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .worker_run import RunExecutor

__all__ = ["StepBackend"]


class StepBackend:
    """The ContextBackend a step's StepContext uses: signals only."""

    def __init__(self, run: RunExecutor, key: str) -> None:
        self._run = run
        self._key = key
        self._counts: dict[str, int] = {}

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        count = self._counts.get(name, 0)
        self._counts[name] = count + 1
        return await self._run.step_signal(f"{self._key}/{name}/{count}", name, timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def parallel(self, branches: Sequence[Callable[[], Any]]) -> list[Any]:
        return list(await asyncio.gather(*(branch() for branch in branches)))

    def now(self) -> datetime:
        return self._run.settings.clock()

    def random(self) -> float:
        raise NotImplementedError("steps may use the random module directly")

    def uuid4(self) -> Any:
        raise NotImplementedError("steps may use the uuid module directly")
