"""VRB308: a `while` loop in a workflow body (or a helper it awaits) that awaits nothing."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODES = ("VRB308",)
BREAKER = ", max_events=1000"

VALID = [
    Valid(
        "for-loop-of-pure-computation",
        wf(
            "    total = 0\n    for item in order['items']:\n        total += item\n"
            "    return await charge(total)\n"
        ),
    ),
    Valid(
        "for-loop-over-a-range",
        wf("    n = 0\n    for _ in range(1000):\n        n += 1\n    return n\n"),
    ),
    Valid(
        "while-awaiting-a-step",
        wf(
            "    while order['left']:\n        order = await charge(order)\n    return order\n",
            max_events=BREAKER,
        ),
    ),
    Valid(
        "while-sleeping",
        wf("    while True:\n        await ctx.sleep('1m')\n", max_events=BREAKER),
    ),
    Valid(
        "while-waiting-for-a-signal",
        wf(
            "    done = False\n    while not done:\n"
            "        done = await ctx.wait_for_signal('done')\n",
            max_events=BREAKER,
        ),
    ),
    Valid(
        "while-awaiting-in-one-branch",
        wf(
            "    i = 0\n    while i < 10:\n        i += 1\n        if i % 3 == 0:\n"
            "            await charge(i)\n",
            max_events=BREAKER,
        ),
    ),
    Valid(
        "while-awaiting-in-a-nested-loop",
        wf(
            "    i = 0\n    while i < 3:\n        i += 1\n        for x in order:\n"
            "            await charge(x)\n",
            max_events=BREAKER,
        ),
    ),
    Valid(
        "while-awaiting-in-try",
        wf(
            "    while True:\n        try:\n            return await charge(order)\n"
            "        except Exception:\n            await ctx.sleep('1m')\n",
            max_events=BREAKER,
        ),
    ),
    Valid(
        "while-awaiting-a-helper",
        wf(
            "    while order:\n        order = await settle(order)\n",
            extra="async def settle(x):\n    return await charge(x)\n\n\n",
            max_events=BREAKER,
        ),
    ),
    Valid(
        "while-in-a-plain-helper",
        # Run as code inside one node, not lowered: the walker has no turn to count there.
        wf(
            "    return await charge(digits(order))\n",
            extra="def digits(n):\n    out = []\n    while n:\n        out.append(n % 10)\n"
            "        n //= 10\n    return out\n\n\n",
        ),
    ),
    Valid(
        "while-in-a-step",
        'from runtime import step\n\n\n@step("spin")\nasync def spin(n):\n'
        "    while n > 1:\n        n = n // 2\n    return n\n",
    ),
]

INVALID = [
    Invalid(
        "pure-spin",
        "VRB308",
        wf("    i = 0\n    while i >= 0:  # !\n        i += 1\n", max_events=BREAKER),
    ),
    Invalid(
        "while-true-with-a-break",
        "VRB308",
        wf(
            "    n = 0\n    while True:  # !\n        n += 1\n        if n > order:\n"
            "            break\n    return await charge(n)\n",
            max_events=BREAKER,
        ),
    ),
    Invalid(
        "await-only-in-its-else",
        "VRB308",
        wf(
            "    i = 0\n    while i < order:  # !\n        i += 1\n    else:\n"
            "        await charge(i)\n",
            max_events=BREAKER,
        ),
    ),
    Invalid(
        "pure-while-inside-a-loop-that-awaits",
        "VRB308",
        wf(
            "    for x in order:\n        await charge(x)\n        j = x\n"
            "        while j > 1:  # !\n            j = j // 2\n",
            max_events=BREAKER,
        ),
    ),
    Invalid(
        "both-nested-pure-whiles",
        "VRB308",
        wf(
            "    i = 0\n    while i < 3:  # !\n        i += 1\n        j = 0\n"
            "        while j < 3:  # !\n            j += 1\n",
            max_events=BREAKER,
        ),
    ),
    Invalid(
        "in-an-awaited-helper",
        "VRB308",
        wf(
            "    return await count(order)\n",
            extra="async def count(n):\n    i = 0\n    while i < n:  # !\n        i += 1\n"
            "    return i\n\n\n",
            max_events=BREAKER,
        ),
    ),
    Invalid(
        "also-without-a-breaker",
        "VRB308",
        wf("    while order:  # !\n        order = order[1:]\n"),
    ),
    Invalid(
        "in-a-class-style-workflow",
        "VRB308",
        "from runtime import workflow\n\n\n@workflow('order', max_events=100)\nclass Order:\n"
        "    async def run(self, ctx, order):\n        while order:  # !\n"
        "            order = order[1:]\n",
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, CODES)


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostic(check_files: CheckFiles) -> None:
    result = check_files({"w.py": wf("    while True:\n        order += 1\n", max_events=BREAKER)})
    [diag] = only(result, "VRB308")
    assert (diag.path, diag.line, diag.column, diag.end_line, diag.severity.value) == (
        "w.py",
        11,
        5,
        12,
        "warning",
    )
    assert diag.workflow == "order"
    assert diag.message == (
        "`while True` loop in workflow 'order' awaits nothing: its turns record no event, "
        "so if it does not end the run never finishes"
    )
    assert diag.hint == (
        "await a step or ctx.sleep(...) in the loop so each turn is recorded, or bound it "
        "(`for _ in range(limit):`); a long pure computation belongs in a step, where its "
        "timeout bounds it"
    )


def test_in_a_helper_the_diagnostic_shows_the_call_chain(check_files: CheckFiles) -> None:
    source = wf(
        "    return await count(order)\n",
        extra="async def count(n):\n    while n:\n        n -= 1\n    return n\n\n\n",
        max_events=BREAKER,
    )
    [diag] = only(check_files({"w.py": source}), "VRB308")
    assert (diag.line, diag.chain) == (10, ("order_flow", "count"))


def test_suppressed_on_its_line(check_files: CheckFiles) -> None:
    source = wf("    while order:  # vrb: ignore[VRB308]\n        order -= 1\n", max_events=BREAKER)
    assert only(check_files({"w.py": source}), "VRB308") == []
