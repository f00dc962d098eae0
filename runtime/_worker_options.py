"""The ranges a worker's options must lie in: one check, shared by :class:`~runtime.Worker` and ``vrb worker``.

A duration outside a sane range does not fail loudly: it breaks the fleet
quietly. A lease of ``1e12`` seconds overflows every expiry a store computes, so
each claim fails for ever; one of ``1e-300`` lapses before the claim returns, so
healthy runs are taken over on every step and end failed as poison; a poll
interval of ``1e-300`` turns an idle worker into a loop hammering the store.
Each option therefore has a range, stated in its refusal:

* ``lease_timeout``: 0.01 s to 1 day. Below that a lease lapses within one
  store round trip (tests use 0.05 s to make leases lapse on purpose); a longer one leaves a dead worker's runs stuck longer than anyone
  waits, and is more than a store grants
  (:data:`runtime.stores._checks.MAX_LEASE_TIMEOUT`).
* ``heartbeat_interval``: 0.01 s to 1 day. Renewals run at least three times
  per lease whatever it says (every ``min(heartbeat_interval, lease_timeout /
  3)`` seconds), so the heartbeat always stays well under the lease.
* ``poll_interval``: 0.01 s to 1 hour. Below, an idle worker spins; above, a
  store without notifications (SQLite) leaves due runs waiting an hour.
* ``retry_delay``: 0.01 s to 1 day. A run given back due at once would be
  claimed and given back again in a loop.
* ``park_interval``: 0.01 s to 7 days (a diverged run waits for a fixed worker).
* ``inline_retry_max``: 0 to 1 hour (a backoff slept in-process holds a slot).
* ``cancel_grace``: 0 to 7 days (how long workers with the run's graph get).
* ``max_concurrency``: 1 to 10,000 runs in flight, each a task holding a lease.
* ``max_recoveries``: 0 to 1,000 worker deaths a run may cause.

A value out of range is refused when the worker is built (and by ``vrb worker``
when its arguments are read), never at the first claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigurationError, shown
from .stores._checks import MAX_LEASE_TIMEOUT

__all__ = [
    "WORKER_RANGES",
    "OptionRange",
    "check_worker_count",
    "check_worker_seconds",
    "worker_option_problem",
]

_DAY = 86_400.0


@dataclass(frozen=True)
class OptionRange:
    """The values an option takes: ``low <= value <= high``.

    Attributes:
        low: The smallest value.
        high: The largest value.
        integer: An int option (a count), not seconds.
        high_text: ``high`` in words, for the message (``"1 day"``).
    """

    low: float
    high: float
    integer: bool = False
    high_text: str = ""

    def describe(self) -> str:
        """``from 0.01 to 86400 seconds (1 day)``, or ``an int from 1 to 10000``."""
        if self.integer:
            return f"an int from {self.low:g} to {self.high:g}"
        words = f" ({self.high_text})" if self.high_text else ""
        return f"from {self.low:g} to {self.high:g} seconds{words}"


WORKER_RANGES: dict[str, OptionRange] = {
    "lease_timeout": OptionRange(0.01, MAX_LEASE_TIMEOUT, high_text="1 day"),
    "heartbeat_interval": OptionRange(0.01, _DAY, high_text="1 day"),
    "poll_interval": OptionRange(0.01, 3600.0, high_text="1 hour"),
    "retry_delay": OptionRange(0.01, _DAY, high_text="1 day"),
    "park_interval": OptionRange(0.01, 7 * _DAY, high_text="7 days"),
    "inline_retry_max": OptionRange(0.0, 3600.0, high_text="1 hour"),
    "cancel_grace": OptionRange(0.0, 7 * _DAY, high_text="7 days"),
    "max_concurrency": OptionRange(1, 10_000, integer=True),
    "max_recoveries": OptionRange(0, 1_000, integer=True),
}
"""Each worker option's range (see the module docstring for why)."""


def worker_option_problem(name: str, value: object) -> str | None:
    """What is wrong with ``value`` for the worker option ``name``, or ``None``.

    The problem reads after the option's name: ``must be from 0.01 to 86400
    seconds (1 day)``.
    """
    bound = WORKER_RANGES[name]
    if bound.integer:
        ok = type(value) is int and bound.low <= value <= bound.high
    else:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and bound.low <= value <= bound.high
        )
    return None if ok else f"must be {bound.describe()}"


def check_worker_seconds(name: str, value: object) -> float:
    """``value`` in seconds, if it lies in the range of the worker option ``name``.

    Args:
        name: The option (a key of :data:`WORKER_RANGES`).
        value: What was given.

    Raises:
        ConfigurationError: It is not a number in the range; the message names
            the option and the range.
    """
    _refuse(name, value)
    assert isinstance(value, int | float)
    return float(value)


def check_worker_count(name: str, value: object) -> int:
    """``value``, if it is an int in the range of the worker option ``name`` (a count).

    Raises:
        ConfigurationError: It is not an int in the range; the message names
            the option and the range.
    """
    _refuse(name, value)
    assert isinstance(value, int)
    return value


def _refuse(name: str, value: object) -> None:
    problem = worker_option_problem(name, value)
    if problem is not None:
        raise ConfigurationError(f"Worker {name} {problem}, got {shown(value)}")
