"""``vrb-compile build`` and ``graph``: artefacts, versions, determinism, exit statuses."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.lower_helpers import source_of
from vrb_compile.api import CheckConfig, check_paths
from vrb_compile.build import build_paths, compile_paths
from vrb_compile.cli import main
from vrb_compile.discover import discover
from vrb_compile.errors import UsageError
from vrb_compile.ir import load_graph
from vrb_compile.lower import Span, lower_workflow
from vrb_compile.source import SourceFile

FLOW = """
@workflow("order-flow", max_events=100)
async def order_flow(ctx: WorkflowContext, order: dict) -> dict:
    reserved = await r1(order)
    await b(reserved)
    return {"ok": True}


@workflow("other-flow")
async def other_flow(ctx: WorkflowContext) -> None:
    await a()
"""

CONFIG = CheckConfig(jobs=1)


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_build_writes_graphs_manifest_and_versions(tmp_path: Path) -> None:
    path = source_of(tmp_path, FLOW)
    out = tmp_path / "build"
    result = build_paths([path], out, CONFIG)
    assert result.check.errors == 0
    assert [b.name for b in result.built] == ["order-flow", "other-flow"]
    order = result.built[0]
    assert order.path == out / "order-flow.graph.json"
    assert order.version_path == out / "versions" / "order-flow" / f"{order.hash}.graph.json"
    assert order.new_version
    graph = load_graph(order.path)
    assert graph.hash == order.hash
    assert load_graph(order.version_path) == graph
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["compiler_version"]
    assert manifest["workflows"]["order-flow"] == {
        "file": "order-flow.graph.json",
        "hash": order.hash,
        "module": "flow",
        "qualname": "order_flow",
        "source": graph.source.path,
        "versions": [order.hash],
    }


def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    path = source_of(tmp_path, FLOW)
    first = build_paths([path], tmp_path / "one", CONFIG)
    second = build_paths([path], tmp_path / "two", CONFIG)
    again = build_paths([path], tmp_path / "one", CONFIG)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert [b.hash for b in first.built] == [b.hash for b in second.built]
    assert not any(b.new_version for b in again.built)


def test_every_version_is_kept_and_listed(tmp_path: Path) -> None:
    path = source_of(tmp_path, FLOW)
    out = tmp_path / "build"
    old = build_paths([path], out, CONFIG).built[0]
    source_of(tmp_path, FLOW.replace("await b(reserved)", "await b(reserved, 2)"))
    new = build_paths([path], out, CONFIG).built[0]
    assert new.hash != old.hash
    assert old.version_path.exists()
    assert new.version_path.exists()
    assert load_graph(out / "order-flow.graph.json").hash == new.hash
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["workflows"]["order-flow"]["hash"] == new.hash
    assert manifest["workflows"]["order-flow"]["versions"] == sorted([old.hash, new.hash])


def test_a_comment_edit_keeps_the_hash(tmp_path: Path) -> None:
    path = source_of(tmp_path, FLOW)
    out = tmp_path / "build"
    before = build_paths([path], out, CONFIG).built[0]
    source_of(
        tmp_path, FLOW.replace("    await b(reserved)\n", "    # then b\n    await b(reserved)\n")
    )
    after = build_paths([path], out, CONFIG).built[0]
    assert after.hash == before.hash
    assert not after.new_version
    assert sorted(p.name for p in (out / "versions" / "order-flow").iterdir()) == [
        f"{before.hash}.graph.json"
    ]


def test_a_stored_version_is_never_rewritten(tmp_path: Path) -> None:
    path = source_of(tmp_path, FLOW)
    out = tmp_path / "build"
    before = build_paths([path], out, CONFIG).built[0]
    stored = before.version_path.read_bytes()
    # Two lines more above the workflow, and a statement reformatted: same graph,
    # other lines and text.
    source_of(
        tmp_path,
        "\n\n" + FLOW.replace("reserved = await r1(order)", "reserved  =  await r1( order )"),
    )
    after = build_paths([path], out, CONFIG).built[0]
    assert after.hash == before.hash
    assert not after.new_version
    assert before.version_path.read_bytes() == stored
    newest = load_graph(out / "order-flow.graph.json")
    assert newest.hash == before.hash
    assert newest.nodes[1].line == load_graph(before.version_path).nodes[1].line + 2


@pytest.mark.parametrize(
    "name", ["wf\nflowchart LR\nX-->Y %%", "tab\there", "nul\x00", "ls\u2028x"]
)
def test_control_characters_in_a_workflow_name_are_refused_as_a_file_name(
    tmp_path: Path, name: str
) -> None:
    path = source_of(
        tmp_path,
        f"""
        @workflow({name!r})
        async def flow(ctx: WorkflowContext) -> None:
            await a()
        """,
    )
    with pytest.raises(
        UsageError, match="cannot be used as a file name: it holds the control"
    ) as info:
        build_paths([path], tmp_path / "build", CONFIG)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "build").exists()


def test_check_errors_stop_the_build(tmp_path: Path) -> None:
    path = source_of(
        tmp_path,
        """
        import time


        @workflow("clocky")
        async def clocky(ctx: WorkflowContext) -> float:
            started = time.time()
            await a(started)
            return started
        """,
    )
    out = tmp_path / "build"
    result = build_paths([path], out, CONFIG)
    assert result.check.errors >= 1
    assert "VRB101" in {d.code for d in result.check.diagnostics}
    assert result.built == ()
    assert not out.exists()


def test_cli_build_and_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = source_of(tmp_path, FLOW)
    out = tmp_path / "build"
    assert main(["build", str(path), "--out", str(out), "--no-config", "--no-cache"]) == 0
    stdout = capsys.readouterr().out
    assert "2 graph(s) written to" in stdout
    assert (out / "order-flow.graph.json").exists()

    target = tmp_path / "flow.mmd"
    args = ["graph", str(path), "--workflow", "order-flow", "--no-config", "--no-cache"]
    assert main([*args, "--format", "mermaid", "-o", str(target)]) == 0
    assert target.read_text().startswith("flowchart TD\n")
    for fmt, start in (("dot", 'digraph "order-flow"'), ("json", "{"), ("html", "<!doctype html>")):
        assert main([*args, "--format", fmt]) == 0
        assert capsys.readouterr().out.startswith(start)


def test_cli_graph_needs_a_workflow_name_when_there_are_several(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = source_of(tmp_path, FLOW)
    assert main(["graph", str(path), "--no-config", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "vrb-compile: error: 2 workflows found (order-flow, other-flow); "
        "choose one with --workflow NAME\n"
    )
    assert main(["graph", str(path), "--workflow", "nope", "--no-config", "--no-cache"]) == 2
    assert "no workflow named 'nope' (found: order-flow, other-flow)" in capsys.readouterr().err


def test_cli_build_reports_check_errors_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = source_of(
        tmp_path,
        """
        import random


        @workflow("dice")
        async def dice(ctx: WorkflowContext) -> None:
            await a(random.random())
        """,
    )
    out = tmp_path / "build"
    assert main(["build", str(path), "--out", str(out), "--no-config", "--no-cache"]) == 1
    captured = capsys.readouterr()
    assert "VRB102" in captured.err
    assert "nothing was compiled" in captured.err
    assert not out.exists()


def test_cli_build_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.py"
    assert main(["build", str(missing), "--out", str(tmp_path / "b"), "--no-config"]) == 2
    assert capsys.readouterr().err == f"vrb-compile: error: {missing}: no such file or directory\n"


@pytest.mark.parametrize(
    "entry", ['"x"', "5", '{"versions": 5}', '{"versions": [1]}', "null"], ids=str
)
def test_a_manifest_entry_no_build_wrote_stops_the_build_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    # Carried over (and signed, with a key) it would vouch for what no build wrote.
    module = source_of(tmp_path, FLOW)
    out = tmp_path / "b"
    out.mkdir()
    manifest = out / "manifest.json"
    manifest.write_text(f'{{"workflows": {{"order-flow": {entry}}}}}')
    assert main(["build", str(module), "--out", str(out), "--no-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the entry of workflow 'order-flow' is not one vrb-compile build writes" in err
    assert manifest.read_text() == f'{{"workflows": {{"order-flow": {entry}}}}}'


def test_building_one_file_of_a_package_finds_steps_in_sibling_modules(tmp_path: Path) -> None:
    # pre-commit hands over only the changed file; its steps live next to it.
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(
        "from runtime import step\n\n\n"
        "async def _charge(amount: float) -> dict:\n"
        "    return {'paid': amount}\n\n\n"
        "charge = step('charge', _charge, retries=2)\n"
    )
    flows = package / "flows.py"
    flows.write_text(
        "from runtime import WorkflowContext, workflow\n"
        "from .steps import charge as pay\n\n\n"
        "@workflow('checkout')\n"
        "async def checkout(ctx: WorkflowContext, total: float) -> dict:\n"
        "    return await pay(total)\n"
    )
    result = build_paths([flows], tmp_path / "out", CheckConfig(), cwd=tmp_path)
    assert result.check.errors == 0
    graph = load_graph(tmp_path / "out" / "checkout.graph.json")
    assert [(s.name, s.ref, s.retries) for s in graph.steps] == [("charge", "shop.steps:charge", 2)]


# --------------------------------------------------------------------------- check accepts => build lowers


def _wf(body: str, extra: str = "") -> str:
    return (
        f'{extra}\n\n@workflow("w", max_events=100)\n'
        "async def w(ctx: WorkflowContext, xs: list, f: bool) -> object:\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )


_ASYNC_H = "async def h(x):\n    return await a(x)\n"
_CLASS = """
@Workflow("k", max_events=5)
class K:
    @Step("k-own", retries=1)
    async def own(self, x):
        return x

    async def _helper(self, x):
        y = await self.own(x)
        return y * 2

    @staticmethod
    async def _static(x):
        return await a(x)

    def _sync(self, x):
        return x

    async def run(self, ctx, x):
        z = await self._helper(x)
        w = await self._static(z)
        return z + w + self._sync(1)
