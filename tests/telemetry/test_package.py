"""runtime.telemetry's public names, and that importing it loads none of its libraries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import runtime.telemetry

ROOT = Path(__file__).resolve().parents[2]


def test_the_public_names_are_pinned_and_each_resolves() -> None:
    assert runtime.telemetry.__all__ == [
        "HealthServer",
        "JsonFormatter",
        "LogOnce",
        "Metrics",
        "NullTelemetry",
        "Readiness",
        "RunContextFilter",
        "RunLogAdapter",
        "SpanScope",
        "Telemetry",
        "Tracing",
        "bind_log_context",
        "current_traceparent",
        "is_traceparent",
        "log_context",
        "make_metrics",
        "parent_context",
        "reset_log_context",
    ]
    for name in runtime.telemetry.__all__:
        assert getattr(runtime.telemetry, name) is not None


def test_importing_every_module_loads_no_third_party_library_until_used() -> None:
    code = textwrap.dedent(
        """
        import sys
        import runtime
        from runtime.telemetry import health, logs, metrics, tracing
        from runtime.telemetry import NullTelemetry, Tracing, log_context
        NullTelemetry().step_attempt("wf", "s", "completed", 0.1)
        with log_context(run_id="r"):
            pass
        loaded = sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("prometheus_client", "starlette", "uvicorn", "opentelemetry")
        )
        print(loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
