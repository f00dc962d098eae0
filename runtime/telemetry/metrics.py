"""The worker's Prometheus metrics (SPEC.md section 9), behind one object the worker calls.

:class:`Telemetry` owns a :class:`prometheus_client.CollectorRegistry` of its
own, never the process-global default, so several workers in one process
(tests, an embedding application) each expose their own figures and never
clash over a metric name. :class:`NullTelemetry` has the same methods and does
nothing: a worker without metrics calls it and pays one no-op call.

Metrics (the names are a contract: dashboards and tests outside the project use them)::

    vrb_runs_started_total{workflow}                 counter    runs started (first claimed)
    vrb_runs_finished_total{workflow,status}         counter    completed | failed | cancelled
    vrb_steps_total{workflow,step,outcome}           counter    attempts: completed | retried | failed
    vrb_step_duration_seconds{workflow,step}         histogram  each attempt's duration
    vrb_rollbacks_total{workflow,step,outcome}       counter    completed | failed
    vrb_breaker_trips_total{workflow,breaker}        counter    max_events | execution_timeout
    vrb_runs_in_flight                               gauge      runs this worker executes now
    vrb_lease_takeovers_total                        counter    runs claimed from a lapsed lease
    vrb_store_append_seconds                         histogram  each fenced append's duration
    vrb_worker_info{worker_id,version}               gauge      1, to join on the worker's id

Decisions
---------
* **Hot path**: a step attempt is two calls on pre-bound label children
  (prometheus_client's ``labels()`` builds a tuple and takes a lock, about a
  microsecond; a bound child's ``inc()`` is a lock and an add). Children are
  bound the first time a ``(workflow, step)`` pair is seen and kept in a
  dict, so the per-call cost is one dict lookup more than the child's own.
  ``benchmarks/bench_telemetry.py`` measures it.
* **No validation on the hot path**: the worker passes the outcome names
  above (:data:`STEP_OUTCOMES` ...); an unknown one is bound on first use like
  a new label value, never raised, for a metric must not fail a run.
* **Imported lazily**: ``prometheus_client`` is imported when a
  :class:`Telemetry` is built, so a worker without metrics never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "BREAKERS",
    "ROLLBACK_OUTCOMES",
    "RUN_STATUSES",
    "STEP_DURATION_BUCKETS",
    "STEP_OUTCOMES",
    "STORE_APPEND_BUCKETS",
    "Metrics",
    "NullTelemetry",
    "Telemetry",
    "make_metrics",
]

STEP_OUTCOMES = ("completed", "retried", "failed")
"""``outcome`` of ``vrb_steps_total``: the attempt returned, will be retried, failed for good."""

ROLLBACK_OUTCOMES = ("completed", "failed")
"""``outcome`` of ``vrb_rollbacks_total``: ``rollback_completed`` / ``rollback_failed``."""

RUN_STATUSES = ("completed", "failed", "cancelled")
"""``status`` of ``vrb_runs_finished_total``: the run's final status."""

BREAKERS = ("max_events", "execution_timeout")
"""``breaker`` of ``vrb_breaker_trips_total``."""

STEP_DURATION_BUCKETS = (
    *(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, float("inf")),
)
"""Seconds: a step is anything from an in-memory computation to a quarter-hour export."""

STORE_APPEND_BUCKETS = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025),
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf")),
)
"""Seconds: one fenced commit, from SQLite with ``synchronous=normal`` to a remote PostgreSQL."""

_TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


