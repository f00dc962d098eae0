"""The worker's Prometheus metrics: what the Telemetry calls record is what /metrics says."""

from __future__ import annotations

from collections import Counter as Tally
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from runtime.telemetry import NullTelemetry, Telemetry, make_metrics
from runtime.telemetry.metrics import STEP_OUTCOMES

from ..properties import budget

SPEC_NAMES = {
    "vrb_runs_started_total",
    "vrb_runs_finished_total",
    "vrb_steps_total",
    "vrb_step_duration_seconds_bucket",
    "vrb_step_duration_seconds_count",
    "vrb_step_duration_seconds_sum",
    "vrb_rollbacks_total",
    "vrb_breaker_trips_total",
    "vrb_runs_in_flight",
    "vrb_lease_takeovers_total",
    "vrb_store_append_seconds_bucket",
    "vrb_store_append_seconds_count",
    "vrb_store_append_seconds_sum",
}


def samples(telemetry: Telemetry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, parsed: (name, labels) -> value."""
    body, _ = telemetry.exposition()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_the_exposition_counts_the_runs_steps_and_rollbacks_reported() -> None:
    telemetry = Telemetry(worker_id="worker-1")
    for _ in range(4):
        telemetry.run_started("order")
        telemetry.in_flight(+1)
    for _ in range(3):
        telemetry.step_attempt("order", "charge", "completed", 0.02)
        telemetry.run_finished("order", "completed")
        telemetry.in_flight(-1)
    telemetry.step_attempt("order", "charge", "retried", 0.5)
    telemetry.step_attempt("order", "charge", "retried", 0.5)
    telemetry.step_attempt("order", "charge", "failed", 3.0)
    telemetry.rollback("order", "reserve", "completed")
    telemetry.rollback("order", "notify", "failed")
    telemetry.breaker_tripped("order", "max_events")
    telemetry.run_finished("order", "failed")
    telemetry.in_flight(-1)
    telemetry.lease_taken_over()
    telemetry.store_append(0.001)
    telemetry.store_append(0.004)

    found = samples(telemetry)
    assert {name for name, _ in found} >= SPEC_NAMES
    assert value(found, "vrb_runs_started_total", workflow="order") == 4
    assert value(found, "vrb_runs_finished_total", workflow="order", status="completed") == 3
    assert value(found, "vrb_runs_finished_total", workflow="order", status="failed") == 1
    step = {"workflow": "order", "step": "charge"}
    assert value(found, "vrb_steps_total", **step, outcome="completed") == 3
    assert value(found, "vrb_steps_total", **step, outcome="retried") == 2
    assert value(found, "vrb_steps_total", **step, outcome="failed") == 1
    assert value(found, "vrb_step_duration_seconds_count", **step) == 6
    assert value(found, "vrb_step_duration_seconds_sum", **step) == 0.02 * 3 + 0.5 * 2 + 3.0
    assert value(found, "vrb_step_duration_seconds_bucket", **step, le="0.025") == 3
    assert value(found, "vrb_step_duration_seconds_bucket", **step, le="+Inf") == 6
    assert (
        value(found, "vrb_rollbacks_total", workflow="order", step="reserve", outcome="completed")
        == 1
    )
    assert (
        value(found, "vrb_rollbacks_total", workflow="order", step="notify", outcome="failed") == 1
    )
    assert value(found, "vrb_breaker_trips_total", workflow="order", breaker="max_events") == 1
    assert value(found, "vrb_runs_in_flight") == 0
    assert value(found, "vrb_lease_takeovers_total") == 1
    assert value(found, "vrb_store_append_seconds_count") == 2
    assert value(found, "vrb_store_append_seconds_bucket", le="0.001") == 1
    infos = [labels for name, labels in found if name == "vrb_worker_info"]
    assert len(infos) == 1
    assert ("worker_id", "worker-1") in infos[0]


def test_a_step_seen_once_exposes_all_three_outcomes_from_zero() -> None:
    # A rate() over a series that appears only at its first failure misses that failure.
    telemetry = Telemetry()
    telemetry.step_attempt("order", "charge", "completed", 0.1)
    found = samples(telemetry)
    for outcome in STEP_OUTCOMES:
        assert (
            "vrb_steps_total",
            frozenset({("workflow", "order"), ("step", "charge"), ("outcome", outcome)}),
        ) in found
    assert value(found, "vrb_steps_total", workflow="order", step="charge", outcome="failed") == 0


def test_two_workers_in_one_process_keep_their_own_figures() -> None:
    first, second = Telemetry(), Telemetry()
    first.run_started("order")
    assert value(samples(first), "vrb_runs_started_total", workflow="order") == 1
    assert value(samples(second), "vrb_runs_started_total", workflow="order") == 0
    assert first.registry is not second.registry


def test_an_unknown_outcome_is_recorded_not_raised() -> None:
    telemetry = Telemetry()
    telemetry.step_attempt("order", "charge", "abandoned", 0.1)
    found = samples(telemetry)
    assert (
        value(found, "vrb_steps_total", workflow="order", step="charge", outcome="abandoned") == 1
    )


def test_metrics_off_records_nothing_and_exposes_an_empty_page() -> None:
    off = make_metrics(False)
    assert isinstance(off, NullTelemetry)
    assert not off.enabled
    off.run_started("order")
    off.step_attempt("order", "charge", "completed", 0.1)
    off.in_flight(1)
    assert off.exposition() == (b"", "text/plain; version=0.0.4; charset=utf-8")
    assert make_metrics(True).enabled


def test_a_scraper_asking_for_openmetrics_gets_it() -> None:
    telemetry = Telemetry()
    telemetry.run_started("order")
    body, content_type = telemetry.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
    assert 'vrb_runs_started_total{workflow="order"} 1.0' in body.decode()


_CALLS = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.sampled_from(["a", "b"]), st.sampled_from(STEP_OUTCOMES)),
        st.tuples(
            st.just("finished"),
            st.sampled_from(["a", "b"]),
            st.sampled_from(["completed", "failed", "cancelled"]),
        ),
        st.tuples(st.just("flight"), st.just(""), st.sampled_from(["+", "-"])),
    ),
    max_size=40,
)


@settings(max_examples=budget("telemetry_counts"))
@given(_CALLS)
def test_any_sequence_of_calls_is_counted_exactly(calls: list[tuple[str, str, str]]) -> None:
    telemetry = Telemetry()
    tally: Tally[tuple[str, str, str]] = Tally()
    flight = 0
    for kind, name, detail in calls:
        if kind == "step":
            telemetry.step_attempt("wf", name, detail, 0.01)
        elif kind == "finished":
            telemetry.run_finished(name, detail)
        else:
            delta = 1 if detail == "+" else -1
            telemetry.in_flight(delta)
            flight += delta
            continue
        tally[(kind, name, detail)] += 1
    found = samples(telemetry)
    for (kind, name, detail), count in tally.items():
        if kind == "step":
            assert (
                value(found, "vrb_steps_total", workflow="wf", step=name, outcome=detail) == count
            )
        else:
            assert value(found, "vrb_runs_finished_total", workflow=name, status=detail) == count
    assert value(found, "vrb_runs_in_flight") == flight


def test_the_observability_guide_documents_every_metric_with_its_labels() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs/guides/observability.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in guide.splitlines()
        if line.startswith("| `vrb_")
    }
    telemetry = Telemetry(worker_id="w")
    telemetry.run_started("wf")
    telemetry.run_finished("wf", "completed")
    telemetry.step_attempt("wf", "s", "completed", 0.1)
    telemetry.rollback("wf", "s", "completed")
    telemetry.breaker_tripped("wf", "max_events")
    for family in telemetry.registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert name in rows, f"{name} is not in the metrics table of docs/guides/observability.md"
        labels = {
            label for sample in family.samples for label in sample.labels if label not in ("le",)
        }
        for label in labels:
            assert f"`{label}`" in rows[name], f"{name}: label {label} is not documented"
