"""``vrb-compile build`` and ``graph``: artefacts, versions, determinism, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lower_helpers import source_of
from vrb_compile.api import CheckConfig
from vrb_compile.build import build_paths
from vrb_compile.cli import main
from vrb_compile.errors import UsageError
from vrb_compile.ir import load_graph

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