class Metrics(Protocol):
    """What the worker calls at each point of a run; :class:`Telemetry` or :class:`NullTelemetry`."""

    @property
    def enabled(self) -> bool:
        """Whether the calls record anything."""
        ...

    def run_started(self, workflow: str) -> None:
        """A run was started: its first claim (the one that records ``run_started``)."""
        return None

    def run_finished(self, workflow: str, status: str) -> None:
        """A run ended ``status`` (one of :data:`RUN_STATUSES`)."""
        return None

    def step_attempt(self, workflow: str, step: str, outcome: str, seconds: float) -> None:
        """An attempt of ``step`` ended ``outcome`` (:data:`STEP_OUTCOMES`) after ``seconds``."""
        return None

    def rollback(self, workflow: str, step: str, outcome: str) -> None:
        """The rollback of ``step`` ended ``outcome`` (:data:`ROLLBACK_OUTCOMES`)."""
        return None

    def breaker_tripped(self, workflow: str, breaker: str) -> None:
        """A circuit breaker (:data:`BREAKERS`) tripped."""
        return None

    def lease_taken_over(self) -> None:
        """This worker claimed a run whose previous lease lapsed (a takeover)."""
        return None

    def store_append(self, seconds: float) -> None:
        """A fenced append to the store took ``seconds``."""
        return None

    def in_flight(self, delta: int) -> None:
        """Runs executing on this worker went up (``+1``) or down (``-1``)."""
        return None

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format ``accept`` asks for: ``(body, content type)``."""
        ...


class NullTelemetry(Metrics):
    """Metrics off: every call of :class:`Metrics` returns at once (its bodies do nothing)."""

    __slots__ = ()

    @property
    def enabled(self) -> bool:
        """Always ``False``."""
        return False

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """No metrics: an empty body in the Prometheus text format."""
        return b"", _TEXT_FORMAT


class _StepChildren:
    """The label children of one ``(workflow, step)``: one counter per outcome, one histogram."""

    __slots__ = ("counters", "duration")

    def __init__(self, counters: dict[str, Counter], duration: Histogram) -> None:
        self.counters = counters
        self.duration = duration


class Telemetry:
    """The worker's metrics in a registry of their own (see the module docstring).

    Args:
        registry: The registry to register into; default a new one (not the
            process-global ``prometheus_client.REGISTRY``).
        worker_id: Exposed as ``vrb_worker_info{worker_id=...}`` when given.
        version: The package version for ``vrb_worker_info`` (default this package's).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        worker_id: str | None = None,
        version: str | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry() if registry is None else registry
        """The registry every metric of this object is registered in."""
        reg = self.registry
        self._runs_started = Counter(
            "vrb_runs_started",
            "Runs started (first claimed) by this worker.",
            ["workflow"],
            registry=reg,
        )
        self._runs_finished = Counter(
            "vrb_runs_finished",
            "Runs this worker ended, by final status (completed, failed, cancelled).",
            ["workflow", "status"],
            registry=reg,
        )
        self._steps = Counter(
            "vrb_steps",
            "Step attempts, by outcome: completed, retried (will be retried), failed (for good).",
            ["workflow", "step", "outcome"],
            registry=reg,
        )
        self._step_duration = Histogram(
            "vrb_step_duration_seconds",
            "Duration of each step attempt, whatever its outcome.",
            ["workflow", "step"],
            buckets=STEP_DURATION_BUCKETS,
            registry=reg,
        )
        self._rollbacks = Counter(
            "vrb_rollbacks",
            "Rollbacks (saga compensations), by outcome: completed, failed.",
            ["workflow", "step", "outcome"],
            registry=reg,
        )
        self._breaker_trips = Counter(
            "vrb_breaker_trips",
            "Circuit breakers tripped: max_events, execution_timeout.",
            ["workflow", "breaker"],
            registry=reg,
        )
        self._in_flight: Gauge = Gauge(
            "vrb_runs_in_flight", "Runs this worker is executing now.", registry=reg
        )
        self._takeovers = Counter(
            "vrb_lease_takeovers",
            "Runs this worker claimed after another worker's lease lapsed.",
            registry=reg,
        )
        self._store_append = Histogram(
            "vrb_store_append_seconds",
            "Duration of each fenced append (one commit) to the store.",
            buckets=STORE_APPEND_BUCKETS,
            registry=reg,
        )
        if worker_id is not None:
            if version is None:
                version = _package_version()
            info = Gauge(
                "vrb_worker_info",
                "This worker's id and version (always 1).",
                ["worker_id", "version"],
                registry=reg,
            )
            info.labels(worker_id, version).set(1)
        # Bound label children, by label values (see the module's Decisions).
        self._started_children: dict[str, Counter] = {}
        self._finished_children: dict[tuple[str, str], Counter] = {}
        self._step_children: dict[tuple[str, str], _StepChildren] = {}
        self._rollback_children: dict[tuple[str, str, str], Counter] = {}
        self._trip_children: dict[tuple[str, str], Counter] = {}

    @property
    def enabled(self) -> bool:
        """Always ``True``."""
        return True

    def run_started(self, workflow: str) -> None:
        """See :meth:`Metrics.run_started`."""
        child = self._started_children.get(workflow)
        if child is None:
            child = self._started_children[workflow] = self._runs_started.labels(workflow)
        child.inc()

    def run_finished(self, workflow: str, status: str) -> None:
        """See :meth:`Metrics.run_finished`."""
        key = (workflow, status)
        child = self._finished_children.get(key)
        if child is None:
            child = self._finished_children[key] = self._runs_finished.labels(workflow, status)
        child.inc()

    def step_attempt(self, workflow: str, step: str, outcome: str, seconds: float) -> None:
        """See :meth:`Metrics.step_attempt`."""
        bound = self._step_children.get((workflow, step))
        if bound is None:
            bound = self._bind_step(workflow, step)
        counter = bound.counters.get(outcome)
        if counter is None:
            counter = bound.counters[outcome] = self._steps.labels(workflow, step, outcome)
        counter.inc()
        bound.duration.observe(seconds)

    def _bind_step(self, workflow: str, step: str) -> _StepChildren:
        counters = {
            outcome: self._steps.labels(workflow, step, outcome) for outcome in STEP_OUTCOMES
        }
        bound = _StepChildren(counters, self._step_duration.labels(workflow, step))
        self._step_children[(workflow, step)] = bound
        return bound

    def rollback(self, workflow: str, step: str, outcome: str) -> None:
        """See :meth:`Metrics.rollback`."""
        key = (workflow, step, outcome)
        child = self._rollback_children.get(key)
        if child is None:
            child = self._rollback_children[key] = self._rollbacks.labels(*key)
        child.inc()

    def breaker_tripped(self, workflow: str, breaker: str) -> None:
        """See :meth:`Metrics.breaker_tripped`."""
        key = (workflow, breaker)
        child = self._trip_children.get(key)
        if child is None:
            child = self._trip_children[key] = self._breaker_trips.labels(workflow, breaker)
        child.inc()

    def lease_taken_over(self) -> None:
        """See :meth:`Metrics.lease_taken_over`."""
        self._takeovers.inc()

    def store_append(self, seconds: float) -> None:
        """See :meth:`Metrics.store_append`."""
        self._store_append.observe(seconds)

    def in_flight(self, delta: int) -> None:
        """See :meth:`Metrics.in_flight`."""
        self._in_flight.inc(delta)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry in the format ``accept`` asks for (OpenMetrics or the text format).

        Args:
            accept: The scraper's ``Accept`` header.

        Returns:
            The body and its content type.
        """
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("vrb-workflows")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def make_metrics(enabled: bool, *, worker_id: str | None = None) -> Metrics:
    """A :class:`Telemetry` when ``enabled``, else a :class:`NullTelemetry`.

    Args:
        enabled: Whether metrics are collected.
        worker_id: Exposed as ``vrb_worker_info``.
    """
    return Telemetry(worker_id=worker_id) if enabled else NullTelemetry()
