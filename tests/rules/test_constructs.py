"""VRB201-VRB215: constructs a workflow body (or an inlined async helper) cannot contain.

Pure sync helpers are not lowered, only run as code: constructs are allowed
there (a ``sorted(key=lambda ...)`` or a generator is deterministic), while the
determinism rules still apply inside them.
"""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf
from vrb_compile.rules.registry import RULES

CODES = tuple(c for c in RULES if c.startswith("VRB2"))
ASYNC_HELPER = "async def helper(x):\n    return await charge(x)\n\n\n"

VALID = [
    Valid("async-helper", wf("    return await helper(order)\n", extra=ASYNC_HELPER)),
    Valid("module-level-class", wf("    return Box()\n", extra="class Box:\n    pass\n\n\n")),
    Valid(
        "parallel-lambdas",
        wf("    return await ctx.parallel([lambda: charge(1), lambda: charge(2)])\n"),
    ),
    Valid("comprehension", wf("    return [x * 2 for x in order]\n")),
    Valid("awaited-statement", wf("    x = await charge(1)\n    return x\n")),
    Valid(
        "if-elif",
        wf(
            "    if order == 1:\n        return 1\n    elif order:\n        return 2\n    return 3\n"
        ),
    ),
    Valid("top-level-import", wf("    return json.dumps(order)\n", "import json\n")),
    Valid(
        "plain-except",
        wf("    try:\n        await charge(1)\n    except ValueError:\n        pass\n"),
    ),
    Valid("ctx-api", wf("    return ctx.run_id, ctx.workflow_name, ctx.now(), ctx.uuid4()\n")),
    Valid(
        "ctx-to-async-helper",
        wf(
            "    return await helper(ctx)\n",
            extra="async def helper(c):\n    await c.sleep(1)\n\n\n",
        ),
    ),
    Valid(
        "sync-helper-with-lambda",
        wf(
            "    return by_price(order)\n",
            extra="def by_price(items):\n    return sorted(items, key=lambda i: i.price)\n\n\n",
        ),
    ),
    Valid(
        "sync-helper-generator",
        wf(
            "    return list(pairs(order))\n",
            extra="def pairs(xs):\n    for x in xs:\n        yield x, x\n\n\n",
        ),
    ),
    Valid(
        "sync-helper-with-and-nested-def",
        wf(
            "    return total(order)\n",
            "import decimal\n",
            extra="def total(xs):\n    def add(a, b):\n        return a + b\n"
            "    with decimal.localcontext() as c:\n        c.prec = 4\n        return add(*xs)\n\n\n",
        ),
    ),
    Valid(
        "sync-helper-match-and-while",
        wf(
            "    return kind(order)\n",
            extra="def kind(x):\n    while x > 10:\n        x -= 10\n    match x:\n        case 1:\n            return 'one'\n    return 'many'\n\n\n",
        ),
    ),
]

