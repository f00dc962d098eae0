"""VRB301-VRB306: source-level graph checks across the project."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODES = ("VRB301", "VRB302", "VRB303", "VRB304", "VRB305", "VRB306")
STEP = "from runtime import step\n\n\n"
SIGNAL = 'from runtime import StepContext, step\n\n\n@step("approve")\nasync def approve(ctx: StepContext, order):\n'

VALID = [
    Valid(
        "distinct-names",
        wf("    return 1\n", extra='@step("refund")\nasync def refund(x):\n    return x\n\n\n'),
    ),
    Valid(
        "rollback-two-params",
        STEP + "async def undo(error, output):\n    pass\n\n\nasync def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=undo)\n',
    ),
    Valid(
        "rollback-defaults",
        STEP
        + "async def undo(error, output, extra=None):\n    pass\n\n\nasync def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=undo)\n',
    ),
    Valid(
        "rollback-varargs",
        STEP + "async def undo(*args):\n    pass\n\n\nasync def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=undo)\n',
    ),
    Valid(
        "rollback-lambda",
        STEP + "async def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=lambda e, o: None)\n',
    ),
    Valid(
        "rollback-imported",
        {
            "shop/__init__.py": "",
            "shop/undo.py": "async def release(error, output):\n    pass\n",
            "shop/steps.py": STEP
            + "from .undo import release\n\n\nasync def do(x):\n    return x\n\n\n"
            's = step("s", do, rollback_fn=release)\n',
        },
    ),
    Valid(
        "signal-first", SIGNAL + "    key = str(order)\n    return await ctx.wait_for_signal(key)\n"
    ),
    Valid(
        "signal-without-step-context",
        'from runtime import step\n\n\n@step("a")\nasync def a(ctx, order):\n    notify(order)\n    return await ctx.wait_for_signal("ok")\n',
        allow=(),
    ),
    Valid(
        "while-with-breaker",
        wf("    while order:\n        await ctx.sleep('1m')\n", max_events=", max_events=1000"),
    ),
    Valid("for-loop", wf("    for x in order:\n        await charge(x)\n")),
    Valid("return-in-branch", wf("    if order:\n        return 1\n    return 2\n")),
]

INVALID = [
    Invalid(
        "duplicate-step",
        "VRB301",
        wf(
            "    return 1\n",
            extra='@step("charge")  # !\nasync def charge2(x):\n    return x\n\n\n',
        ),
    ),
    Invalid(
        "duplicate-step-across-modules",
        "VRB301",
        {
            "a.py": STEP + '@step("pay")\nasync def pay(x):\n    return x\n',
            "b.py": STEP + 'async def pay(x):\n    return x\n\n\np = step("pay", pay)  # !\n',
        },
    ),
    Invalid(
        "duplicate-workflow",
        "VRB302",
        wf("    return 1\n") + '\n\n@workflow("order")  # !\nasync def other(ctx):\n    return 2\n',
    ),
    Invalid(
        "rollback-one-param",
        "VRB303",
        STEP + "async def undo(output):\n    pass\n\n\nasync def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=undo)  # !\n',
    ),
    Invalid(
        "rollback-lambda-no-params",
        "VRB303",
        STEP + "async def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=lambda: None)  # !\n',
    ),
    Invalid(
        "rollback-required-kwonly",
        "VRB303",
        STEP
        + "async def undo(error, output, *, why):\n    pass\n\n\nasync def do(x):\n    return x\n\n\n"
        's = step("s", do, rollback_fn=undo)  # !\n',
    ),
    Invalid(
        "rollback-decorator-form",
        "VRB303",
        STEP + "async def undo(a, b, c):\n    pass\n\n\n"
        '@step("s", rollback_fn=undo)  # !\nasync def s(x):\n    return x\n',
    ),
    Invalid(
        "rollback-imported",
        "VRB303",
        {
            "shop/__init__.py": "",
            "shop/undo.py": "async def release(output):\n    pass\n",
            "shop/steps.py": STEP
            + "from .undo import release\n\n\nasync def do(x):\n    return x\n\n\n"
            's = step("s", do, rollback_fn=release)  # !\n',
        },
    ),
    Invalid(
        "signal-after-effect",
        "VRB304",
        SIGNAL + "    notify(order)\n    return await ctx.wait_for_signal('ok')  # !\n",
    ),
    Invalid(
        "signal-after-request",
        "VRB304",
        "import requests\n"
        + SIGNAL
        + "    requests.post('u', json=order)\n    return await ctx.wait_for_signal('ok')  # !\n",
    ),
    Invalid(
        "while-no-breaker", "VRB305", wf("    while order:  # !\n        await ctx.sleep('1m')\n")
    ),
    Invalid(
        "while-true-in-async-helper",
        "VRB305",
        wf(
            "    await poll(ctx)\n",
            extra="async def poll(c):\n    while True:  # !\n        await c.sleep('1m')\n\n\n",
        ),
    ),
    Invalid(
        "while-in-helper-shared-with-a-workflow-that-has-a-breaker",
        "VRB305",
        wf(
            "    await poll(ctx)\n",
            extra='@workflow("first", max_events=100)\nasync def first(ctx, order):\n'
            "    await poll(ctx)\n\n\n"
            "async def poll(c):\n    while True:  # !\n        await c.sleep('1m')\n\n\n",
        ),
    ),
    Invalid("after-return", "VRB306", wf("    return 1\n    order = 2  # !\n")),
    Invalid(
        "after-raise-in-branch",
        "VRB306",
        wf("    if order:\n        raise ValueError()\n        return 1  # !\n    return 2\n"),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, CODES)


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostics(check_files: CheckFiles) -> None:
    files = {
        "a.py": STEP + '@step("pay")\nasync def pay(x):\n    return x\n',
        "b.py": STEP + 'async def pay(x):\n    return x\n\n\np = step("pay", pay)\n',
    }
    [diag] = only(check_files(files), "VRB301")
    assert (diag.path, diag.line, diag.column, diag.end_column) == ("b.py", 8, 10, 15)
    assert diag.message == "step name 'pay' is already used by the step at a.py:4"
    assert diag.hint == "give each step a unique name"
    src = (
        STEP
        + "async def undo(output):\n    pass\n\n\nasync def do(x):\n    return x\n\n\ns = step('s', do, rollback_fn=undo)\n"
    )
    [diag] = only(check_files({"r.py": src}), "VRB303")
    assert (diag.line, diag.column, diag.end_column) == (12, 31, 35)
    assert (
        diag.message
        == "rollback_fn of step 's' takes (output); it is called as rollback(error, output)"
    )
    [diag] = only(
        check_files({"w.py": wf("    while True:\n        await ctx.sleep(1)\n")}), "VRB305"
    )
    assert (diag.line, diag.column, diag.severity.value) == (11, 5, "warning")
    assert (
        diag.message
        == "`while True` loop in workflow 'order', which has no max_events circuit breaker"
    )