"""

#: Snippet -> what happens: "lowers" (the check has no error and the build lowers
#: it), or the code of the error the check reports.
CORPUS: dict[str, tuple[str, str]] = {
    "class-method-helpers": (_CLASS, "lowers"),
    "class-sync-method-awaited": (
        _CLASS.replace("return z + w + self._sync(1)", "return await self._sync(1)"),
        "VRB112",
    ),
    "class-recursive-method": (
        _CLASS.replace("y = await self.own(x)", "y = await self._helper(x)"),
        "VRB218",
    ),
    "gather-nested-for": (
        _wf("return await asyncio.gather(*(a(x, y) for x in xs for y in xs))"),
        "lowers",
    ),
    "gather-nested-ifs": (
        _wf("return await asyncio.gather(*(a(x, y) for x in xs if x for y in xs if y != x))"),
        "lowers",
    ),
    "gather-tuple-target": (
        _wf("return await asyncio.gather(*(a(k, v) for k, v in xs))"),
        "lowers",
    ),
    "gather-list": (_wf("return await asyncio.gather(*[a(x) for x in xs])"), "lowers"),
    "gather-helper": (_wf("return await asyncio.gather(*(h(x) for x in xs))", _ASYNC_H), "VRB217"),
    "gather-async-for": (_wf("return await asyncio.gather(*(a(x) async for x in xs))"), "VRB217"),
    "gather-not-a-step": (_wf("return await asyncio.gather(*(len(x) for x in xs))"), "VRB217"),
    "gather-awaited-items": (
        _wf("return await asyncio.gather(*(await a(x) for x in xs))"),
        "VRB205",
    ),
    "sleep-without-duration": (_wf("await ctx.sleep()"), "VRB216"),
    "sleep-keyword": (_wf("await ctx.sleep(duration=5)"), "lowers"),
    "signal-without-name": (_wf("return await ctx.wait_for_signal()"), "VRB216"),
    "signal-keywords": (_wf("return await ctx.wait_for_signal(name='s', timeout=5)"), "lowers"),
    "await-ctx-random": (_wf("await ctx.random()"), "VRB216"),
    "await-ctx-now": (_wf("return await ctx.now()"), "VRB216"),
    "await-ctx-uuid4": (_wf("return await ctx.uuid4()"), "VRB216"),
    "sleep-not-awaited": (_wf("ctx.sleep(5)\nreturn 1"), "VRB216"),
    "signal-not-awaited": (_wf("x = ctx.wait_for_signal('s')\nreturn x"), "VRB216"),
    "await-ctx-attribute": (_wf("return await ctx.run_id"), "VRB112"),
    "parallel-without-branches": (_wf("return await ctx.parallel()"), "VRB213"),
    "parallel-helper-branch": (
        _wf("return await ctx.parallel([lambda: h(1)])", _ASYNC_H),
        "VRB213",
    ),
    "sync-helper-awaited": (_wf("return await h(1)", "def h(x):\n    return a(x)\n"), "VRB112"),
    "recursive-helper": (
        _wf(
            "return await h(3)",
            "async def h(n):\n    if n:\n        return await h(n - 1)\n    return await a(n)\n",
        ),
        "VRB218",
    ),
    "mutually-recursive-helpers": (
        _wf(
            "return await h(3)",
            "async def h(n):\n    return await g(n)\n\n\nasync def g(n):\n    return await h(n)\n",
        ),
        "VRB218",
    ),
    "helper-ctx-renamed": (
        _wf(
            "return await h(ctx, 1)",
            "async def h(c, x):\n    await c.sleep(x)\n    return await a(x)\n",
        ),
        "lowers",
    ),
    "helper-ctx-sleep-without-duration": (
        _wf("return await h(ctx)", "async def h(c):\n    await c.sleep()\n"),
        "VRB216",
    ),
    "break-outside-loop": (_wf("break"), "VRB001"),
    "continue-in-if-outside-loop": (_wf("if f:\n    continue"), "VRB001"),
    "conditional-awaits": (_wf("x = await a(1) if f else await b(2)\nreturn x"), "lowers"),
    "conditional-one-await": (_wf("x = await a(1) if f else 0\nreturn x"), "lowers"),
    "conditional-return": (_wf("return await a(1) if f else await b(2)"), "lowers"),
    "conditional-statement": (_wf("await a(1) if f else await b(2)"), "lowers"),
    "conditional-nested": (
        _wf("return await a(1) if f else await b(2) if xs else await c(3)"),
        "lowers",
    ),
    "conditional-augmented": (_wf("t = 0\nt += await a(1) if f else 0\nreturn t"), "lowers"),
    "conditional-await-in-operand": (_wf("return (await a(1)) + 1 if f else 0"), "VRB208"),
    "and-or-await": (_wf("return f and await a(1)"), "VRB208"),
    "await-in-if-test": (_wf("if await a(1):\n    return 1\nreturn 2"), "VRB208"),
    "await-in-comprehension": (_wf("return {x: await a(x) for x in xs}"), "VRB205"),
    "parenthesised-await": (_wf("x = (await a(1))\nreturn x"), "lowers"),
    "await-targets": (
        _wf("d = {}\nd['k'] = p = await a(1)\ny: int = await b(p)\nreturn d, y"),
        "lowers",
    ),
    "break-in-finally": (
        _wf("for x in xs:\n    try:\n        await a(x)\n    finally:\n        break\nreturn 1"),
        "lowers",
    ),
    "continue-in-finally-after-return": (
        _wf(
            "for x in xs:\n    try:\n        return await a(x)\n    finally:\n        continue\nreturn 0"
        ),
        "lowers",
    ),
    "break-in-nested-finally": (
        _wf(
            "for x in xs:\n    try:\n        try:\n            await a(x)\n        finally:\n            break\n    finally:\n        await b(x)\nreturn 1"
        ),
        "lowers",
    ),
    "return-in-finally": (_wf("try:\n    await a(1)\nfinally:\n    return 5"), "lowers"),
    "try-without-raisers": (
        _wf("try:\n    pass\nexcept ValueError:\n    return 1\nreturn 2"),
        "lowers",
    ),
    "with": (_wf("with open('x'):\n    pass"), "VRB201"),
    "match": (_wf("match f:\n    case True:\n        return 1"), "VRB209"),
    "except-star": (_wf("try:\n    await a(1)\nexcept* ValueError:\n    pass"), "VRB211"),
    "global": (_wf("global G\nG = 1", "G = 0\n"), "VRB110"),
    "always-raises": (_wf("raise ValueError(xs)"), "lowers"),
    "helper-always-raises": (
        _wf("x = await h(1)\nreturn await h(x)", "async def h(x):\n    raise ValueError(x)\n"),
        "lowers",
    ),
    "del-and-assert": (_wf("y = 1\ndel y\nassert xs, 'empty'\nreturn await a(xs)"), "lowers"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_whatever_the_check_accepts_the_build_lowers(tmp_path: Path, name: str) -> None:
    source, expected = CORPUS[name]
    path = source_of(tmp_path, source)
    compiled = compile_paths([path], CONFIG, cwd=tmp_path)
    errors = {d.code for d in compiled.check.diagnostics if d.severity.value == "error"}
    if expected == "lowers":
        assert not errors, compiled.check.diagnostics
        assert len(compiled.graphs) == 1
    else:
        assert expected in errors, compiled.check.diagnostics
        assert compiled.graphs == ()


# --------------------------------------------------------------------------- unreachable code (VRB306)

#: Bodies whose dead code starts on the lines marked ``# dead``: the check
#: reports exactly those (from the source), and the lowering leaves exactly those
#: out of the graph.
DEAD = {
    "after-return-in-both-branches": "if f:\n    return 1\nelse:\n    return 2\nawait a(3)  # dead\nx = 1",
    "after-elif-chain": "if f:\n    return 1\nelif xs:\n    raise ValueError\nelse:\n    return 3\nx = 1  # dead",
    "if-without-else": "if f:\n    return 1\nawait a(3)\nreturn 2",
    "after-try-return-finally": "try:\n    return 1\nfinally:\n    await a(0)\nawait a(3)  # dead",
    "try-else-after-return": "try:\n    return await a(1)\nexcept ValueError:\n    pass\nelse:  # dead\n    await b(2)\nreturn 3",
    "after-handlers-that-return": "try:\n    await a(1)\nexcept ValueError:\n    return 1\nexcept Exception:\n    raise\nreturn 3",
    "after-handled-body-returning": "try:\n    return await a(1)\nexcept ValueError:\n    return 2\nawait b()  # dead",
    "finally-that-returns": "try:\n    await a(1)\nfinally:\n    return 2\nawait b()  # dead",
    "continue-or-break": "for i in xs:\n    if f:\n        continue\n    else:\n        break\n    await a(i)  # dead\nreturn 3",
    "same-line": "x = 1; return x; y = 2  # dead",
    "nested-dead-reported-once": "return 1\nif f:  # dead\n    return 2\n    await a()",
    "for-else-returning": "for x in xs:\n    await a(x)\nelse:\n    return 1\nreturn 2  # dead",
    "for-else-with-break": "for x in xs:\n    if x:\n        break\nelse:\n    return 1\nreturn 2",
    "while-else-returning": "while f:\n    f = await a(f)\nelse:\n    return 1\nawait b()  # dead",
    "dead-in-finally-copy": "try:\n    await a(1)\nfinally:\n    return 2\n    x = 3  # dead",
    "dead-in-helper": (
        "return await h(1)",
        "async def h(x):\n    raise ValueError(x)\n    await a(x)  # dead\n",
    ),
}


def _marked(source: str) -> set[int]:
    return {n for n, line in enumerate(source.splitlines(), 1) if line.endswith("# dead")}


@pytest.mark.parametrize("name", sorted(DEAD))
def test_unreachable_code_is_reported_where_the_graph_leaves_it_out(
    tmp_path: Path, name: str
) -> None:
    body, extra = (DEAD[name], "") if isinstance(DEAD[name], str) else DEAD[name]
    path = source_of(tmp_path, _wf(body, extra))
    expected = _marked(path.read_text())
    check = check_paths([path], CONFIG, cwd=tmp_path)
    assert {d.line for d in check.diagnostics if d.code == "VRB306"} == expected
    assert check.errors == 0
    source = SourceFile.from_path(path, cwd=tmp_path)
    index = discover([source])
    unreachable: list[Span] = []
    lower_workflow(index.workflows[0], index, unreachable=unreachable)
    assert {span.line for span in unreachable} == expected


def test_code_after_while_true_without_break_is_reported_but_kept(tmp_path: Path) -> None:
    # Python never leaves the loop; the graph's loop node keeps its exit edge.
    path = source_of(tmp_path, _wf("while True:\n    await a(1)\nawait a(3)\nreturn 3"))
    check = check_paths([path], CONFIG, cwd=tmp_path)
    (dead,) = [d for d in check.diagnostics if d.code == "VRB306"]
    assert (dead.line, dead.column) == (
        path.read_text().splitlines().index("    await a(3)") + 1,
        5,
    )
    assert dead.message == "this code can never run: the `while True` loop before it has no `break`"
    assert "VRB305" not in {d.code for d in check.diagnostics}  # max_events is set
    with_break = _wf("while True:\n    r = await a(1)\n    if r:\n        break\nawait a(3)")
    assert not check_paths([source_of(tmp_path, with_break)], CONFIG, cwd=tmp_path).diagnostics


def test_while_true_without_max_events_is_an_unbounded_loop(tmp_path: Path) -> None:
    path = source_of(
        tmp_path,
        """
        @workflow("forever")
        async def forever(ctx: WorkflowContext) -> None:
            while True:
                await ctx.sleep("1m")
        """,
    )
    (found,) = check_paths([path], CONFIG, cwd=tmp_path).diagnostics
    assert (found.code, found.severity.value) == ("VRB305", "warning")
    assert "no max_events circuit breaker" in found.message


HELPER_RAISES = """
async def refuse(reason):
    raise ValueError(reason)


