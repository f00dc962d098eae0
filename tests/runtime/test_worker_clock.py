"""A worker keeps the store's time, whatever its own clock says.

The store decides when a run is due with its clock (PostgreSQL: the server's)
and stamps every event with it. A worker's clock an hour off must not make a
0.3 s sleep or a retry's backoff an hour long (or an hour in the past), nor
``ctx.now()`` answer a time the store never saw. Each worker here runs on the
system clock shifted an hour ahead or behind, against stores that keep the
real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from runtime import Client

from .conftest import run, serving

SKEWS = [timedelta(hours=1), -timedelta(hours=1)]
LIVENESS = 30  # guards against a hang only


def _skewed(by: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + by


@pytest.mark.parametrize("skew", SKEWS, ids=["ahead", "behind"])
def test_a_sleep_ends_its_length_after_it_began_on_the_stores_clock(
    store_url: str, skew: timedelta
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sleep", [0.3])
        async with serving(client, clock=_skewed(skew)):
            assert await client.workflow.result(handle.run_id, timeout=LIVENESS) == "rested"
        history = await client.workflow.history(handle.run_id)
        created = next(e for e in history if e.type == "wait_created")
        length = (created.payload.until - created.at).total_seconds()  # type: ignore[union-attr,operator]
        # 0.3 s, give or take the commit's delay and the offset's error: not an hour off.
        assert abs(length - 0.3) < 60, length

    run(scenario, store_url)


@pytest.mark.parametrize("skew", SKEWS, ids=["ahead", "behind"])
def test_a_durable_retry_is_due_its_backoff_after_the_failure_on_the_stores_clock(
    store_url: str, skew: timedelta
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-retry")
        # inline_retry_max=0: every backoff gives the run back, due at retry_at.
        async with serving(client, clock=_skewed(skew), inline_retry_max=0.0):
            await client.workflow.result(handle.run_id, timeout=LIVENESS)
        history = await client.workflow.history(handle.run_id)
        retries = [e for e in history if e.type == "step_retrying"]
        assert retries
        for event in retries:
            delay = (event.payload.retry_at - event.at).total_seconds()  # type: ignore[union-attr,operator]
            assert abs(delay) < 60, delay

    run(scenario, store_url)


@pytest.mark.parametrize("skew", SKEWS, ids=["ahead", "behind"])
def test_ctx_now_answers_a_time_the_store_keeps(store_url: str, skew: timedelta) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-now-alias")
        async with serving(client, clock=_skewed(skew)):
            stamp = await client.workflow.result(handle.run_id, timeout=LIVENESS)
        history = await client.workflow.history(handle.run_id)
        first, last = history[0].at, history[-1].at
        assert first <= datetime.fromisoformat(stamp) <= last, (first, stamp, last)

    run(scenario, store_url)
