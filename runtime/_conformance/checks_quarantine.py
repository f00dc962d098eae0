"""Conformance checks: quarantined executions, whose workers' deaths the run is blamed for."""

from __future__ import annotations

from datetime import timedelta

from ..stores.base import LeaseLost, RunUpdate
from .core import StoreHarness, _claim_one, _raises, conformance_check


@conformance_check()
async def check_a_takeover_of_a_quarantined_lease_counts_a_quarantine_death(
    h: StoreHarness,
) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    first = await _claim_one(store, "w1", lease_timeout=10)
    assert first.run.quarantine_deaths == 0
    await store.quarantine(first.lease)
    h.clock.advance(11)
    second = await _claim_one(store, "w2", lease_timeout=10)
    assert (second.reason, second.run.recoveries, second.run.quarantine_deaths) == (
        "recovered",
        1,
        1,
    )
    assert (await store.get_run("r")).quarantine_deaths == 1
    # The mark belonged to the first lease: this one lapses unmarked, no death counted.
    h.clock.advance(11)
    third = await _claim_one(store, "w3", lease_timeout=10)
    assert (third.run.recoveries, third.run.quarantine_deaths) == (2, 1)
    # A renewal keeps the mark of its lease.
    await store.quarantine(third.lease)
    await store.renew_lease(third.lease)
    h.clock.advance(11)
    fourth = await _claim_one(store, "w4", lease_timeout=10)
    assert (fourth.run.recoveries, fourth.run.quarantine_deaths) == (3, 2)
    listed = await store.list_runs()
    assert [run.quarantine_deaths for run in listed.runs] == [2]


@conformance_check()
async def check_a_quarantined_run_given_back_counts_no_death(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    claim = await _claim_one(store, "w1", lease_timeout=10)
    await store.quarantine(claim.lease)
    await store.release(claim.lease)
    resumed = await _claim_one(store, "w2", lease_timeout=10)
    assert (resumed.reason, resumed.run.quarantine_deaths) == ("resumed", 0)
    await store.quarantine(resumed.lease)
    await store.append(resumed.lease, [], update=RunUpdate(status="waiting"))
    await store.send_signal("r", "go")
    h.clock.advance(11)
    assert await store.claim("w3") == []  # waiting for nothing that came: not due
    assert (await store.get_run("r")).quarantine_deaths == 0


@conformance_check()
async def check_quarantine_is_fenced_by_the_lease(h: StoreHarness) -> None:
    store = h.open()
    await store.create_run("r", "wf", None)
    stale = await _claim_one(store, "w1", lease_timeout=10)
    h.clock.advance(11)
    live = await _claim_one(store, "w2", lease_timeout=10)
    lost = await _raises(LeaseLost, store.quarantine(stale.lease))
    assert (lost.run_id, lost.epoch) == ("r", stale.lease.epoch)
    h.clock.advance(11)
    taken = await _claim_one(store, "w3", lease_timeout=10)
    assert taken.run.quarantine_deaths == 0, "the stale lease marked nothing"
    await store.append(taken.lease, [], update=RunUpdate(status="completed", result=1))
    await _raises(LeaseLost, store.quarantine(live.lease))
    await _raises(LeaseLost, store.quarantine(taken.lease))


@conformance_check()
async def check_a_run_given_back_due_in_the_past_is_claimed_first(h: StoreHarness) -> None:
    # The worker gives a run waiting for quarantine back due at its creation,
    # so the next claim takes it before the runs that became due since.
    store = h.open()
    for run_id in ("a", "b", "c"):
        h.clock.advance(1)
        await store.create_run(run_id, "wf", None)
    claims = {c.run.run_id: c for c in await store.claim("w", limit=3)}
    await store.release(claims["a"].lease)
    await store.release(claims["b"].lease)
    created = claims["c"].run.created_at
    await store.release(claims["c"].lease, wake_at=created - timedelta(seconds=10))
    order = [c.run.run_id for c in await store.claim("w", limit=3)]
    assert order == ["c", "a", "b"]
