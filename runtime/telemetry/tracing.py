"""OpenTelemetry spans for run executions and step attempts, and the caller's trace carried over.

With ``opentelemetry-api`` installed (the ``otel`` extra) and a tracer provider
set, a worker opens a span ``vrb.run <workflow>`` per run execution (each claim
that walks the run) and ``vrb.step <step>`` per step attempt, a child of its
run's span; both carry ``vrb.run_id`` and ``vrb.workflow``, a step's also
``vrb.step`` and ``vrb.attempt``. An attempt's error is recorded on its span
(an exception event and an ``ERROR`` status); a run that ends ``failed`` sets
its span's status to ``ERROR`` with the run's error.

``trigger`` stores the caller's W3C ``traceparent`` (:func:`current_traceparent`)
with the run; the worker continues it (:func:`parent_context`), so every
execution of the run, on whichever worker and however late, belongs to the
caller's trace. A run triggered outside any span starts a trace of its own.

Without ``opentelemetry-api`` every function here is a no-op: :class:`Tracing`
hands out one shared do-nothing scope, and nothing of OpenTelemetry is imported.

Decisions
---------
* Spans are entered with :mod:`contextvars` (OpenTelemetry's context), so
  the branches of a ``parallel`` node, which run in tasks of their own, are
  children of their run's span like any step.
* Control flow that stops a walk (a wait, a lost lease, the worker stopping:
  :class:`~runtime.interpreter.ControlFlow`, a ``BaseException``) is not an
  error and is not recorded as one; only an ``Exception`` leaving a scope is.
* A ``traceparent`` that is not a well-formed W3C version-00 header is not
  continued (:func:`is_traceparent`): the run's spans start a trace of their own.
"""

from __future__ import annotations

import functools
import re
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "SpanScope",
    "Tracing",
    "current_traceparent",
    "is_traceparent",
    "parent_context",
]

_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")

_INSTRUMENTATION = "vrb-workflows"


@functools.cache
def _api() -> ModuleType | None:
    """``opentelemetry.trace``, or ``None`` when the ``otel`` extra is not installed.

    Cached: a failed import searches the whole path again each time, and
    :func:`current_traceparent` runs on every ``trigger``.
    """
    try:
        import opentelemetry.trace as api
    except ImportError:
        return None
    return api


def is_traceparent(value: object) -> bool:
    """Whether ``value`` is a well-formed W3C ``traceparent`` (version 00, non-zero ids)."""
    return isinstance(value, str) and _TRACEPARENT.fullmatch(value) is not None


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the caller's current span, for ``trigger`` to store.

    Returns:
        ``None`` without OpenTelemetry or outside a (valid, sampled or not) span.
    """
    api = _api()
    if api is None:
        return None
    found = api.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"


def parent_context(traceparent: str | None) -> Context | None:
    """A context whose (remote) span is the one ``traceparent`` names: the run's parent.

    Returns:
        ``None`` without OpenTelemetry, or when ``traceparent`` is ``None`` or malformed.
    """
    if traceparent is None or not is_traceparent(traceparent):
        return None
    api = _api()
    if api is None:
        return None
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    found = TraceContextTextMapPropagator().extract({"traceparent": traceparent}, Context())
    if not api.get_current_span(found).get_span_context().is_valid:
        return None
    return found


class SpanScope(Protocol):
    """One open span, as a context manager; what the worker may say about it before it ends."""

    def __enter__(self) -> SpanScope: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def set_outcome(self, outcome: str, error: str | None = None) -> None:
        """Record what became of the run or attempt (``vrb.outcome``); ``error`` sets ``ERROR``."""

    def record_error(self, error: BaseException) -> None:
        """Record ``error`` on the span (an exception event and an ``ERROR`` status)."""


class _NullScope:
    """The scope handed out without OpenTelemetry: one shared object that does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NullScope:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def set_outcome(self, outcome: str, error: str | None = None) -> None:
        """Does nothing."""

    def record_error(self, error: BaseException) -> None:
        """Does nothing."""


_NULL_SCOPE = _NullScope()


class _Otel:
    """The OpenTelemetry modules a scope uses, imported once per :class:`Tracing`."""

    __slots__ = ("context", "empty", "trace")

    def __init__(self, trace: ModuleType) -> None:
        from opentelemetry import context
        from opentelemetry.context import Context

        self.trace = trace
        self.context = context
        self.empty = Context

    def error(self, description: str) -> Any:
        return self.trace.Status(self.trace.StatusCode.ERROR, description)


