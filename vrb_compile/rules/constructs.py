"""VRB201-VRB218: constructs a workflow body cannot contain (one code per kind)."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module

__all__ = ["CTX_METHODS", "RULES"]

#: The WorkflowContext API a body may use.
CTX_METHODS = frozenset(
    {"sleep", "wait_for_signal", "parallel", "now", "random", "uuid4", "run_id", "workflow_name"}
)
_HELPER = "async def helper(x):\n    return await charge(x)\n\n\n"


def _rule(
    code: str,
    name: str,
    summary: str,
    rationale: str,
    hint: str,
    bad: str,
    good: str,
    valid: tuple[str, ...],
    invalid: tuple[str, ...],
) -> RuleInfo:
    return RuleInfo(
        code=code,
        name=name,
        severity=Severity.ERROR,
        summary=summary,
        rationale=rationale,
        hint=hint,
        bad=bad,
        good=good,
        valid=valid,
        invalid=invalid,
    )


RULES = (
    _rule(
        "VRB201",
        "with-statement",
        "`with` / `async with` in a workflow body",
        "A context manager's enter and exit are side effects the graph cannot record.",
        "move the `with` block into a step",
        workflow_module("    with lock:\n        return order\n", extra="lock = object()\n"),
        workflow_module("    return await charge(order)\n"),
        (workflow_module("    return order\n"),),
        (workflow_module("    with lock:\n        return order\n", extra="lock = object()\n"),),
    ),
    _rule(
        "VRB202",
        "nested-function",
        "`def` inside a workflow body",
        "A nested function is a closure the graph cannot lower or inline.",
        "define the function at module level (a helper) and call it",
        workflow_module("    def f(x):\n        return x\n    return f(order)\n"),
        workflow_module("    return helper(order)\n", extra="def helper(x):\n    return x\n\n\n"),
        (workflow_module("    return await helper(order)\n", extra=_HELPER),),
        (workflow_module("    def f(x):\n        return x\n    return f(order)\n"),),
    ),
    _rule(
        "VRB203",
        "nested-class",
        "`class` inside a workflow body",
        "A class created per run cannot be lowered to the step graph.",
        "define the class at module level",
        workflow_module("    class Box:\n        pass\n    return order\n"),
        workflow_module("    return Box()\n", extra="class Box:\n    pass\n\n\n"),
        (workflow_module("    return Box()\n", extra="class Box:\n    pass\n\n\n"),),
        (workflow_module("    class Box:\n        pass\n    return order\n"),),
    ),
    _rule(
        "VRB204",
        "lambda",
        "`lambda` outside `ctx.parallel([...])`",
        "Lambdas are only meaningful as ctx.parallel branches; elsewhere they hide code "
        "the graph cannot see.",
        "use a module-level helper function, or operator.itemgetter/attrgetter for keys",
        workflow_module("    return sorted(order, key=lambda x: x[1])\n"),
        workflow_module(
            "    return sorted(order, key=operator.itemgetter(1))\n", "import operator\n"
        ),
        (workflow_module("    return await ctx.parallel([lambda: charge(1)])\n"),),
        (workflow_module("    return sorted(order, key=lambda x: x[1])\n"),),
    ),
    _rule(
        "VRB205",
        "generator",
        "`yield`, or `await` inside a comprehension",
        "A workflow body is one coroutine lowered to a graph: it cannot be a generator, and "
        "awaits inside comprehensions have no graph node.",
        "return a list; for a step per item use a for loop or asyncio.gather(*(s(x) for x in xs))",
        workflow_module("    return [await charge(x) for x in order]\n"),
        workflow_module(
            "    results = []\n    for x in order:\n        results.append(await charge(x))\n    return results\n"
        ),
        (workflow_module("    return [x * 2 for x in order]\n"),),
        (
            workflow_module("    return [await charge(x) for x in order]\n"),
            workflow_module("    yield order\n"),
        ),
    ),
    _rule(
        "VRB206",
        "definition-in-body",
        "step(...) or workflow(...) defined inside a workflow body",
        "Steps and workflows register by name when their module is imported; one defined per "
        "run would register again on every replay.",
        "define steps and workflows at module level",
        workflow_module("    s = step('inner', print)\n    return await s(order)\n"),
        workflow_module("    return await charge(order)\n"),
        (workflow_module("    return await charge(order)\n"),),
        (workflow_module("    s = step('inner', print)\n    return await s(order)\n"),),
    ),
    _rule(
        "VRB207",
        "async-for",
        "`async for` in a workflow body",
        "An async iterator pulls values from outside the event log.",
        "collect the values in a step and iterate over its result with a plain for loop",
        workflow_module("    async for x in order:\n        pass\n"),
        workflow_module("    for x in await charge(order):\n        pass\n"),
        (workflow_module("    for x in order:\n        pass\n"),),
        (workflow_module("    async for x in order:\n        pass\n"),),
    ),
    _rule(
        "VRB208",
        "nested-await",
        "`await` nested inside an expression",
        "Each await is a node of the graph; one buried in an expression has no place to go.",
        "assign the awaited result to a variable first: `x = await step(...)`",
        workflow_module("    return (await charge(1)) + 1\n"),
        workflow_module("    x = await charge(1)\n    return x + 1\n"),
        (workflow_module("    x = await charge(1)\n    return x\n"),),
        (
            workflow_module("    return (await charge(1)) + 1\n"),
            workflow_module("    if await charge(1):\n        return 1\n"),
        ),
    ),
    _rule(
        "VRB209",
        "match-statement",
        "`match` statement in a workflow body",
        "The graph lowers if/elif chains; pattern matching is not supported yet.",
        "rewrite the match as if/elif",
        workflow_module("    match order:\n        case 1:\n            return 1\n"),
        workflow_module("    if order == 1:\n        return 1\n"),
        (workflow_module("    if order == 1:\n        return 1\n"),),
        (workflow_module("    match order:\n        case 1:\n            return 1\n"),),
    ),
    _rule(
        "VRB210",
        "import-in-body",
        "import inside a workflow body",
        "An import runs module code at an arbitrary point of a run and of each replay.",
        "import at the top of the module",
        workflow_module("    import json\n    return json.dumps(order)\n"),
        workflow_module("    return json.dumps(order)\n", "import json\n"),
        (workflow_module("    return json.dumps(order)\n", "import json\n"),),
        (workflow_module("    import json\n    return json.dumps(order)\n"),),
    ),
    _rule(
        "VRB211",
        "except-star",
        "`try/except*` in a workflow body",
        "Exception groups have no lowering to error edges.",
        "catch StepFailed (or the error type) with a plain except clause",
        workflow_module("    try:\n        pass\n    except* ValueError:\n        pass\n"),
        workflow_module("    try:\n        pass\n    except ValueError:\n        pass\n"),
        (workflow_module("    try:\n        pass\n    except ValueError:\n        pass\n"),),
        (workflow_module("    try:\n        pass\n    except* ValueError:\n        pass\n"),),
    ),
    _rule(
        "VRB212",
        "sync-workflow",
        "the workflow body is not an `async def` function",
        "Steps are awaited, so a workflow body must be a coroutine function defined with def.",
        "define the body as `async def name(ctx, ...)`",
        'from runtime import workflow\n\n\n@workflow("w")\ndef flow(ctx):\n    return 1\n',
        'from runtime import workflow\n\n\n@workflow("w")\nasync def flow(ctx):\n    return 1\n',
        (workflow_module("    return 1\n"),),
        (
            'from runtime import workflow\n\n\n@workflow("w")\ndef flow(ctx):\n    return 1\n',
            'from runtime import workflow\n\nworkflow("w").run(lambda ctx: 1)\n',
        ),
    ),
    _rule(
        "VRB213",
        "parallel-branches",
        "ctx.parallel argument is not a list of zero-argument lambdas calling one step each",
        "The compiler lowers each ctx.parallel branch to one step node, so it must see the "
        "branches literally.",
        "write ctx.parallel([lambda: step_a(x), lambda: step_b(y)])",
        workflow_module(
            "    branches = [lambda: charge(1)]\n    return await ctx.parallel(branches)\n"
        ),
        workflow_module("    return await ctx.parallel([lambda: charge(1), lambda: charge(2)])\n"),
        (
            workflow_module(
                "    return await ctx.parallel([lambda: charge(1), lambda: charge(2)])\n"
            ),
        ),
        (
            workflow_module(
                "    branches = [lambda: charge(1)]\n    return await ctx.parallel(branches)\n"
            ),
            workflow_module("    return await ctx.parallel([lambda: order + 1])\n"),
        ),
    ),
    _rule(
        "VRB214",
        "ctx-escape",
        "the workflow context escapes the body",
        "The ctx object is only meaningful to the compiled body and its inlined helpers; "
        "code that keeps or receives it can use it outside the graph.",
        "pass the values you need (ctx.run_id, ctx.now()) instead of ctx itself",
        workflow_module("    box = [ctx]\n    return box\n"),
        workflow_module("    return [ctx.run_id]\n"),
        (
            workflow_module(
                "    return await helper(ctx)\n",
                extra="async def helper(ctx):\n    await ctx.sleep(1)\n\n\n",
            ),
        ),
        (
            workflow_module("    box = [ctx]\n    return box\n"),
            workflow_module("    return await charge(ctx)\n"),
        ),
    ),
    _rule(
        "VRB215",
        "ctx-unknown-attribute",
        "use of a ctx attribute outside the WorkflowContext API",
        "Only sleep, wait_for_signal, parallel, now, random, uuid4, run_id and workflow_name "
        "are recorded or fixed for the run.",
        "use one of: " + ", ".join(sorted(CTX_METHODS)),
        workflow_module("    return ctx.backend\n"),
        workflow_module("    return ctx.run_id\n"),
        (workflow_module("    return ctx.run_id, ctx.workflow_name, ctx.now()\n"),),
        (workflow_module("    return ctx.backend\n"),),
    ),
    _rule(
        "VRB216",
        "ctx-call",
        "a ctx method awaited when it returns a value, not awaited when it must be, "
        "or called without its argument",
        "ctx.sleep, ctx.wait_for_signal and ctx.parallel become graph nodes only when "
        "awaited, with the duration or signal name they need; ctx.now, ctx.random and "
        "ctx.uuid4 return their value at once and cannot be awaited.",
        "await ctx.sleep(duration), ctx.wait_for_signal(name) and ctx.parallel([...]); "
        "call ctx.now(), ctx.random() and ctx.uuid4() without await",
        workflow_module("    await ctx.sleep()\n    return await ctx.random()\n"),
        workflow_module("    await ctx.sleep('5m')\n    return ctx.random()\n"),
        (
            workflow_module("    await ctx.sleep(duration=5)\n    return ctx.now()\n"),
            workflow_module("    return await ctx.wait_for_signal(name='ok', timeout=60)\n"),
        ),
        (
            workflow_module("    await ctx.sleep()\n"),
            workflow_module("    return await ctx.random()\n"),
            workflow_module("    ctx.sleep(5)\n"),
            workflow_module("    return await ctx.wait_for_signal()\n"),
        ),
    ),
    _rule(
        "VRB217",
        "gather-map",
        "the asyncio.gather map does not call one step per item",
        "asyncio.gather(*(s(x) for x in xs)) becomes a map node: one call of the step s per "
        "item, recorded in the event log. A helper or any other call per item, or items "
        "from an async iterator, have no such node.",
        "gather one step call per item: asyncio.gather(*(step(x) for x in xs)); to run a "
        "helper per item, await it in a for loop",
        workflow_module(
            "    return await asyncio.gather(*(helper(x) for x in order))\n",
            "import asyncio\n",
            extra=_HELPER,
        ),
        workflow_module(
            "    return await asyncio.gather(*(charge(x) for x in order))\n", "import asyncio\n"
        ),
        (
            workflow_module(
                "    return await asyncio.gather(*(charge(x) for x in order for y in order))\n",
                "import asyncio\n",
            ),
        ),
        (
            workflow_module(
                "    return await asyncio.gather(*(helper(x) for x in order))\n",
                "import asyncio\n",
                extra=_HELPER,
            ),
            workflow_module(
                "    return await asyncio.gather(*(charge(x) async for x in order))\n",
                "import asyncio\n",
            ),
        ),
    ),
    _rule(
        "VRB218",
        "recursive-helper",
        "an async helper that calls itself, directly or through other helpers",
        "Async helpers are inlined into the step graph at each call; a recursive one would "
        "be inlined without end.",
        "write the repetition as a loop (in the body or in the helper)",
        workflow_module(
            "    return await countdown(order)\n",
            extra="async def countdown(n):\n    if n:\n        await charge(n)\n"
            "        await countdown(n - 1)\n\n\n",
        ),
        workflow_module(
            "    return await countdown(order)\n",
            extra="async def countdown(n):\n    while n:\n        await charge(n)\n"
            "        n -= 1\n\n\n",
        ),
        (workflow_module("    return await helper(order)\n", extra=_HELPER),),
        (
            workflow_module(
                "    return await countdown(order)\n",
                extra="async def countdown(n):\n    if n:\n        await countdown(n - 1)\n\n\n",
            ),
        ),
    ),
)