INVALID = [
    Invalid(
        "with",
        "VRB201",
        wf("    with lock:  # !\n        return order\n", extra="lock = object()\n"),
    ),
    Invalid(
        "async-with",
        "VRB201",
        wf("    async with lock:  # !\n        return order\n", extra="lock = object()\n"),
    ),
    Invalid(
        "with-in-async-helper",
        "VRB201",
        wf(
            "    return await helper(order)\n",
            extra="async def helper(x):\n    with x:  # !\n        return await charge(x)\n\n\n",
        ),
    ),
    Invalid(
        "nested-def", "VRB202", wf("    def f(x):  # !\n        return x\n    return f(order)\n")
    ),
    Invalid("nested-class", "VRB203", wf("    class Box:  # !\n        pass\n    return order\n")),
    Invalid("lambda", "VRB204", wf("    return sorted(order, key=lambda x: x[1])  # !\n")),
    Invalid(
        "lambda-in-async-helper",
        "VRB204",
        wf(
            "    return await h(order)\n",
            extra="async def h(x):\n    f = lambda: x  # !\n    return await charge(f())\n\n\n",
        ),
    ),
    Invalid(
        "await-in-comprehension", "VRB205", wf("    return [await charge(x) for x in order]  # !\n")
    ),
    Invalid("yield", "VRB205", wf("    yield order  # !\n")),
    Invalid(
        "step-in-body",
        "VRB206",
        wf("    s = step('inner', print)  # !\n    return await s(order)\n"),
    ),
    Invalid("async-for", "VRB207", wf("    async for x in order:  # !\n        pass\n")),
    Invalid("nested-await", "VRB208", wf("    return (await charge(1)) + 1  # !\n")),
    Invalid("await-in-condition", "VRB208", wf("    if await charge(1):  # !\n        return 1\n")),
    Invalid(
        "match", "VRB209", wf("    match order:  # !\n        case 1:\n            return 1\n")
    ),
    Invalid("import", "VRB210", wf("    import json  # !\n    return json.dumps(order)\n")),
    Invalid(
        "except-star",
        "VRB211",
        wf("    try:  # !\n        pass\n    except* ValueError:\n        pass\n"),
    ),
    Invalid(
        "sync-body",
        "VRB212",
        'from runtime import workflow\n\n\n@workflow("w")\ndef flow(ctx):  # !\n    return 1\n',
    ),
    Invalid(
        "lambda-body",
        "VRB212",
        'from runtime import workflow\n\nworkflow("w").run(lambda ctx: 1)  # !\n',
    ),
    Invalid(
        "parallel-not-literal",
        "VRB213",
        wf("    branches = [lambda: charge(1)]\n    return await ctx.parallel(branches)  # !\n"),
    ),
    Invalid(
        "parallel-branch-not-step",
        "VRB213",
        wf("    return await ctx.parallel([lambda: order + 1])  # !\n"),
    ),
    Invalid("ctx-in-container", "VRB214", wf("    box = [ctx]  # !\n    return box\n")),
    Invalid("ctx-to-step", "VRB214", wf("    return await charge(ctx)  # !\n")),
    Invalid("ctx-unknown-attribute", "VRB215", wf("    return ctx.backend  # !\n")),
    Invalid(
        "ctx-passed-to-a-helper-already-called-without-it",
        "VRB215",
        wf(
            "    a = usesctx(order)\n    return usesctx(ctx)\n",
            extra="def usesctx(c):\n    return c.frobnicate()  # !\n\n\n",
        ),
    ),
    Invalid(
        "ctx-getattr-with-a-literal-name",
        "VRB215",
        wf("    return getattr(ctx, 'frobnicate')()  # !\n"),
    ),
    Invalid("ctx-unknown-method", "VRB215", wf("    return await ctx.signal('x')  # !\n")),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, CODES)


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_sync_helpers_still_get_determinism_rules(check_files: CheckFiles) -> None:
    src = wf(
        "    return by_time(order)\n",
        "import time\n",
        extra="def by_time(items):\n    return sorted(items, key=lambda i: time.time() - i)\n\n\n",
    )
    [diag] = check_files({"mod.py": src}).diagnostics
    assert (diag.code, diag.line, diag.chain) == ("VRB101", 11, ("order_flow", "by_time"))


def test_exact_diagnostics(check_files: CheckFiles) -> None:
    [diag] = only(check_files({"mod.py": wf("    return (await charge(1)) + 1\n")}), "VRB208")
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (11, 13, 11, 28)
    assert diag.message == "this `await` is nested inside an expression"
    assert diag.hint == "assign the awaited result to a variable first: `x = await step(...)`"
    [diag] = only(check_files({"mod.py": wf("    return ctx.backend\n")}), "VRB215")
    assert (diag.line, diag.column, diag.end_column) == (11, 12, 23)
    assert diag.message == "ctx.backend is not part of the WorkflowContext API"


def test_nested_definitions_are_locals_and_their_bodies_are_checked(
    check_files: CheckFiles,
) -> None:
    src = wf(
        "    def f(x):\n        return random.random() + x\n"
        "    key = sorted(order, key=lambda i: time.time())\n    return f(order), key\n",
        "import random\nimport time\n",
    )
    found = [(d.code, d.line) for d in check_files({"mod.py": src}).diagnostics]
    assert found == [("VRB202", 13), ("VRB102", 14), ("VRB204", 15), ("VRB101", 15)]
