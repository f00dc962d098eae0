"""A worker's durations and counts have one range each, checked alike by ``Worker`` and ``vrb worker``.

``--lease-timeout 1e12`` made every claim fail for ever and ``1e-300`` failed
healthy runs as poison; both are refused now, at construction, by a message
naming the range (runtime/_worker_options.py says why each range is what it is).
"""

from __future__ import annotations

import argparse
import asyncio
import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import Client, ConfigurationError, Worker
from runtime._worker_options import WORKER_RANGES
from runtime.cli._common import worker_count, worker_seconds
from tests.properties import budget

SECONDS = [name for name, bound in WORKER_RANGES.items() if not bound.integer]
COUNTS = [name for name, bound in WORKER_RANGES.items() if bound.integer]


@pytest.fixture
def client() -> Iterator[Client]:
    client = Client("memory://")
    yield client
    asyncio.run(client.close())


@pytest.mark.parametrize("name", SECONDS)
def test_each_duration_is_taken_at_both_ends_of_its_range(client: Client, name: str) -> None:
    bound = WORKER_RANGES[name]
    for value in (bound.low, bound.high):
        worker = Worker(client, **{name: value})  # type: ignore[arg-type]
        kept = (
            worker.settings.inline_retry_max
            if name == "inline_retry_max"
            else getattr(worker, name)
        )
        assert kept == value


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "lease_timeout",
            1e12,
            "Worker lease_timeout must be from 0.01 to 86400 seconds (1 day), got 1000000000000.0",
        ),
        (
            "lease_timeout",
            1e-300,
            "Worker lease_timeout must be from 0.01 to 86400 seconds (1 day), got 1e-300",
        ),
        ("lease_timeout", math.nan, "Worker lease_timeout must be from 0.01"),
        ("lease_timeout", True, "Worker lease_timeout must be from 0.01"),
        ("lease_timeout", "30", "Worker lease_timeout must be from 0.01"),
        (
            "poll_interval",
            0,
            "Worker poll_interval must be from 0.01 to 3600 seconds (1 hour), got 0",
        ),
        ("heartbeat_interval", -1, "Worker heartbeat_interval must be from 0.01 to 86400 seconds"),
        ("retry_delay", math.inf, "Worker retry_delay must be from 0.01 to 86400 seconds"),
        ("park_interval", 1e9, "Worker park_interval must be from 0.01 to 604800 seconds (7 days)"),
        ("inline_retry_max", -0.5, "Worker inline_retry_max must be from 0 to 3600 seconds"),
        ("cancel_grace", 1e9, "Worker cancel_grace must be from 0 to 604800 seconds"),
        (
            "max_concurrency",
            10**18,
            "Worker max_concurrency must be an int from 1 to 10000, got 1000000000000000000",
        ),
        ("max_concurrency", 2.0, "Worker max_concurrency must be an int from 1 to 10000, got 2.0"),
        ("max_recoveries", -1, "Worker max_recoveries must be an int from 0 to 1000, got -1"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_the_range(
    client: Client, name: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Worker(client, **{name: value})  # type: ignore[arg-type]
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("lease_timeout", "1e12", "must be from 0.01 to 86400 seconds (1 day), got '1e12'"),
        ("lease_timeout", "1e-300", "must be from 0.01 to 86400 seconds (1 day), got '1e-300'"),
        ("lease_timeout", "nan", "must be from 0.01 to 86400 seconds (1 day), got 'nan'"),
        ("lease_timeout", "soon", "expected a number from 0.01 to 86400 seconds (1 day), got"),
        ("poll_interval", "0", "must be from 0.01 to 3600 seconds (1 hour), got '0'"),
        ("max_concurrency", "9" * 5000, "expected an int from 1 to 10000, got '999"),
        ("max_concurrency", "0", "must be an int from 1 to 10000, got '0'"),
    ],
)
def test_vrb_worker_refuses_the_same_values_with_the_same_range(
    option: str, text: str, message: str
) -> None:
    parse = worker_count(option) if WORKER_RANGES[option].integer else worker_seconds(option)
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert message in str(refused.value)
    assert len(str(refused.value)) < 200  # a 5,000-digit value is shown cut


@settings(max_examples=budget("worker_option_ranges"))
@given(
    name=st.sampled_from(SECONDS),
    value=st.floats() | st.sampled_from([0.1, 0.01, 86_400.0, 86_400.5, 3600.0, 604_800.0]),
)
def test_vrb_worker_takes_a_duration_exactly_when_the_worker_does(name: str, value: float) -> None:
    try:
        worker_seconds(name)(repr(value))
        by_cli = True
    except argparse.ArgumentTypeError:
        by_cli = False
    client = Client("memory://")
    try:
        Worker(client, **{name: value})  # type: ignore[arg-type]
        by_worker = True
    except ConfigurationError:
        by_worker = False
    finally:
        asyncio.run(client.close())
    assert by_cli == by_worker, (name, value)
