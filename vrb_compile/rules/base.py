"""What every rule declares about itself.

A rule carries its own documentation and examples: ``vrb-compile rules`` and
``explain`` print them, the docs are generated from them, and the tests are
generated from ``valid``/``invalid``, so no rule ships untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Severity

__all__ = ["RuleInfo", "workflow_module"]


@dataclass(frozen=True)
class RuleInfo:
    """The public description of one rule code.

    Attributes:
        code: Stable public code (``VRB101``); users suppress by it.
        name: Short kebab-case name (``wall-clock``).
        severity: Default severity.
        summary: One line for ``vrb-compile rules``.
        rationale: Why the rule exists (``explain``; SARIF ``fullDescription``).
        hint: What to write instead (SARIF ``help``; diagnostics may refine it).
        bad: A workflow module that triggers the rule (``explain``, docs).
        good: The same module corrected.
        valid: Snippets that must produce no diagnostic of this code.
        invalid: Snippets that must produce at least one diagnostic of this code.
    """

    code: str
    name: str
    severity: Severity
    summary: str
    rationale: str
    hint: str
    bad: str = ""
    good: str = ""
    valid: tuple[str, ...] = field(default=())
    invalid: tuple[str, ...] = field(default=())


_PRELUDE = """\
from runtime import step, workflow


@step("charge")
async def charge(amount):
    return amount


"""


def workflow_module(body: str, imports: str = "", *, extra: str = "", max_events: str = "") -> str:
    """A small workflow module for rule examples and tests.

    Args:
        body: The workflow body, indented by four spaces.
        imports: Import lines placed at the top.
        extra: Module-level code placed before the workflow (helpers, constants).
        max_events: ``, max_events=100`` to set the circuit breaker.
    """
    return (
        f"{imports}{_PRELUDE}{extra}"
        f'@workflow("order"{max_events})\n'
        f"async def order_flow(ctx, order):\n{body}"
    )
