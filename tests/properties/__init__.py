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
        "url_secrets": 300,
        "url_secrets_open": 100,
        "url_secrets_cli": 60,
        "inert_text": 300,
        "telemetry_counts": 100,
        "fuzz_vrb_argv": 600,
        "fuzz_store_urls_open": 300,
        "fuzz_store_urls_cli": 100,
        "worker_option_ranges": 200,
        "fuzz_compile_sources": 120,
        "fuzz_compile_sources_subprocess": 3,
        "fuzz_vrb_compile_argv": 400,
        "fuzz_vrb_compile_argv_subprocess": 3,
        "fuzz_client_api": 100,
        "fuzz_client_api_concurrent": 40,
        "fuzz_client_api_sync": 20,
        "fuzz_client_api_sizes": 300,
        "graph_files_load": 400,
        "graph_files_run": 200,
    },
    # Sized so a CI run stays well under its 20 minutes on two cores: with signals
    # waited inside steps generated, an example of the replay property (every prefix
    # of its log replayed) costs ~0.7 s, and one property runs on one core.
    "ci-deep": {
        "source_graph_memory": 1000,
        "source_graph_sqlite": 200,
        "replay": 300,
        "replay_sqlite": 100,
        "crash": 400,
        "crash_sqlite": 80,
        "store_machine": 200,
        "url_secrets": 3000,
        "url_secrets_open": 600,
        "url_secrets_cli": 300,
        "inert_text": 3000,
        "telemetry_counts": 500,
        "fuzz_vrb_argv": 3000,
        "fuzz_store_urls_open": 1500,
        "fuzz_store_urls_cli": 500,
        "worker_option_ranges": 1000,
        "fuzz_compile_sources": 500,
        "fuzz_compile_sources_subprocess": 12,
        "fuzz_vrb_compile_argv": 1500,
        "fuzz_vrb_compile_argv_subprocess": 10,
        "fuzz_client_api": 400,
        "fuzz_client_api_concurrent": 160,
        "fuzz_client_api_sync": 80,
        "fuzz_client_api_sizes": 1500,
        "graph_files_load": 3000,
        "graph_files_run": 1500,
    },
}


def budget(name: str) -> int:
    """How many examples property ``name`` gets under the active profile."""
    profile = os.environ.get("VRB_HYPOTHESIS_PROFILE", "").strip() or "default"
    return BUDGETS.get(profile, BUDGETS["default"])[name]
