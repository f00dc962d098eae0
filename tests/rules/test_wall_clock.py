"""VRB101 through aliases, helpers (with chains), modules, styles and suppressions."""

from __future__ import annotations

from tests.conftest import CheckFiles

HEAD = 'from runtime import step, workflow\n\n\n@step("charge")\nasync def charge(x):\n    return x\n\n\n'


def _only(result, code="VRB101"):  # type: ignore[no-untyped-def]
    return [d for d in result.diagnostics if d.code == code]


def test_aliased_import_is_resolved_with_exact_range(check_files: CheckFiles) -> None:
    src = (
        "from time import time as now\n"
        + HEAD
        + '@workflow("w")\nasync def flow(ctx):\n    return now()\n'
    )
    [diag] = _only(check_files({"flows.py": src}))
    assert (diag.path, diag.line, diag.column, diag.end_line, diag.end_column) == (
        "flows.py",
        12,
        12,
        12,
        17,
    )
    assert diag.message == "time.time() reads the clock; a replay would see a different value"
    assert diag.hint.startswith("use ctx.now()")
    assert diag.workflow == "w"
    assert diag.chain == ()


def test_conditional_import_flags_if_any_candidate_reads_the_clock(check_files: CheckFiles) -> None:
    src = (
        "try:\n    from time import monotonic as clock\nexcept ImportError:\n    from mylib import clock\n"
        + HEAD
        + '@workflow("w")\nasync def flow(ctx):\n    return clock()\n'
    )
    assert [d.message for d in _only(check_files({"flows.py": src}))] == [
        "time.monotonic() reads the clock; a replay would see a different value"
    ]


def test_local_value_alias_is_followed(check_files: CheckFiles) -> None:
    src = (
        "import datetime as dt\n"
        + HEAD
        + '@workflow("w")\nasync def flow(ctx):\n    clock = dt.datetime.now\n    return clock()\n'
    )
    [diag] = _only(check_files({"flows.py": src}))
    assert diag.line == 13
    assert "datetime.datetime.now()" in diag.message


def test_helper_chain_is_reported_inside_the_helper(check_files: CheckFiles) -> None:
    src = (
        "import time\n"
        + HEAD
        + "def stamp():\n    return time.time()\n\n\n"
        + "def compute_total(order):\n    return stamp() + compute_total(order)\n\n\n"
        + '@workflow("w")\nasync def flow(ctx, order):\n    return compute_total(order)\n'
    )
    [diag] = _only(check_files({"flows.py": src}))
    assert diag.line == 11
    assert diag.chain == ("flow", "compute_total", "stamp")
    # The chain is data, rendered once by each format, not baked into the message.
    assert "via" not in diag.message


def test_steps_and_helpers_across_modules(check_files: CheckFiles) -> None:
    files = {
        "shop/__init__.py": "",
        "shop/steps.py": 'import time\nfrom runtime import step\n\n\n@step("reserve")\nasync def reserve(o):\n    return time.time()\n',
        "shop/pricing.py": "import random\n\n\ndef jitter():\n    return random.random()\n",
        "shop/flows.py": (
            "from runtime import workflow\nfrom shop import steps\nfrom .pricing import jitter\n\n\n"
            '@workflow("w")\nasync def flow(ctx, o):\n    await steps.reserve(o)\n    return jitter()\n'
        ),
    }
    result = check_files(files)
    assert [(d.code, d.path, d.line, d.chain) for d in result.diagnostics] == [
        ("VRB102", "shop/pricing.py", 5, ("flow", "jitter"))
    ]


def test_class_style_steps_and_helpers(check_files: CheckFiles) -> None:
    src = (
        'import time\nfrom runtime import Step, Workflow\n\n\n@Workflow("cls")\nclass Flow:\n'
        '    @Step("charge")\n    async def charge(self, x):\n        return time.time()\n\n'
        "    def helper(self):\n        return time.time()\n\n"
        "    async def run(self, ctx, x):\n        await self.charge(x)\n        return self.helper()\n"
    )
    assert [(d.code, d.line, d.chain) for d in check_files({"flows.py": src}).diagnostics] == [
        ("VRB101", 12, ("run", "helper"))
    ]


def test_functional_style_with_body_defined_after(check_files: CheckFiles) -> None:
    src = (
        "import time\nfrom runtime import step, workflow\n\nwf = workflow('w')\n"
        "async def _charge(x):\n    return time.time()\n\ncharge = step('charge', _charge)\n\n"
        "async def flow(ctx, x):\n    await charge(x)\n    return time.time()\n\nwf.run(flow)\n"
    )
    assert [(d.code, d.line) for d in check_files({"flows.py": src}).diagnostics] == [
        ("VRB101", 12)
    ]


