"""VRB109-VRB112: set order, module state, unknown calls, awaiting non-steps."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module

__all__ = ["MUTATING_METHODS", "RULES"]

#: Methods that mutate a container in place (VRB110 on module-level containers).
MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "update",
        "add",
        "pop",
        "popitem",
        "clear",
        "setdefault",
        "remove",
        "discard",
        "sort",
        "reverse",
        "appendleft",
        "extendleft",
        "popleft",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)

RULES = (
    RuleInfo(
        code="VRB109",
        name="set-iteration-order",
        severity=Severity.ERROR,
        summary="iteration order of a set flows into control flow or step arguments",
        rationale="The iteration order of a set of strings depends on the per-process hash "
        "seed, so a replay may visit the elements in another order and call steps differently.",
        hint="iterate over sorted(the_set) instead",
        bad=workflow_module("    for sku in set(order['skus']):\n        await charge(sku)\n"),
        good=workflow_module(
            "    for sku in sorted(set(order['skus'])):\n        await charge(sku)\n"
        ),
        valid=(
            workflow_module(
                "    skus = set(order['skus'])\n    return len(skus), 'a' in skus, sorted(skus)\n"
            ),
            workflow_module("    for k in {'a': 1}:\n        await charge(k)\n"),
        ),
        invalid=(
            workflow_module(
                "    skus = set(order['skus'])\n    for s in skus:\n        await charge(s)\n"
            ),
            workflow_module("    skus = {1, 2}\n    return list(skus)\n"),
            workflow_module("    skus = {x for x in order}\n    return await charge(skus)\n"),
            workflow_module("    return ','.join(set(order))\n"),
        ),
    ),
    RuleInfo(
        code="VRB110",
        name="module-state",
        severity=Severity.ERROR,
        summary="module-level state written, or global/nonlocal",
        rationale="Module state lives in one worker process: another worker replaying the run "
        "starts from other values, so the body must only read module-level constants.",
        hint="keep state in local variables and return values; persist it through a step",
        bad=workflow_module("    SEEN.append(order['id'])\n", extra="SEEN = []\n"),
        good=workflow_module("    seen = [order['id']]\n    return seen\n"),
        valid=(workflow_module("    return LIMIT + len(SEEN)\n", extra="LIMIT = 3\nSEEN = []\n"),),
        invalid=(
            workflow_module("    global COUNT\n    COUNT = 1\n", extra="COUNT = 0\n"),
            workflow_module("    CACHE[order['id']] = 1\n", extra="CACHE = {}\n"),
            workflow_module("    SEEN.append(order['id'])\n", extra="SEEN = []\n"),
        ),
    ),
    RuleInfo(
        code="VRB111",
        name="unknown-call",
        severity=Severity.ERROR,
        summary="a call the compiler cannot prove deterministic",
        rationale="A function from outside the analysed sources may read the clock or do I/O; "
        "the compiler cannot see it, so it refuses it unless the configuration vouches for it.",
        hint='move the call into a step, or declare it deterministic with pure = ["module.*"] '
        "under [tool.vrb-compile]",
        bad=workflow_module("    return pricing.total(order)\n", "import pricing\n"),
        good=workflow_module("    return await charge(order['amount'])\n"),
        valid=(workflow_module("    return json.dumps(sorted(order))\n", "import json\n"),),
        invalid=(
            workflow_module("    return pricing.total(order)\n", "import pricing\n"),
            workflow_module("    return undefined_helper(order)\n"),
        ),
    ),
    RuleInfo(
        code="VRB112",
        name="await-non-step",
        severity=Severity.ERROR,
        summary="awaiting something that is not a step or a ctx method",
        rationale="Only awaited steps, ctx operations and inlinable helpers are recorded in the "
        "event log; any other awaitable is I/O the replay would repeat.",
        hint="await a step (define one with step(...)) or a ctx method",
        bad=workflow_module("    return await client.fetch(order)\n", extra="client = object()\n"),
        good=workflow_module("    return await charge(order['amount'])\n"),
        valid=(
            workflow_module("    await ctx.sleep('1s')\n    return await charge(1)\n"),
            workflow_module(
                "    return await helper(order)\n",
                extra="async def helper(order):\n    return await charge(order)\n\n\n",
            ),
        ),
        invalid=(
            workflow_module("    return await client.fetch(order)\n", extra="client = object()\n"),
            workflow_module("    x = order['coro']\n    return await x\n"),
        ),
    ),
)
