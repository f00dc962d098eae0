"""Test support: a manual clock and the store conformance suite.

Every store backend must pass :data:`CONFORMANCE_CHECKS`. A backend's test
module builds a :class:`StoreHarness` and runs each check, for example::

    @pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check, tmp_path):
        harness = StoreHarness(lambda clock: SQLiteStore(tmp_path / "t.db", clock=clock),
                               url=f"sqlite:///{tmp_path}/t.db")
        run_check(check, harness)

A check is an ``async def check_...(h: StoreHarness) -> None`` named for the
behaviour it verifies; it raises ``AssertionError`` when the store misbehaves.
Checks with ``requires_url`` use several processes and only run when the
harness has a URL that other processes can open. Nothing here imports pytest.
"""

from __future__ import annotations

# The check modules register their checks in CONFORMANCE_CHECKS on import, in this order.
from ._conformance import checks_quarantine as _checks_quarantine  # noqa: F401
from ._conformance import checks_runs as _checks_runs  # noqa: F401
from ._conformance import checks_waits as _checks_waits  # noqa: F401
from ._conformance.core import (
    CONFORMANCE_CHECKS,
    ManualClock,
    StoreHarness,
    conformance_check,
    run_check,
)

__all__ = [
    "CONFORMANCE_CHECKS",
    "ManualClock",
    "StoreHarness",
    "conformance_check",
    "run_check",
]
