"""The authoring API: ``step``, ``workflow``, and their class-style forms.

Definitions register by name when their module is imported, so a worker that
imports a module serves its workflows. Calling a step outside a durable run
executes it inline, which is what unit tests of a workflow want; inside a run
the active executor (set through :data:`STEP_EXECUTOR`) takes over.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar, overload

from ._identifiers import check_identifier
from ._sync_attempts import after_abandoned, run_sync_attempt
from .context import LocalBackend, StepContext
from .durations import Backoff, Duration, parse_duration
from .errors import ConfigurationError, RegistrationError

__all__ = [
    "STEP_EXECUTOR",
    "Step",
    "StepExecutor",
    "Workflow",
    "get_step",
    "get_workflow",
    "registered_steps",
    "registered_workflows",
    "step",
    "workflow",
]

F = TypeVar("F", bound=Callable[..., Any])
RollbackFn = Callable[[BaseException, Any], Any]


class StepExecutor(Protocol):
    """What runs a step call made inside a durable run (the runtime's worker)."""

    async def call_step(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Execute (or replay) one invocation of ``step`` and return its output."""


STEP_EXECUTOR: contextvars.ContextVar[StepExecutor | None] = contextvars.ContextVar(
    "vrb_step_executor", default=None
)

_WORKFLOWS: dict[str, Workflow] = {}
_STEPS: dict[str, Step] = {}


def _origin(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _register(
    table: dict[str, Any], kind: str, name: str, item: Any, fn: Callable[..., Any]
) -> None:
    existing = table.get(name)
    # Re-importing a module (reloads, test collection) re-registers the same
    # definition; only a different function under the same name is a conflict.
    if existing is not None and existing.origin != _origin(fn):
        raise RegistrationError(
            f"{kind} name {name!r} is already registered by {existing.origin}; "
            f"{_origin(fn)} must use another name"
        )
    table[name] = item


def _check_name(kind: str, name: object) -> str:
    # The identifier rule every store applies to the names it is given (runtime._identifiers).
    return check_identifier(name, f"{kind} name")


_WANTS_CONTEXT: dict[tuple[Callable[..., Any], int], bool] = {}
"""Memo of :func:`_wants_step_context`: ``inspect.signature`` costs ~0.1 ms, paid per step."""


def _wants_step_context(fn: Callable[..., Any], *, skip: int = 0) -> bool:
    try:
        return _WANTS_CONTEXT[(fn, skip)]
    except (KeyError, TypeError):  # TypeError: an unhashable callable is inspected each time
        pass
    wanted = _inspect_wants_step_context(fn, skip)
    with contextlib.suppress(TypeError):
        _WANTS_CONTEXT[(fn, skip)] = wanted
    return wanted


def _inspect_wants_step_context(fn: Callable[..., Any], skip: int) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    annotation = params[0].annotation
    if annotation is StepContext:
        return True
    # Under `from __future__ import annotations` the annotation is a string.
    return isinstance(annotation, str) and annotation.split(".")[-1] == "StepContext"


class Step:
    """A durable step: a function whose completion is recorded in the run's log.

    Create one with :func:`step`; ``@Step("name", ...)`` decorates methods of a
    class-style workflow. Awaiting a step inside a run executes it durably (with
    retries, timeout and rollback); outside a run it executes inline.

    Attributes:
        name: The registered, unique step name.
        fn: The step function (async or sync), or ``None`` until decorated.
        retries: Further attempts after the first failure.
        timeout: Seconds allowed per attempt, or ``None``.
        rollback_fn: ``rollback_fn(error, output)`` compensating this step.
        backoff: Delay between retries.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any] | None = None,
        *,
        retries: int = 0,
        timeout: Duration | None = None,
        rollback_fn: RollbackFn | None = None,
        backoff: Backoff | dict[str, Any] | None = None,
    ) -> None:
        self.name = _check_name("step", name)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(
                f"step {name!r}: retries must be a non-negative int, got {retries!r}"
            )
        self.retries = retries
        self.timeout = (
            None if timeout is None else parse_duration(timeout, what=f"step {name!r} timeout")
        )
        if rollback_fn is not None and not callable(rollback_fn):
            raise ConfigurationError(f"step {name!r}: rollback_fn must be callable")
        self.rollback_fn = rollback_fn
        self.backoff = Backoff.coerce(backoff)
        self.fn: Callable[..., Any] | None = None
        self._instance: Any = None
        if fn is not None:
            self._bind(fn)

    @property
    def origin(self) -> str:
        """``module:qualname`` of the step function."""
        return _origin(self.fn) if self.fn is not None else "<unbound>"

    def _bind(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise ConfigurationError(f"step {self.name!r}: the step function must be callable")
        self.fn = fn
        functools.update_wrapper(self, fn)
        _register(_STEPS, "step", self.name, self, fn)

    def options(self) -> dict[str, Any]:
        """The step's options as JSON-ready values (as the compiler records them)."""
        return {
            "retries": self.retries,
            "timeout": self.timeout,
            "backoff": self.backoff.to_dict(),
            "rollback": _origin(self.rollback_fn) if self.rollback_fn is not None else None,
        }

    def __get__(self, instance: Any, owner: type | None = None) -> Step:
        if instance is None:
            return self
        bound = object.__new__(Step)
        bound.__dict__.update(self.__dict__)
        bound._instance = instance
        return bound

    @overload
    def __call__(self, fn: F) -> Step: ...
    @overload
    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            if len(args) != 1 or kwargs or not callable(args[0]):
                raise ConfigurationError(
                    f"step {self.name!r} has no function yet: use it as a decorator"
                )
            self._bind(args[0])
            return self
        return self._dispatch(args, kwargs)

    async def _dispatch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        executor = STEP_EXECUTOR.get()
        if executor is not None:
            return await executor.call_step(self, args, kwargs)
        context = StepContext("local", self.name, 1, f"local:{self.name}", LocalBackend())
        return await self.invoke(args, kwargs, context)

    async def invoke(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], context: StepContext
    ) -> Any:
        """Run one attempt of the step function (no retries, no recording).

        Sync functions run in a worker thread so they cannot block the loop. A
        thread cannot be interrupted: when a sync attempt times out its thread
        goes on, and the invocation's next attempt (same
        ``context.idempotency_key``) starts only once that thread returned.
        """
        fn = self.fn
        if fn is None:
            raise ConfigurationError(f"step {self.name!r} has no function")
        receiver: tuple[Any, ...] = () if self._instance is None else (self._instance,)
        if _wants_step_context(fn, skip=len(receiver)):
            args = (context, *args)
        if inspect.iscoroutinefunction(fn):
            return await fn(*receiver, *args, **kwargs)
        result = await run_sync_attempt(
            fn,
            (*receiver, *args),
            kwargs,
            key=context.idempotency_key,
            step=self.name,
            attempt=context.attempt,
        )
        if inspect.isawaitable(result):
            return await result
        return result

    async def previous_attempt_returned(
        self,
        idempotency_key: str,
        attempt: int,
        *,
        deadline: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Wait until no earlier attempt of this invocation still runs in its thread.

        A sync attempt that timed out goes on in its thread; the worker calls
        this before the next attempt's own timeout starts, so the retry never
        runs alongside it and still gets its whole time. It returns at once
        when nothing is running.

        Args:
            idempotency_key: The invocation's key (``StepContext.idempotency_key``).
            attempt: The number of the attempt about to start.
            deadline: Stop waiting at this time (the run's ``execution_timeout``);
                the attempt then finds its time used up.
            clock: The time ``deadline`` is measured against (required with it).

        Raises:
            ValueError: ``deadline`` without ``clock``.
        """
        within = None
        if deadline is not None:
            if clock is None:
                raise ValueError(f"step {self.name!r}: a deadline needs the clock it is read on")
            within = max(0.0, (deadline - clock()).total_seconds())
        with contextlib.suppress(TimeoutError):
            await after_abandoned(idempotency_key, self.name, attempt, within=within)

    def __repr__(self) -> str:
        return f"<Step {self.name!r} retries={self.retries} timeout={self.timeout}>"


def step(
    name: str,
    fn: Callable[..., Any] | None = None,
    *,
    retries: int = 0,
    timeout: Duration | None = None,
    rollback_fn: RollbackFn | None = None,
    backoff: Backoff | dict[str, Any] | None = None,
) -> Step:
    """Define a durable step.

    Args:
        name: Unique, descriptive name (``"reserve-inventory"``).
        fn: The step function; omit it to use ``step(...)`` as a decorator.
        retries: Further attempts after the first failure.
        timeout: Per-attempt time limit (seconds, ``timedelta`` or ``"30s"``). A
            sync function's thread cannot be stopped: the attempt fails at
            the limit, and the retry starts once the thread returned.
        rollback_fn: ``async def rollback(error, output)`` compensating the step.
        backoff: ``Backoff(initial, factor, max)`` or a dict of those keys.

    Returns:
        The :class:`Step`, awaitable from a workflow body.
    """
    return Step(
        name, fn, retries=retries, timeout=timeout, rollback_fn=rollback_fn, backoff=backoff
    )


class Workflow:
    """A workflow definition: a name, its circuit breakers, and its body.

    ``workflow(name, ...).run(fn)`` and ``@workflow(name)`` bind a function whose
    first parameter is the :class:`~runtime.WorkflowContext`; ``@Workflow(name)``
    on a class binds its ``async def run(self, ctx, ...)``.

    Attributes:
        name: The registered, unique workflow name.
        max_events: Cap on the run's event log, or ``None``.
        execution_timeout: Cap on the run's wall time in seconds, or ``None``.
        fn: The body function (for a class, its ``run`` method).
        cls: The class of a class-style workflow, else ``None``.
    """

    def __init__(
        self,
        name: str,
        *,
        max_events: int | None = None,
        execution_timeout: Duration | None = None,
    ) -> None:
        self.name = _check_name("workflow", name)
        if max_events is not None and (
            isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1
        ):
            raise ConfigurationError(
                f"workflow {name!r}: max_events must be a positive int, got {max_events!r}"
            )
        self.max_events = max_events
        self.execution_timeout = (
            None
            if execution_timeout is None
            else parse_duration(execution_timeout, what=f"workflow {name!r} execution_timeout")
        )
        self.fn: Callable[..., Any] | None = None
        self.cls: type | None = None

    @property
    def origin(self) -> str:
        """``module:qualname`` of the body (or of the class)."""
        target = self.cls if self.cls is not None else self.fn
        return _origin(target) if target is not None else "<unbound>"

    def run(self, fn: Callable[..., Any]) -> Workflow:
        """Bind the body function and register the workflow; returns the workflow."""
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                f"workflow {self.name!r}: the body must be an 'async def' function"
            )
        if self.fn is not None:
            raise ConfigurationError(f"workflow {self.name!r} already has a body")
        self.fn = fn
        _register(_WORKFLOWS, "workflow", self.name, self, fn)
        return self

    def options(self) -> dict[str, Any]:
        """The workflow's options as JSON-ready values."""
        return {"max_events": self.max_events, "execution_timeout": self.execution_timeout}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Decorate a class or a body function, or, once bound, call the body directly."""
        if self.fn is None and len(args) == 1 and not kwargs:
            target = args[0]
            if isinstance(target, type):
                body = getattr(target, "run", None)
                if body is None or not inspect.iscoroutinefunction(body):
                    raise ConfigurationError(
                        f"workflow class {target.__qualname__} needs an 'async def run(self, ctx, ...)'"
                    )
                self.cls = target
                self.fn = body
                _register(_WORKFLOWS, "workflow", self.name, self, target)
                target.__vrb_workflow__ = self  # type: ignore[attr-defined]
                return target
            if callable(target):
                return self.run(target)
        if self.fn is None:
            raise ConfigurationError(f"workflow {self.name!r} has no body yet")
        # Calling a bound workflow runs its body directly (unit tests of the logic).
        if self.cls is not None:
            return self.fn(self.cls(), *args, **kwargs)
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r} {self.origin}>"


def workflow(
    name: str, *, max_events: int | None = None, execution_timeout: Duration | None = None
) -> Workflow:
    """Define a workflow; bind its body with ``.run(fn)`` or use it as a decorator.

    Args:
        name: Unique workflow name, used to trigger runs.
        max_events: Circuit breaker on the size of a run's event log.
        execution_timeout: Circuit breaker on a run's wall time, waits included.
    """
    return Workflow(name, max_events=max_events, execution_timeout=execution_timeout)


def get_workflow(name: str) -> Workflow:
    """The registered workflow called ``name``.

    Raises:
        LookupError: No imported module registered it.
    """
    try:
        return _WORKFLOWS[name]
    except KeyError:
        known = ", ".join(sorted(_WORKFLOWS)) or "none"
        raise LookupError(
            f"no workflow named {name!r} is registered (registered: {known}); "
            "import the module that defines it"
        ) from None


def get_step(name: str) -> Step:
    """The registered step called ``name``."""
    try:
        return _STEPS[name]
    except KeyError:
        raise LookupError(f"no step named {name!r} is registered") from None


def registered_workflows() -> dict[str, Workflow]:
    """A snapshot of every registered workflow, by name."""
    return dict(_WORKFLOWS)


def registered_steps() -> dict[str, Step]:
    """A snapshot of every registered step, by name."""
    return dict(_STEPS)
