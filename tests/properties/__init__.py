"""Hypothesis properties of the compiler and the runtime, one property per test.

Example counts per property and profile (``VRB_HYPOTHESIS_PROFILE``, see
tests/conftest.py) live in :data:`BUDGETS`; :func:`budget` picks one.
"""

from __future__ import annotations

import os

BUDGETS: dict[str, dict[str, int]] = {
    "default": {
        "source_graph_memory": 200,
        "source_graph_sqlite": 30,
        "replay": 200,
        "replay_sqlite": 30,
        "crash": 50,
        "crash_sqlite": 10,
        "store_machine": 50,
    },
    "ci-deep": {
        "source_graph_memory": 2000,
        "source_graph_sqlite": 250,
        "replay": 800,
        "replay_sqlite": 150,
        "crash": 600,
        "crash_sqlite": 100,
        "store_machine": 200,
    },
}


def budget(name: str) -> int:
    """How many examples property ``name`` gets under the active profile."""
    profile = os.environ.get("VRB_HYPOTHESIS_PROFILE", "").strip() or "default"
    return BUDGETS.get(profile, BUDGETS["default"])[name]