@workflow("refusing", max_events=10)
async def refusing(ctx: WorkflowContext, n: int) -> int:
    if n:
        await refuse("no")
        await a(n)
    return n
"""


def test_build_reports_code_only_the_graph_knows_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The helper always raises: the step after its call is not in the graph. The
    # check cannot see that from the source; build and graph report it.
    path = source_of(tmp_path, HELPER_RAISES)
    line = path.read_text().splitlines().index("        await a(n)") + 1
    assert not check_paths([path], CONFIG, cwd=tmp_path).diagnostics
    result = build_paths([path], tmp_path / "build", CONFIG)
    (dead,) = result.check.diagnostics
    assert (dead.code, dead.line, dead.column, dead.workflow) == ("VRB306", line, 9, "refusing")
    assert dead.message == "this code can never run: no path of the step graph reaches it"
    assert result.check.warnings == 1
    assert result.built
    assert (
        main(["build", str(path), "--out", str(tmp_path / "b2"), "--no-config", "--no-cache"]) == 0
    )
    err = capsys.readouterr().err
    assert f"flow.py:{line}:9: VRB306 warning: this code can never run" in err
    # Suppressed like any finding.
    source_of(
        tmp_path,
        HELPER_RAISES.replace("        await a(n)", "        await a(n)  # vrb: ignore[VRB306]"),
    )
    assert not build_paths([path], tmp_path / "build", CONFIG).check.diagnostics
    ignored = CheckConfig(jobs=1, ignore=("VRB306",))
    source_of(tmp_path, HELPER_RAISES)
    assert not build_paths([path], tmp_path / "build", ignored).check.diagnostics


def test_check_and_build_report_unreachable_code_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = source_of(tmp_path, _wf(DEAD["after-return-in-both-branches"]))
    line = path.read_text().splitlines().index("    await a(3)  # dead") + 1
    assert main(["check", str(path), "--no-config", "--no-cache"]) == 0
    assert f"flow.py:{line}:5: VRB306 warning" in capsys.readouterr().out
    assert (
        main(["build", str(path), "--out", str(tmp_path / "b"), "--no-config", "--no-cache"]) == 0
    )
    err = capsys.readouterr().err
    assert err.count("VRB306") == 1
    assert f"flow.py:{line}:5: VRB306 warning: this code can never run: every way through" in err
