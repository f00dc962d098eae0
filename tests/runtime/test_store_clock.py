"""The store's time as a worker reads it (runtime._store_clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime._store_clock import StoreClock
from runtime.testing import ManualClock

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _sample(clock: StoreClock, local: ManualClock, offset: float, trip: float) -> None:
    sent = local()
    local.advance(trip)
    clock.observe(sent + timedelta(seconds=trip / 2 + offset), sent, local())


def test_before_any_sample_the_store_clock_is_the_local_one() -> None:
    local = ManualClock(T0)
    assert StoreClock(local)() == T0


def test_the_offset_is_read_from_the_midpoint_of_a_round_trip() -> None:
    local = ManualClock(T0)
    clock = StoreClock(local)
    _sample(clock, local, offset=3600.0, trip=0.2)
    assert clock() - local() == timedelta(hours=1)


def test_the_shortest_round_trip_of_the_latest_samples_wins() -> None:
    local = ManualClock(T0)
    clock = StoreClock(local)
    _sample(clock, local, offset=10.0, trip=0.002)
    _sample(clock, local, offset=10.5, trip=1.0)  # a slow reply bounds the offset worse
    assert clock.offset == timedelta(seconds=10)


def test_an_old_sample_ages_out_so_a_stepped_clock_is_followed() -> None:
    local = ManualClock(T0)
    clock = StoreClock(local)
    _sample(clock, local, offset=10.0, trip=0.001)
    for _ in range(8):
        _sample(clock, local, offset=-5.0, trip=0.1)
    assert clock.offset == timedelta(seconds=-5)


def test_a_round_trip_the_local_clock_ran_backwards_through_is_ignored() -> None:
    local = ManualClock(T0)
    clock = StoreClock(local)
    clock.observe(T0 + timedelta(hours=1), T0, T0 - timedelta(seconds=1))
    assert clock.offset == timedelta(0)


def test_it_never_answers_earlier_than_a_time_the_store_returned() -> None:
    local = ManualClock(T0)
    clock = StoreClock(local)
    _sample(clock, local, offset=0.0, trip=0.001)
    # A slow reply whose store time was read late in the trip.
    sent = local()
    local.advance(1.0)
    clock.observe(local(), sent, local())
    assert clock() >= local()
