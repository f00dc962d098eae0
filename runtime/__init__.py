"""vrb-workflows runtime: the SDK workflow authors import.

Define steps with :func:`step`, workflows with :func:`workflow` (or the
class-style :class:`Workflow` / :class:`Step` decorators); ``vrb-compile``
checks and compiles them, and workers run the compiled graphs durably.
"""

from .context import ContextBackend, LocalBackend, StepContext, WorkflowContext
from .durations import Backoff, Duration, parse_duration
from .errors import (
    CircuitBreakerTripped,
    ConfigurationError,
    ExecutionTimeout,
    MaxEventsExceeded,
    NondeterminismError,
    NonRetryableError,
    RegistrationError,
    RunFinished,
    RunNotFound,
    SignalTimeout,
    StepFailed,
    VrbError,
    WorkflowFailed,
)
from .sdk import (
    Step,
    Workflow,
    get_step,
    get_workflow,
    registered_steps,
    registered_workflows,
    step,
    workflow,
)

__all__ = [
    "Backoff",
    "CircuitBreakerTripped",
    "ConfigurationError",
    "ContextBackend",
    "Duration",
    "ExecutionTimeout",
    "LocalBackend",
    "MaxEventsExceeded",
    "NonRetryableError",
    "NondeterminismError",
    "RegistrationError",
    "RunFinished",
    "RunNotFound",
    "SignalTimeout",
    "Step",
    "StepContext",
    "StepFailed",
    "VrbError",
    "Workflow",
    "WorkflowContext",
    "WorkflowFailed",
    "get_step",
    "get_workflow",
    "parse_duration",
    "registered_steps",
    "registered_workflows",
    "step",
    "workflow",
]

__version__ = "0.1.0"