class _Scope:
    """A span started on ``__enter__``, current until ``__exit__``, which ends it."""

    __slots__ = ("_attributes", "_kind", "_name", "_otel", "_parent", "_span", "_token", "_tracer")

    def __init__(
        self,
        otel: _Otel,
        tracer: Tracer,
        name: str,
        attributes: dict[str, str | int],
        parent: Context | None,
        kind: Any,
    ) -> None:
        self._otel = otel
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._parent = parent
        self._kind = kind
        self._span: Span | None = None
        self._token: Any = None

    def __enter__(self) -> _Scope:
        span = self._tracer.start_span(
            self._name, context=self._parent, kind=self._kind, attributes=self._attributes
        )
        self._span = span
        self._token = self._otel.context.attach(self._otel.trace.set_span_in_context(span))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        assert span is not None, "a span scope is exited only after it was entered"
        try:
            if isinstance(error, Exception):
                self.record_error(error)
        finally:
            self._otel.context.detach(self._token)
            span.end()

    def set_outcome(self, outcome: str, error: str | None = None) -> None:
        """See :meth:`SpanScope.set_outcome`."""
        span = self._span
        if span is None:
            return
        span.set_attribute("vrb.outcome", outcome)
        if error is not None:
            span.set_status(self._otel.error(error))

    def record_error(self, error: BaseException) -> None:
        """See :meth:`SpanScope.record_error`."""
        span = self._span
        if span is None:
            return
        span.record_exception(error)
        span.set_status(self._otel.error(f"{type(error).__name__}: {error}"))


class Tracing:
    """Opens the worker's spans: :meth:`run` per run execution, :meth:`step` per attempt.

    Args:
        provider: The tracer provider (default OpenTelemetry's global one,
            resolved when it is set, even after this object was built).
        enabled: ``False`` turns tracing off; default on when
            ``opentelemetry-api`` is installed.
    """

    def __init__(self, provider: TracerProvider | None = None, *, enabled: bool = True) -> None:
        api = _api() if enabled else None
        self._otel = None if api is None else _Otel(api)
        self._tracer: Tracer | None = None
        self._run_kind: Any = None
        self._step_kind: Any = None
        if api is not None:
            from .metrics import _package_version

            version = _package_version()
            self._tracer = (
                api.get_tracer(_INSTRUMENTATION, version)
                if provider is None
                else provider.get_tracer(_INSTRUMENTATION, version)
            )
            # A run execution consumes the work its trigger produced.
            self._run_kind = api.SpanKind.CONSUMER
            self._step_kind = api.SpanKind.INTERNAL

    @property
    def enabled(self) -> bool:
        """Whether spans are opened (OpenTelemetry is installed and tracing was not turned off)."""
        return self._tracer is not None

    def run(self, workflow: str, run_id: str, *, traceparent: str | None = None) -> SpanScope:
        """The span ``vrb.run <workflow>`` of one execution of the run, as a context manager.

        Args:
            workflow: The run's workflow name.
            run_id: The run's id.
            traceparent: The trigger's stored ``traceparent``: the span's parent.
                Without one, the span starts a trace of its own.
        """
        tracer = self._tracer
        if tracer is None:
            return _NULL_SCOPE
        otel = self._otel
        assert otel is not None
        parent = parent_context(traceparent)
        if parent is None:
            parent = otel.empty()  # a root span, whatever the worker's own context holds
        attributes: dict[str, str | int] = {"vrb.run_id": run_id, "vrb.workflow": workflow}
        return _Scope(otel, tracer, f"vrb.run {workflow}", attributes, parent, self._run_kind)

    def step(self, workflow: str, step: str, run_id: str, attempt: int) -> SpanScope:
        """The span ``vrb.step <step>`` of one attempt, a child of the current (run) span.

        Args:
            workflow: The run's workflow name.
            step: The step's name.
            run_id: The run's id.
            attempt: The attempt's number, from 1.
        """
        tracer = self._tracer
        if tracer is None:
            return _NULL_SCOPE
        otel = self._otel
        assert otel is not None
        attributes: dict[str, str | int] = {
            "vrb.run_id": run_id,
            "vrb.workflow": workflow,
            "vrb.step": step,
            "vrb.attempt": attempt,
        }
        return _Scope(otel, tracer, f"vrb.step {step}", attributes, None, self._step_kind)
