"""vrb-workflows runtime: the SDK workflow authors import.

Define steps with :func:`step`, workflows with :func:`workflow` (or the
class-style :class:`Workflow` / :class:`Step` decorators); ``vrb-compile``
checks and compiles them, and workers run the compiled graphs durably:
:class:`Client` triggers runs, sends signals and reads results and histories;
:class:`Worker` claims runs from the store and interprets their graphs
(:mod:`runtime.interpreter`), replaying each run's history after a restart.
A :class:`PayloadCodec` such as :class:`AesGcmCodec` given to the client
encrypts run inputs, results, step outputs, signal payloads and error messages
at rest (:mod:`runtime.codec`).
"""

from .client import Client, RunHandle, RunInfo, RunList, SyncClient
from .codec import AesGcmCodec, CodecContext, PayloadCodec
from .context import ContextBackend, LocalBackend, StepContext, WorkflowContext
from .durations import Backoff, Duration, parse_duration
from .errors import (
    CircuitBreakerTripped,
    CodecError,
    ConfigurationError,
    CorruptValueError,
    ExecutionTimeout,
    LimitExceeded,
    MaxEventsExceeded,
    MissingKeyError,
    NondeterminismError,
    NonRetryableError,
    PayloadTooLarge,
    RegistrationError,
    RunFinished,
    RunNotFound,
    SignalTimeout,
    StepFailed,
    TooManySignals,
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
from .worker import Worker

__all__ = [
    "AesGcmCodec",
    "Backoff",
    "CircuitBreakerTripped",
    "Client",
    "CodecContext",
    "CodecError",
    "ConfigurationError",
    "ContextBackend",
    "CorruptValueError",
    "Duration",
    "ExecutionTimeout",
    "LimitExceeded",
    "LocalBackend",
    "MaxEventsExceeded",
    "MissingKeyError",
    "NonRetryableError",
    "NondeterminismError",
    "PayloadCodec",
    "PayloadTooLarge",
    "RegistrationError",
    "RunFinished",
    "RunHandle",
    "RunInfo",
    "RunList",
    "RunNotFound",
    "SignalTimeout",
    "Step",
    "StepContext",
    "StepFailed",
    "SyncClient",
    "TooManySignals",
    "VrbError",
    "Worker",
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
