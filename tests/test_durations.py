from __future__ import annotations

from datetime import timedelta

import pytest

from runtime import Backoff, ConfigurationError, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (0.25, 0.25),
        (timedelta(minutes=2), 120.0),
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        (" 1.5s ", 1.5),
    ],
)
def test_parse_duration_accepts_numbers_timedeltas_and_unit_strings(
    value: object, seconds: float
) -> None:
    assert parse_duration(value) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("30", "not a duration"),
        ("5 minutes", "not a duration"),
        (-1, "non-negative"),
        (float("nan"), "finite"),
        (True, "not a bool"),
        ([1], "not list"),
    ],
)
def test_parse_duration_rejects_bad_values_with_one_line(value: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        parse_duration(value, what="timeout")  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert "timeout" in str(info.value)


def test_backoff_delay_doubles_from_initial_and_is_capped() -> None:
    backoff = Backoff(initial="1s", factor=2.0, max="5s")
    assert [backoff.delay(k) for k in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_delay_survives_huge_retry_numbers() -> None:
    assert Backoff(initial=1, factor=10, max=60).delay(10_000) == 60.0


def test_backoff_coerces_dicts_and_rejects_unknown_keys() -> None:
    assert Backoff.coerce({"initial": "250ms", "factor": 3}).delay(2) == 0.75
    assert Backoff.coerce(None) == Backoff()
    with pytest.raises(ConfigurationError, match="unknown backoff keys"):
        Backoff.coerce({"initial": 1, "jitter": True})
    with pytest.raises(ConfigurationError, match="factor"):
        Backoff(factor=0.5)
