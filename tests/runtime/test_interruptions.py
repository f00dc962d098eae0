"""A run interrupted at any commit and resumed ends with the same result and log.

The store is real; only the worker "dies": a wrapper raises a crash right
before or right after the N-th append, for every N, and a fresh worker resumes
the run once the dead worker's lease lapses.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from runtime import Client, Worker
from runtime.stores import open_store
from runtime.stores.base import Store

from . import flows
from .conftest import FAST, library

CASES = [
    ("t-saga-caught", None),
    ("t-control", {"items": [1, 2, 3, 5, 7, 9]}),
    ("t-parallel", [True]),
    ("t-retry", None),
    ("t-sleep", [0.05]),
    ("t-signal", None),
    ("t-step-signal", None),
]
SIGNALS = {"t-signal": [("go", 1), ("go", 2)], "t-step-signal": [("approval", "yes")]}


class _Crash(BaseException):
    """The worker process died."""


class _CrashingStore:
    """Delegates to a real store; the worker dies around its N-th append."""

    def __init__(self, store: Store, crash_at: int, after: bool) -> None:
        self._store = store
        self._crash_at = crash_at
        self._after = after
        self.appends = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        self.appends += 1
        if self.appends == self._crash_at and not self._after:
            raise _Crash
        result = await self._store.append(*args, **kwargs)
        if self.appends == self._crash_at:
            raise _Crash
        return result


def _log(history: list[Any]) -> list[tuple[str, str | None]]:
    # A re-executed attempt or rollback starts again; everything else must be recorded once.
    again = ("step_started", "run_started", "rollback_started")
    return [(e.type, e.key) for e in history if e.type not in again]


async def _finish(client: Client, run_id: str) -> Any:
    worker = Worker(client, library(), **{**FAST, "lease_timeout": 0.05})
    async with asyncio.timeout(20):
        while (await client.workflow.get_run(run_id)).status not in ("completed", "failed"):
            await worker.run_until_idle(*library().names())
            await asyncio.sleep(0.01)
    return (await client.store.get_run(run_id)).result


async def _serve_until_crash(worker: Worker) -> None:
    async with asyncio.timeout(20):
        while True:  # across sleeps, until the crash
            await worker.run_until_idle(*library().names())
            await asyncio.sleep(0.01)


async def _baseline(url: str, name: str, args: Any) -> tuple[Any, list[Any], int, Counter[Any]]:
    flows.CALLS.clear()
    store = open_store(url)
    counting = _CrashingStore(store, crash_at=0, after=True)
    client = Client(counting)  # type: ignore[arg-type]
    handle = await client.workflow.trigger(name, args)
    for signal, payload in SIGNALS.get(name, []):
        await client.workflow.send_signal(handle.run_id, signal, payload)
    result = await _finish(client, handle.run_id)
    history = await client.workflow.history(handle.run_id)
    await store.close()
    return result, _log(history), counting.appends, _calls(handle.run_id)


def _calls(run_id: str) -> Counter[str]:
    # Idempotency keys name the run: compare calls of different runs without it.
    return Counter(repr(call).replace(run_id, "<run>") for call in flows.CALLS)


def _scratch(url: str, suffix: str) -> str:
    """A store for one sample: a new SQLite file; ``memory://`` is new at each open,
    and on PostgreSQL the samples' runs stay apart by run id in the test's schema."""
    return f"{url}.{suffix}" if url.startswith("sqlite:") else url


@pytest.mark.parametrize(("name", "args"), CASES, ids=[case[0] for case in CASES])
@pytest.mark.parametrize("after", [False, True], ids=["before-commit", "after-commit"])
def test_run_interrupted_at_any_commit_ends_like_an_uninterrupted_one(
    store_url: str, name: str, args: Any, after: bool
) -> None:
    flows.FLAKY_FAILURES = 1

    async def main() -> None:
        result, log, appends, calls = await _baseline(_scratch(store_url, "base"), name, args)
        assert appends >= 2
        for crash_at in range(1, appends + 1):
            flows.CALLS.clear()
            store = open_store(_scratch(store_url, str(crash_at)))
            client = Client(_CrashingStore(store, crash_at, after))  # type: ignore[arg-type]
            handle = await client.workflow.trigger(name, args)
            for signal, payload in SIGNALS.get(name, []):
                await client.workflow.send_signal(handle.run_id, signal, payload)
            dying = Worker(client, library(), **{**FAST, "lease_timeout": 0.05})
            with pytest.raises(_Crash):
                await _serve_until_crash(dying)
            resumed = Client(store)
            assert await _finish(resumed, handle.run_id) == result, f"crash at append {crash_at}"
            assert _log(await resumed.workflow.history(handle.run_id)) == log, crash_at
            # Only the operation in flight at the crash may have run twice.
            extra = _calls(handle.run_id) - calls
            assert sum(extra.values()) <= 1, (crash_at, extra)
            await store.close()

    asyncio.run(main())
