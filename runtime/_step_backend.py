"""The backend of the :class:`~runtime.context.StepContext` a step attempt gets.

A step body needs two things of the run that executes it: a way to wait for a
signal durably, and a clock. The executor hands over exactly those, so this
module knows nothing of executors, stores or journals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

__all__ = ["SignalWaiter", "StepBackend"]

SignalWaiter = Callable[[str, str, float | None], Awaitable[Any]]
"""``(key, name, timeout)`` -> the payload of the next signal ``name``, taken under ``key``."""


class StepBackend:
    """The ContextBackend of one step attempt: durable signal waits and a clock.

    Args:
        key: The step invocation's event key.
        wait: Takes (or waits durably for) a signal under the key it is given.
        clock: The time a step reads from its context.
    """

    def __init__(self, key: str, wait: SignalWaiter, clock: Callable[[], datetime]) -> None:
        self._key = key
        self._wait = wait
        self._clock = clock
        self._counts: dict[str, int] = {}

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        # The n-th wait for a name in this invocation: the same key in every
        # attempt and every re-run, so a re-run gets the payload recorded first.
        count = self._counts.get(name, 0)
        self._counts[name] = count + 1
        return await self._wait(f"{self._key}/{name}/{count}", name, timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def parallel(self, branches: Sequence[Callable[[], Any]]) -> list[Any]:
        return list(await asyncio.gather(*(branch() for branch in branches)))

    def now(self) -> datetime:
        return self._clock()

    def random(self) -> float:
        raise NotImplementedError("steps may use the random module directly")

    def uuid4(self) -> Any:
        raise NotImplementedError("steps may use the uuid module directly")
