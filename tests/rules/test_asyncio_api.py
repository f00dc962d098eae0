"""VRB108: asyncio used directly instead of the ctx API."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB108"

VALID = [
    Valid("ctx-sleep", wf("    await ctx.sleep('60s')\n")),
    Valid(
        "gather-map-generator",
        wf(
            "    return await asyncio.gather(*(charge(x) for x in order['items']))\n",
            "import asyncio\n",
        ),
    ),
    Valid(
        "gather-map-list",
        wf(
            "    return await aio.gather(*[charge(x) for x in order['items']])\n",
            "import asyncio as aio\n",
        ),
    ),
    Valid(
        "gather-map-from-import",
        wf(
            "    return await gather(*(charge(x) for x in order))\n", "from asyncio import gather\n"
        ),
    ),
    Valid(
        "cancelled-error",
        wf(
            "    try:\n        return await charge(order)\n    except asyncio.CancelledError:\n        raise\n",
            "import asyncio\n",
        ),
    ),
    Valid(
        "asyncio-in-a-step",
        'import asyncio\nfrom runtime import step\n\n\n@step("nap")\nasync def nap():\n    await asyncio.sleep(1)\n',
    ),
    Valid(
        "suppressed", wf("    await asyncio.sleep(1)  # vrb: ignore[VRB108]\n", "import asyncio\n")
    ),
]

INVALID = [
    Invalid("time-sleep", CODE, wf("    time.sleep(5)  # !\n", "import time\n")),
    Invalid("time-sleep-alias", CODE, wf("    nap(5)  # !\n", "from time import sleep as nap\n")),
    Invalid(
        "time-sleep-in-helper",
        CODE,
        wf(
            "    pause()\n",
            "import time\n",
            extra="def pause():\n    time.sleep(1)  # !\n\n\n",
        ),
    ),
    Invalid("sleep", CODE, wf("    await asyncio.sleep(1)  # !\n", "import asyncio\n")),
    Invalid(
        "sleep-alias", CODE, wf("    await nap(1)  # !\n", "from asyncio import sleep as nap\n")
    ),
    Invalid(
        "gather-of-calls",
        CODE,
        wf("    return await asyncio.gather(charge(1), charge(2))  # !\n", "import asyncio\n"),
    ),
    Invalid(
        "create-task", CODE, wf("    asyncio.create_task(charge(1))  # !\n", "import asyncio\n")
    ),
    Invalid(
        "wait-for",
        CODE,
        wf("    return await asyncio.wait_for(charge(1), 5)  # !\n", "import asyncio\n"),
    ),
    Invalid(
        "event-loop",
        CODE,
        wf("    return asyncio.get_running_loop().time()  # !\n", "import asyncio\n"),
    ),
    Invalid(
        "helper",
        CODE,
        wf(
            "    return await pause(order)\n",
            "import asyncio\n",
            extra="async def pause(o):\n    await asyncio.sleep(o['s'])  # !\n    return await charge(o)\n\n\n",
        ),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, [CODE])


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostic(check_files: CheckFiles) -> None:
    [diag] = only(
        check_files({"mod.py": wf("    await asyncio.sleep(1)\n", "import asyncio\n")}), CODE
    )
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 11, 12, 27)
    assert diag.message == (
        "asyncio.sleep() uses the event loop directly; timers and tasks outside the ctx API are not durable"
    )
    assert diag.hint.startswith("use await ctx.sleep(...) for timers")
    assert [
        d.code
        for d in check_files(
            {"mod.py": wf("    await asyncio.sleep(1)\n", "import asyncio\n")}
        ).diagnostics
    ] == [CODE]


def test_blocking_sleep_exact_diagnostic(check_files: CheckFiles) -> None:
    [diag] = check_files({"mod.py": wf("    time.sleep(5)\n", "import time\n")}).diagnostics
    assert (diag.code, diag.line, diag.column, diag.end_line, diag.end_column) == (
        CODE,
        12,
        5,
        12,
        18,
    )
    assert diag.message == (
        "time.sleep() blocks the worker, and a wait outside the ctx API is not durable"
    )
    assert diag.hint.startswith("use `await ctx.sleep(...)`")
