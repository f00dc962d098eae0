"""Telemetry cost: each call on and off, and what one step adds against the cost of a step.

Prints, in nanoseconds per call (median of ``--repeat`` rounds of ``--calls`` calls):

* each :class:`runtime.telemetry.Telemetry` method (metrics on) beside the same
  call on :class:`runtime.telemetry.NullTelemetry` (metrics off);
* a step attempt's span (:meth:`runtime.telemetry.Tracing.step`): tracing off
  (what a worker without OpenTelemetry runs), OpenTelemetry's API with no
  provider set, and the SDK with a span processor whose exporter discards;
* binding the run's log fields for an attempt (:func:`runtime.telemetry.log_context`);

then what one live step adds (one ``step_attempt``, one ``store_append``: a
step is one commit; plus the attempt's log fields, and its span when tracing)
against the time of one step of a sequential workflow on SQLite measured in the
same run (``benchmarks/bench_runtime.py``'s workload, ``synchronous=normal``:
the cheapest step, so the largest share), as a percentage. The issue's bars:
metrics on, tracing off, at most 2 %; tracing on with a no-op exporter at most 10 %.

    python benchmarks/bench_telemetry.py [--calls 200000] [--repeat 5] [--steps 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runtime import sequential_run

from runtime.telemetry import NullTelemetry, Telemetry, Tracing, log_context


def per_call(call: Callable[[], Any], calls: int, repeat: int) -> float:
    """Median nanoseconds per call of ``call`` over ``repeat`` rounds, less the empty loop."""
    rounds: list[float] = []
    empty: list[float] = []
    batch = range(calls)
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in batch:
            pass
        empty.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        for _ in batch:
            call()
        rounds.append(time.perf_counter_ns() - start)
    return max(0.0, (statistics.median(rounds) - statistics.median(empty)) / calls)


def _methods(metrics: Telemetry | NullTelemetry) -> dict[str, Callable[[], Any]]:
    return {
        "run_started": lambda: metrics.run_started("bench-sequential"),
        "run_finished": lambda: metrics.run_finished("bench-sequential", "completed"),
        "step_attempt": lambda: metrics.step_attempt(
            "bench-sequential", "bench-noop", "completed", 0.0004
        ),
        "rollback": lambda: metrics.rollback("bench-sequential", "bench-noop", "completed"),
        "breaker_tripped": lambda: metrics.breaker_tripped("bench-sequential", "max_events"),
        "lease_taken_over": metrics.lease_taken_over,
        "store_append": lambda: metrics.store_append(0.0004),
        "in_flight": lambda: metrics.in_flight(1),
    }


def _span(tracing: Tracing) -> Callable[[], None]:
    def attempt() -> None:
        with tracing.step("bench-sequential", "bench-noop", "run-1", 1):
            pass

    return attempt


def _sdk_tracing() -> tuple[Tracing | None, str]:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return None, "opentelemetry-sdk not installed (pip install -e '.[dev]')"

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Discard()))
    return Tracing(provider), ""


def _log_fields() -> None:
    with log_context(step="bench-noop", attempt=1):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    calls, repeat = args.calls, args.repeat

    on, off = Telemetry(worker_id="bench"), NullTelemetry()
    print(f"ns per call, median of {repeat} rounds of {calls} calls (empty loop subtracted)")
    print(f"  {'Telemetry method':<18} {'metrics on':>11} {'metrics off':>12}")
    costs: dict[str, float] = {}
    for (name, call_on), call_off in zip(_methods(on).items(), _methods(off).values(), strict=True):
        costs[name] = per_call(call_on, calls, repeat)
        print(f"  {name:<18} {costs[name]:>11.0f} {per_call(call_off, calls, repeat):>12.0f}")

    off_span = per_call(_span(Tracing(enabled=False)), calls, repeat)
    api_tracing = Tracing()  # the API's global provider: none set in this process
    # Each step span inside its run's span, as the worker opens them.
    with api_tracing.run("bench-sequential", "run-1"):
        api_span = per_call(_span(api_tracing), calls, repeat)
    sdk, why = _sdk_tracing()
    sdk_span = None
    if sdk is not None:
        with sdk.run("bench-sequential", "run-1"):
            sdk_span = per_call(_span(sdk), calls, repeat)
    fields = per_call(_log_fields, calls, repeat)
    print(f"  step span, tracing off (no OpenTelemetry)   {off_span:>8.0f}")
    print(f"  step span, OpenTelemetry API, no provider   {api_span:>8.0f}")
    if sdk_span is None:
        print(f"  step span, SDK, exporter discarding         skipped: {why}")
    else:
        print(f"  step span, SDK, exporter discarding         {sdk_span:>8.0f}")
    print(f"  log fields of an attempt (log_context)      {fields:>8.0f}")

    with tempfile.TemporaryDirectory() as tmp:
        steps = [
            asyncio.run(sequential_run(Path(tmp), args.steps, "normal"))[0]
            for _ in range(max(1, repeat // 2))
        ]
    step_ns = statistics.median(steps) * 1e9
    metrics_ns = costs["step_attempt"] + costs["store_append"] + fields
    print(f"one step on SQLite (synchronous=normal, {args.steps} steps): {step_ns / 1000:.1f} us")
    print(
        f"  metrics on, tracing off: +{metrics_ns:.0f} ns per step = "
        f"{100 * metrics_ns / step_ns:.2f} % (bar: 2 %)"
    )
    if sdk_span is not None:
        traced = metrics_ns + sdk_span
        print(
            f"  metrics on, tracing on (SDK, discarding exporter): +{traced:.0f} ns per step = "
            f"{100 * traced / step_ns:.2f} % (bar: 10 %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
