"""Observability of a worker: metrics, the health endpoint, traces and run-correlated logs.

Each module has one concern, and none loads its third-party library until used::

    metrics.py   Telemetry (Prometheus metrics in a registry of its own), NullTelemetry
    health.py    HealthServer: /healthz, /readyz, /metrics on the worker's loop (Starlette, uvicorn)
    _listen.py   the endpoint's listening socket, or one line saying why there is none
    tracing.py   Tracing: OpenTelemetry spans vrb.run / vrb.step; the trigger's traceparent
    logs.py      run fields on every record, JsonFormatter (--log-format json), LogOnce

Names are re-exported lazily (PEP 562): importing this package imports none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .health import HealthServer, Readiness
    from .logs import (
        JsonFormatter,
        LogOnce,
        RunContextFilter,
        RunLogAdapter,
        bind_log_context,
        log_context,
        reset_log_context,
    )
    from .metrics import Metrics, NullTelemetry, Telemetry, make_metrics
    from .tracing import SpanScope, Tracing, current_traceparent, is_traceparent, parent_context

__all__ = [
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

_HOMES = {
    "HealthServer": "health",
    "Readiness": "health",
    "JsonFormatter": "logs",
    "LogOnce": "logs",
    "RunContextFilter": "logs",
    "RunLogAdapter": "logs",
    "bind_log_context": "logs",
    "log_context": "logs",
    "reset_log_context": "logs",
    "Metrics": "metrics",
    "NullTelemetry": "metrics",
    "Telemetry": "metrics",
    "make_metrics": "metrics",
    "SpanScope": "tracing",
    "Tracing": "tracing",
    "current_traceparent": "tracing",
    "is_traceparent": "tracing",
    "parent_context": "tracing",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
