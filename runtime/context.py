"""The contexts a workflow body and a step receive.

A context delegates to a backend: the graph interpreter when a worker runs the
workflow durably, or :class:`LocalBackend` when the function is called directly
(unit tests, scripts). The deterministic replacements (``now``, ``random``,
``uuid4``) are what the compiler points users to instead of the wall clock and
global randomness, so on replay they must return what the live run saw.
"""

from __future__ import annotations

import asyncio
import random as _random
import uuid as _uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from .durations import Duration, parse_duration
from .errors import SignalTimeout

__all__ = ["ContextBackend", "LocalBackend", "StepContext", "WorkflowContext"]


class ContextBackend(Protocol):
    """What executes the durable operations of a context."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the run for ``seconds`` (a durable timer)."""

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        """Return the next payload of signal ``name``, FIFO, waiting if none is buffered."""

    async def parallel(self, branches: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
        """Run ``branches`` concurrently and return their results in branch order."""

    def now(self) -> datetime:
        """The current time, recorded so replay sees the same value."""

    def random(self) -> float:
        """A float in [0, 1), seeded from the run so replay sees the same value."""

    def uuid4(self) -> _uuid.UUID:
        """A random UUID, seeded from the run so replay sees the same value."""


class LocalBackend:
    """Runs a workflow function in-process without durability.

    Signals are delivered with :meth:`send_signal`; randomness is seeded from the
    run id so two local runs with the same id see the same values.
    """

    def __init__(
        self, run_id: str = "local", *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._rng = _random.Random(run_id)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._inbox: dict[str, deque[Any]] = defaultdict(deque)
        self._arrived: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def send_signal(self, name: str, payload: Any = None) -> None:
        """Buffer ``payload`` for the next wait on signal ``name``."""
        self._inbox[name].append(payload)
        self._arrived[name].set()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_for_signal(self, name: str, timeout: float | None) -> Any:
        async def next_payload() -> Any:
            while not self._inbox[name]:
                self._arrived[name].clear()
                await self._arrived[name].wait()
            return self._inbox[name].popleft()

        if timeout is None:
            return await next_payload()
        try:
            return await asyncio.wait_for(next_payload(), timeout)
        except TimeoutError:
            raise SignalTimeout(name, timeout) from None

    async def parallel(self, branches: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
        return list(await asyncio.gather(*(branch() for branch in branches)))

    def now(self) -> datetime:
        return self._clock()

    def random(self) -> float:
        return self._rng.random()

    def uuid4(self) -> _uuid.UUID:
        return _uuid.UUID(int=self._rng.getrandbits(128), version=4)


class WorkflowContext:
    """The ``ctx`` of a workflow body: identity, durable waits and deterministic values.

    Attributes:
        run_id: The id of the run.
        workflow_name: The name the workflow is registered under.
    """

    def __init__(self, run_id: str, workflow_name: str, backend: ContextBackend) -> None:
        self.run_id = run_id
        self.workflow_name = workflow_name
        self._backend = backend

    async def sleep(self, duration: Duration) -> None:
        """Sleep durably: the run holds no worker while it sleeps.

        Args:
            duration: Seconds, a ``timedelta`` or a string such as ``"5m"``.
        """
        await self._backend.sleep(parse_duration(duration, what="sleep duration"))

    async def wait_for_signal(self, name: str, timeout: Duration | None = None) -> Any:
        """Wait for the next payload of signal ``name`` (buffered, FIFO per name).

        Args:
            name: The signal's name, as senders use it.
            timeout: How long to wait; ``None`` waits indefinitely.

        Raises:
            SignalTimeout: The timeout ran out first.
        """
        seconds = None if timeout is None else parse_duration(timeout, what="signal timeout")
        return await self._backend.wait_for_signal(name, seconds)

    async def parallel(self, branches: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
        """Run step calls concurrently; results come back in branch order.

        Args:
            branches: Zero-argument lambdas, each calling one step:
                ``[lambda: charge(amount), lambda: deduct(amount)]``.
        """
        return await self._backend.parallel(list(branches))

    def now(self) -> datetime:
        """The current UTC time, identical when the run is replayed."""
        return self._backend.now()

    def random(self) -> float:
        """A random float in [0, 1), identical when the run is replayed."""
        return self._backend.random()

    def uuid4(self) -> _uuid.UUID:
        """A random UUID, identical when the run is replayed."""
        return self._backend.uuid4()


class StepContext:
    """Injected into a step whose first parameter is annotated ``StepContext``.

    Attributes:
        run_id: The run the step belongs to.
        step_name: The step's registered name.
        attempt: The attempt number, 1 for the first.
        idempotency_key: ``"<run_id>:<key>"``, where key is the invocation's
            event key: the same across retries and replays of this invocation,
            different in every other invocation and run; pass it to external
            services that deduplicate requests.
    """

    def __init__(
        self,
        run_id: str,
        step_name: str,
        attempt: int,
        idempotency_key: str,
        backend: ContextBackend,
    ) -> None:
        self.run_id = run_id
        self.step_name = step_name
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self._backend = backend

    async def wait_for_signal(self, name: str, timeout: Duration | None = None) -> Any:
        """Wait inside the step for the next payload of signal ``name``.

        Raises:
            SignalTimeout: The timeout ran out first.
        """
        seconds = None if timeout is None else parse_duration(timeout, what="signal timeout")
        return await self._backend.wait_for_signal(name, seconds)
