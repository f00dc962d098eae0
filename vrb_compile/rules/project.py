"""VRB301-VRB307: source-level graph checks (VRB308 lives in :mod:`.loops`)."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module

__all__ = ["RULES"]

_OPTION_STEP = """\
from runtime import step

{constants}

@step("charge", {options})
async def charge(amount):
    return amount
"""

_SIGNAL_STEP = """\
from runtime import StepContext, step


@step("approve")
async def approve(ctx: StepContext, order):
{body}"""

RULES = (
    RuleInfo(
        code="VRB301",
        name="duplicate-step",
        severity=Severity.ERROR,
        summary="two steps share a name",
        rationale="Steps register and replay by name; two steps with one name make the log ambiguous.",
        hint="give each step a unique name",
        bad=workflow_module(
            "    return 1\n", extra='@step("charge")\nasync def charge2(x):\n    return x\n\n\n'
        ),
        good=workflow_module(
            "    return 1\n",
            extra='@step("charge-twice")\nasync def charge2(x):\n    return x\n\n\n',
        ),
        valid=(workflow_module("    return 1\n"),),
        invalid=(
            workflow_module(
                "    return 1\n", extra='@step("charge")\nasync def charge2(x):\n    return x\n\n\n'
            ),
        ),
    ),
    RuleInfo(
        code="VRB302",
        name="duplicate-workflow",
        severity=Severity.ERROR,
        summary="two workflows share a name",
        rationale="Runs are triggered by workflow name; a duplicate makes the trigger ambiguous.",
        hint="give each workflow a unique name",
        bad=workflow_module("    return 1\n")
        + '\n\n@workflow("order")\nasync def other(ctx):\n    return 2\n',
        good=workflow_module("    return 1\n")
        + '\n\n@workflow("order-v2")\nasync def other(ctx):\n    return 2\n',
        valid=(workflow_module("    return 1\n"),),
        invalid=(
            workflow_module("    return 1\n")
            + '\n\n@workflow("order")\nasync def other(ctx):\n    return 2\n',
        ),
    ),
    RuleInfo(
        code="VRB303",
        name="rollback-signature",
        severity=Severity.ERROR,
        summary="rollback_fn does not accept (error, output)",
        rationale="Compensation calls rollback_fn(error, output) positionally; another signature "
        "fails at the worst moment, during a saga.",
        hint="define it as `async def rollback(error, output): ...`",
        bad='from runtime import step\n\n\nasync def undo(output):\n    pass\n\n\nasync def do(x):\n    return x\n\n\ns = step("s", do, rollback_fn=undo)\n',
        good='from runtime import step\n\n\nasync def undo(error, output):\n    pass\n\n\nasync def do(x):\n    return x\n\n\ns = step("s", do, rollback_fn=undo)\n',
        valid=(
            'from runtime import step\n\n\nasync def undo(*args):\n    pass\n\n\nasync def do(x):\n    return x\n\n\ns = step("s", do, rollback_fn=undo)\n',
        ),
        invalid=(
            'from runtime import step\n\n\nasync def undo(output):\n    pass\n\n\nasync def do(x):\n    return x\n\n\ns = step("s", do, rollback_fn=undo)\n',
            'from runtime import step\n\n\nasync def do(x):\n    return x\n\n\ns = step("s", do, rollback_fn=lambda: None)\n',
        ),
    ),
    RuleInfo(
        code="VRB304",
        name="signal-after-side-effect",
        severity=Severity.WARNING,
        summary="a step waits for a signal after a side effect",
        rationale="A step is retried from its start: a side effect before the wait repeats on "
        "every retry before the wait is reached again.",
        hint="split the step: do the side effect in one step and wait for the signal in the "
        "workflow body (ctx.wait_for_signal) or in a later step",
        bad=_SIGNAL_STEP.format(
            body="    notify(order)\n    return await ctx.wait_for_signal('ok')\n"
        ),
        good=_SIGNAL_STEP.format(body="    return await ctx.wait_for_signal('ok')\n"),
        valid=(
            _SIGNAL_STEP.format(
                body="    key = str(order)\n    return await ctx.wait_for_signal(key)\n"
            ),
        ),
        invalid=(
            _SIGNAL_STEP.format(
                body="    notify(order)\n    return await ctx.wait_for_signal('ok')\n"
            ),
        ),
    ),
    RuleInfo(
        code="VRB305",
        name="unbounded-loop",
        severity=Severity.WARNING,
        summary="`while` loop in a workflow without max_events",
        rationale="A loop that never ends grows the run's event log without bound; max_events "
        "is the circuit breaker that stops it. Without it, a worker stops the run at its "
        "default cap of 50,000 events (Worker(default_max_events=N), vrb worker "
        "--default-max-events N): compensated, then failed with MaxEventsExceeded.",
        hint='set a circuit breaker: @workflow("name", max_events=1000); without one, '
        "workers stop the run at their default cap of 50,000 events",
        bad=workflow_module("    while True:\n        await ctx.sleep('1m')\n"),
        good=workflow_module(
            "    while True:\n        await ctx.sleep('1m')\n", max_events=", max_events=1000"
        ),
        valid=(
            workflow_module(
                "    while order:\n        await ctx.sleep('1m')\n", max_events=", max_events=1000"
            ),
        ),
        invalid=(workflow_module("    while order:\n        await ctx.sleep('1m')\n"),),
    ),
    RuleInfo(
        code="VRB306",
        name="unreachable-code",
        severity=Severity.WARNING,
        summary="code after return/raise/break/continue",
        rationale="Unreachable statements are dead code in the graph; usually a mistake.",
        hint="remove the unreachable statements or fix the control flow",
        bad=workflow_module("    return 1\n    order = 2\n"),
        good=workflow_module("    return 1\n"),
        valid=(workflow_module("    if order:\n        return 1\n    return 2\n"),),
        invalid=(workflow_module("    return 1\n    order = 2\n"),),
    ),
    RuleInfo(
        code="VRB307",
        name="option-not-evaluable",
        severity=Severity.ERROR,
        summary="a step or workflow option the compiler cannot evaluate, or of the wrong type",
        rationale="A worker runs a step with the retries, timeout and backoff its graph "
        "records, and the graph can record only what the compiler evaluates. An option it "
        "cannot evaluate (a call, a name assigned twice, a value read from the environment) "
        "would fall back to a default the registered step does not have, and a value of the "
        "wrong type fails when the module is imported.",
        hint="give the option as a literal or as a module-level constant assigned once "
        "(numbers, strings, timedelta(...), Backoff(...), dicts of those, or arithmetic on them)",
        bad="import os\n\n"
        + _OPTION_STEP.format(
            constants='RETRIES = int(os.environ.get("RETRIES", "3"))\n', options="retries=RETRIES"
        ),
        good=_OPTION_STEP.format(constants="RETRIES = 3\n", options="retries=RETRIES"),
        valid=(
            _OPTION_STEP.format(
                constants='RETRIES = 3\nTIMEOUT = "30s"\n',
                options="retries=RETRIES + 1, timeout=TIMEOUT",
            ),
            "from runtime import Backoff\n"
            + _OPTION_STEP.format(
                constants='SLOW = Backoff(initial="1s", factor=3.0, max="1m")\n',
                options="retries=2, backoff=SLOW",
            ),
        ),
        invalid=(
            "import os\n\n"
            + _OPTION_STEP.format(
                constants='RETRIES = int(os.environ["RETRIES"])\n', options="retries=RETRIES"
            ),
            _OPTION_STEP.format(constants="RETRIES = 3\nRETRIES = 5\n", options="retries=RETRIES"),
            _OPTION_STEP.format(constants="", options='retries="3"'),
        ),
    ),
)
