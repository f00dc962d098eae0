"""Durations and retry backoff, as every option of the SDK accepts them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .errors import ConfigurationError

__all__ = ["Backoff", "Duration", "parse_duration"]

Duration = int | float | timedelta | str
"""Seconds as a number, a ``timedelta``, or a string such as ``"250ms"``, ``"30s"``, ``"5m"``."""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: Duration, *, what: str = "duration") -> float:
    """Convert a duration to seconds.

    Args:
        value: Seconds (int or float), a ``timedelta``, or a string with a unit:
            ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``.
        what: The option's name, used in the error message.

    Returns:
        The duration in seconds, never negative.

    Raises:
        ConfigurationError: The value is not a duration or is negative.
    """
    seconds: float
    if isinstance(value, bool):
        raise ConfigurationError(f"{what} must be a duration, not a bool ({value!r})")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ConfigurationError(
                f"{what} {value!r} is not a duration: write seconds as a number or a string "
                "such as '250ms', '30s', '5m', '2h', '1d'"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ConfigurationError(
            f"{what} must be seconds, a timedelta or a string like '30s', not {type(value).__name__}"
        )
    if math.isnan(seconds) or seconds < 0 or math.isinf(seconds):
        raise ConfigurationError(f"{what} must be a finite, non-negative duration, got {value!r}")
    return seconds


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between step retries; the delay is itself durable.

    The delay before retry *k* (1-based) is ``min(max, initial * factor ** (k - 1))``.

    Attributes:
        initial: Delay before the first retry, in seconds.
        factor: Multiplier applied for each further retry (>= 1).
        max: Upper bound of any delay, in seconds.
    """

    initial: float = 1.0
    factor: float = 2.0
    max: float = 60.0

    def __init__(self, initial: Duration = 1.0, factor: float = 2.0, max: Duration = 60.0) -> None:
        object.__setattr__(self, "initial", parse_duration(initial, what="backoff initial"))
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 1:
            raise ConfigurationError(f"backoff factor must be a number >= 1, got {factor!r}")
        object.__setattr__(self, "factor", float(factor))
        object.__setattr__(self, "max", parse_duration(max, what="backoff max"))

    @classmethod
    def coerce(cls, value: Backoff | dict[str, Any] | None) -> Backoff:
        """Accept a ``Backoff``, a dict with its keys, or ``None`` for the default."""
        if value is None:
            return cls()
        if isinstance(value, Backoff):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"initial", "factor", "max"}
            if unknown:
                raise ConfigurationError(
                    f"unknown backoff keys {sorted(unknown)}; use 'initial', 'factor', 'max'"
                )
            return cls(**value)
        raise ConfigurationError(f"backoff must be a Backoff or a dict, not {type(value).__name__}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        # Cap the exponent so a large retry count cannot overflow a float.
        exponent = min(retry - 1, 1024)
        try:
            raw = self.initial * self.factor**exponent
        except OverflowError:
            return self.max
        return min(self.max, raw)

    def to_dict(self) -> dict[str, float]:
        """The backoff as a JSON-ready dict."""
        return {"initial": self.initial, "factor": self.factor, "max": self.max}
