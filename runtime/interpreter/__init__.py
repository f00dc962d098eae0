"""The graph interpreter: walks a compiled step graph, replaying a run's history.

* :mod:`.state` - the journal (history indexed by step key) and control signals;
* :mod:`.evaluate` - evaluation of node sources in one namespace per frame;
* :mod:`.walker` - the walk itself, delegating durable operations to a host.

The worker (:mod:`runtime.worker_run`) is the host: it owns the clock, the
store and retries.
"""

from .state import Cancelled, ControlFlow, Journal, StepRecord, Suspend, Tripped, step_key
from .walker import BodyFailed, Diverged, Host, StepCall, StepFailure, Walker, WalkState

__all__ = [
    "BodyFailed",
    "Cancelled",
    "ControlFlow",
    "Diverged",
    "Host",
    "Journal",
    "StepCall",
    "StepFailure",
    "StepRecord",
    "Suspend",
    "Tripped",
    "WalkState",
    "Walker",
    "step_key",
]
