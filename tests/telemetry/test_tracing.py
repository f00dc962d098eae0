"""OpenTelemetry spans: a step span is a child of its run span, the run span a child of the trigger's."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from runtime.telemetry import Tracing, current_traceparent, is_traceparent, parent_context

ROOT = Path(__file__).resolve().parents[2]


class StopWalk(BaseException):
    """Stands for the interpreter's ControlFlow (a wait, a lost lease): not an error."""


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    # A provider of the test's own: the global one can be set once per process.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    found = {span.name: span for span in spans}
    assert len(found) == len(spans), [span.name for span in spans]
    return found


def test_the_run_span_continues_the_stored_traceparent_and_parents_its_steps(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    caller = provider.get_tracer("the-caller")
    with caller.start_as_current_span("POST /orders"):
        stored = current_traceparent()  # what trigger stores with the run
    assert stored is not None
    assert is_traceparent(stored)

    tracing = Tracing(provider)
    assert tracing.enabled
    # Later, on a worker: nothing of the caller's context is current there.
    with tracing.run("order", "run-1", traceparent=stored) as run:
        with tracing.step("order", "charge", "run-1", 1):
            pass
        with tracing.step("order", "charge", "run-1", 2):
            pass
        run.set_outcome("completed")

    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /orders")
    run_span = next(s for s in spans if s.name == "vrb.run order")
    steps = [s for s in spans if s.name == "vrb.step charge"]
    assert [s.attributes["vrb.attempt"] for s in steps] == [1, 2]  # type: ignore[index]
    assert run_span.parent is not None
    assert run_span.parent.span_id == request.context.span_id
    assert run_span.parent.is_remote
    assert {s.context.trace_id for s in spans} == {request.context.trace_id}
    for step in steps:
        assert step.parent is not None
        assert step.parent.span_id == run_span.context.span_id
        assert dict(step.attributes or {}) == {
            "vrb.run_id": "run-1",
            "vrb.workflow": "order",
            "vrb.step": "charge",
            "vrb.attempt": step.attributes["vrb.attempt"],  # type: ignore[index]
        }
    assert dict(run_span.attributes or {}) == {
        "vrb.run_id": "run-1",
        "vrb.workflow": "order",
        "vrb.outcome": "completed",
    }
    assert run_span.kind is SpanKind.CONSUMER
    assert run_span.status.status_code is StatusCode.UNSET


def test_parallel_branches_in_tasks_of_their_own_are_children_of_the_run_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = Tracing(provider)

    async def branch(name: str) -> None:
        with tracing.step("fan", name, "run-2", 1):
            await asyncio.sleep(0)

    async def main() -> None:
        with tracing.run("fan", "run-2"):
            await asyncio.gather(branch("a"), branch("b"), branch("c"))

    asyncio.run(main())
    spans = by_name(exporter)
    run_span = spans["vrb.run fan"]
    assert run_span.parent is None  # no stored traceparent: a trace of its own
    for name in "abc":
        parent = spans[f"vrb.step {name}"].parent
        assert parent is not None
        assert parent.span_id == run_span.context.span_id


def test_a_run_without_traceparent_is_a_root_even_inside_the_workers_own_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = Tracing(provider)
    with provider.get_tracer("app").start_as_current_span("worker startup"):
        with tracing.run("order", "run-3"):
            pass
        with tracing.run("order", "run-4", traceparent="not-a-traceparent"):
            pass
    spans = exporter.get_finished_spans()
    runs = [s for s in spans if s.name == "vrb.run order"]
    assert [s.parent for s in runs] == [None, None]


def test_an_attempts_error_is_recorded_on_its_span_and_control_flow_is_not(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = Tracing(provider)
    with tracing.run("order", "run-5") as run:
        with pytest.raises(KeyError), tracing.step("order", "charge", "run-5", 1):
            raise KeyError("amuont")
        with pytest.raises(StopWalk), tracing.step("order", "approve", "run-5", 1):
            raise StopWalk
        with tracing.step("order", "ship", "run-5", 1) as step:
            step.record_error(TimeoutError("step 'ship' attempt 1 timed out after 5s"))
            step.set_outcome("retried")
        run.set_outcome("failed", "StepFailed: step 'charge' failed: KeyError: 'amuont'")
    spans = by_name(exporter)
    charge = spans["vrb.step charge"]
    assert charge.status.status_code is StatusCode.ERROR
    assert charge.status.description == "KeyError: 'amuont'"
    assert [e.name for e in charge.events] == ["exception"]
    assert charge.events[0].attributes["exception.type"] == "KeyError"  # type: ignore[index]
    approve = spans["vrb.step approve"]
    assert approve.status.status_code is StatusCode.UNSET
    assert not approve.events
    ship = spans["vrb.step ship"]
    assert ship.status.status_code is StatusCode.ERROR
    assert ship.attributes["vrb.outcome"] == "retried"  # type: ignore[index]
    run_span = spans["vrb.run order"]
    assert run_span.status.status_code is StatusCode.ERROR
    assert run_span.status.description == "StepFailed: step 'charge' failed: KeyError: 'amuont'"


def test_tracing_turned_off_opens_no_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = Tracing(provider, enabled=False)
    assert not tracing.enabled
    with tracing.run("order", "run-6") as run, tracing.step("order", "s", "run-6", 1) as step:
        run.set_outcome("completed")
        step.record_error(ValueError("x"))
    assert exporter.get_finished_spans() == ()
    assert tracing.run("a", "b") is tracing.step("a", "b", "c", 1)  # one shared no-op scope


def test_outside_any_span_there_is_no_traceparent() -> None:
    assert not trace.get_current_span().get_span_context().is_valid
    assert current_traceparent() is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", True),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n", False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_well_formed_w3c_traceparent_is_continued(value: str | None, valid: bool) -> None:
    assert is_traceparent(value) is valid
    assert (parent_context(value) is not None) is valid


def test_without_opentelemetry_everything_is_a_no_op() -> None:
    # A fresh interpreter in which `import opentelemetry...` fails, as without the otel extra.
    code = textwrap.dedent(
        """
        import sys
        for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.context"):
            sys.modules[name] = None
        from runtime.telemetry.tracing import Tracing, current_traceparent, parent_context
        tracing = Tracing()
        assert not tracing.enabled
        with tracing.run("order", "r", traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") as run:
            with tracing.step("order", "s", "r", 1) as step:
                step.record_error(ValueError("x"))
            run.set_outcome("failed", "x")
        assert current_traceparent() is None
        assert parent_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") is None
        assert not any(name.startswith("opentelemetry") and sys.modules[name] is not None
                       for name in sys.modules)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