def test_suppressions(check_files: CheckFiles) -> None:
    src = (
        "import time\n" + HEAD + '@workflow("w")\nasync def flow(ctx):\n'
        "    a = time.time()  # vrb: ignore[VRB101]\n"
        "    b = time.time()  # vrb: ignore[VRB105]\n"
        "    c = (  # vrb: ignore[VRB101, VRB999]\n        time.time()\n    )\n"
        "    d = time.time()  # vrb: ignore\n"
        '    e = "# vrb: ignore[VRB101]" + str(time.time())\n'
        "    return a, b, c, d, e\n"
    )
    found = [(d.code, d.line) for d in check_files({"flows.py": src}).diagnostics]
    assert found == [("VRB101", 13), ("VRB003", 14), ("VRB002", 17), ("VRB101", 18)]


def test_step_bodies_are_not_restricted(check_files: CheckFiles) -> None:
    src = (
        "import time, os\n"
        + 'from runtime import step\n\n\n@step("s")\nasync def s():\n    return time.time(), os.environ["X"], open("f")\n'
    )
    assert check_files({"steps.py": src}).diagnostics == ()


def test_local_alias_rebound_later_is_still_checked(check_files: CheckFiles) -> None:
    # aliases follow statement order: `clock()` on line 13 reads the clock, on line 15
    # it is ctx.now (a flow-insensitive view missed the first or flagged the second)
    src = (
        "import time\n"
        + HEAD
        + '@workflow("w")\nasync def flow(ctx):\n'
        + "    clock = time.time\n    a = clock()\n    clock = ctx.now\n    b = clock()\n"
        + "    stamp = time.monotonic\n    c = stamp()\n    stamp = None\n    return a, b, c\n"
    )
    assert [(d.code, d.line) for d in _only(check_files({"flows.py": src}))] == [
        ("VRB101", 13),
        ("VRB101", 17),
    ]
    ctx_only = HEAD + '@workflow("w")\nasync def flow(ctx):\n    now = ctx.now\n    return now()\n'
    assert _only(check_files({"flows.py": ctx_only})) == []


def test_alias_bound_in_a_branch_or_later_in_a_loop_is_a_candidate(check_files: CheckFiles) -> None:
    src = (
        "import time\n"
        + HEAD
        + '@workflow("w")\nasync def flow(ctx, order):\n'
        + "    clock = ctx.now\n    if order:\n        clock = time.time\n    a = clock()\n"
        + "    tick = ctx.now\n    for x in order:\n        b = tick()\n        tick = time.perf_counter\n"
        + "    return a, b\n"
    )
    assert [(d.code, d.line) for d in _only(check_files({"flows.py": src}))] == [
        ("VRB101", 15),
        ("VRB101", 18),
    ]


def test_getattr_with_a_literal_name_is_the_attribute(check_files: CheckFiles) -> None:
    src = "import time\n" + HEAD + '@workflow("w")\nasync def flow(ctx):\n'
    src += '    return getattr(time, "time")()\n'
    [diag] = check_files({"flows.py": src}).diagnostics
    assert (diag.code, diag.line, diag.column, diag.end_column) == ("VRB101", 12, 12, 35)
    assert diag.message == "time.time() reads the clock; a replay would see a different value"


def test_helper_passed_as_a_value_is_reported_with_its_chain(check_files: CheckFiles) -> None:
    src = (
        "import time\n"
        + HEAD
        + "def keyf(x):\n    return time.time()\n\n\n"
        + '@workflow("w")\nasync def flow(ctx, order):\n    return sorted(order, key=keyf)\n'
    )
    [diag] = check_files({"flows.py": src}).diagnostics
    assert (diag.code, diag.line, diag.chain) == ("VRB101", 11, ("flow", "keyf"))


def test_helper_shared_by_workflows_is_reported_once_whatever_the_order(
    check_files: CheckFiles,
) -> None:
    helper = "def stamp():\n    return time.time()\n\n\n"
    first = '@workflow("a")\nasync def a(ctx):\n    return stamp()\n\n\n'
    second = '@workflow("b")\nasync def b(ctx):\n    return 1 + stamp()\n\n\n'
    found = []
    for order in ((first, second), (second, first)):
        src = "import time\n" + HEAD + helper + "".join(order)
        found.append([(d.code, d.line) for d in check_files({"flows.py": src}).diagnostics])
    assert found == [[("VRB101", 11)], [("VRB101", 11)]]
