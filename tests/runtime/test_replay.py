"""Replay: restarts, takeovers, deterministic values, divergence, graph version pinning."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from pathlib import Path

import pytest

from runtime import Client, ConfigurationError, Worker, WorkflowFailed
from runtime.events import ErrorInfo
from runtime.graphs import GraphLibrary
from runtime.replayed_errors import RecordedError, rebuild_error
from vrb_compile.build import build_paths
from vrb_compile.ir.models import Graph, compute_hash

from . import flows
from .conftest import FAST, library, run, serving, types
from .test_waits import wait_status


def test_replay_after_a_restart_runs_no_completed_step_again(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sleep", [0.3])
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
        assert flows.CALLS == [("add", 1)]
        async with serving(client) as second:
            assert await client.workflow.result(handle.run_id, timeout=10) == "rested"
        assert second.outcomes == [(handle.run_id, "completed")]
        history = await client.workflow.history(handle.run_id)
        assert types(history).count("run_started") == 1

    run(scenario, store_url)
    assert flows.CALLS == [("add", 1), ("add", 2)]


def test_a_run_whose_worker_died_mid_step_is_taken_over(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-block", [0.3])
        first = Worker(client, library(), **{**FAST, "lease_timeout": 1.0})
        task = asyncio.create_task(first.start("t-block"))
        async with asyncio.timeout(10):
            while ("block", 0.3) not in flows.CALLS:
                await asyncio.sleep(0.01)
        # Kill the worker abruptly: its runs stop without writing anything.
        for running in list(first._active.values()):
            running.cancel()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert (await client.workflow.get_run(handle.run_id)).status == "running"
        async with serving(client, lease_timeout=0.3):
            assert await client.workflow.result(handle.run_id, timeout=10) == "unblocked"
        record = await client.store.get_run(handle.run_id)
        assert record.recoveries == 1
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n2") == ["step_started", "step_started", "step_completed"]

    run(scenario, store_url)
    assert flows.CALLS == [("add", 1), ("block", 0.3), ("block", 0.3)]


def test_now_random_and_uuid_are_identical_on_replay(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-deterministic")
        async with serving(client):
            result = await client.workflow.result(handle.run_id, timeout=10)
        history = await client.workflow.history(handle.run_id)
        assert result[2] == history[0].at.isoformat()
        assert 0 <= result[0] < 1
        assert len(result[1]) == 36

    run(scenario, store_url)
    # The live walk passed these to the step; the replay after the sleep returned the same.
    assert [("echo", run_values := flows.CALLS[0][1])] == flows.CALLS
    assert isinstance(run_values, list)


def test_now_through_an_alias_is_the_same_live_and_on_replay(store_url: str) -> None:
    async def scenario(client: Client) -> tuple[str, str]:
        handle = await client.workflow.trigger("t-now-alias")
        async with serving(client):
            # The sleep gives the run back: the result comes from a replay of the walk.
            result = await client.workflow.result(handle.run_id, timeout=10)
        history = await client.workflow.history(handle.run_id)
        completed = next(e for e in history if e.type == "step_completed")
        return result, completed.at.isoformat()

    result, step_time = run(scenario, store_url)
    # What the step got live is what the run returned after its replay: the time of
    # the step result the walk had passed, as the log holds it.
    assert [("add", 1), ("note", result)] == flows.CALLS
    assert result == step_time


def test_a_step_failure_replays_with_its_own_exception_type_args_and_fields(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-error-types", ["R01"])
        async with serving(client) as worker:
            result = await client.workflow.result(handle.run_id, timeout=10)
        assert [o for r, o in worker.outcomes if r == handle.run_id] == ["waiting", "completed"]
        expected = ["declined R01: card declined (R01)", "True 'sku' ('sku',)"]
        assert result == {"live": expected, "replayed": expected}
        history = await client.workflow.history(handle.run_id)
        failed = [event.payload for event in history if event.type == "step_failed"]
        assert failed[0].error.model_dump() == {
            "type": "CardDeclined",
            "message": "card declined (R01)",
            "module": flows.__name__,
            "qualname": "CardDeclined",
            "args": ["card declined (R01)"],
            "attrs": {"code": "R01"},
        }

    run(scenario, store_url)
    # Replay took the step failures from the log: no step ran twice.
    assert flows.CALLS.count(("decline", "R01")) == flows.CALLS.count(("lookup", "sku")) == 1


def test_a_failed_run_reports_its_error_as_type_and_message_only(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-nonretryable")
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        expected = {
            "type": "StepFailed",
            "message": "step 't-fatal' failed: NonRetryableError: card declined",
        }
        assert caught.value.error == expected
        assert (await client.workflow.get_run(handle.run_id)).error == expected
        history = await client.workflow.history(handle.run_id)
        assert history[-1].payload.model_dump() == {"error": expected}

    run(scenario, store_url)


class _Local(Exception):
    pass


def test_a_recorded_error_whose_class_cannot_be_found_is_rebuilt_by_name() -> None:
    class Hidden(Exception):  # in a function: its qualname cannot be looked up
        pass

    for error in (Hidden("gone"), _Local(object())):
        rebuilt = rebuild_error(ErrorInfo.from_exception(error))
        assert isinstance(rebuilt, RecordedError)
        assert (type(rebuilt).__name__, str(rebuilt)) == (type(error).__name__, str(error))
    # A module named in the log is looked up among imported ones, never imported.
    info = ErrorInfo.from_exception(_Local("x")).model_copy(update={"module": "not_imported_mod"})
    assert isinstance(rebuild_error(info), RecordedError)
    assert "not_imported_mod" not in sys.modules
    # A log written before classes were recorded: builtins by name, others by type name.
    assert type(rebuild_error(ErrorInfo(type="KeyError", message="k"))) is KeyError
    old = rebuild_error(ErrorInfo(type="CardDeclined", message="card declined (R01)"))
    assert isinstance(old, RecordedError)


def test_a_rebuilt_error_does_not_call_init_and_keeps_json_attributes() -> None:
    error = flows.CardDeclined("R02")
    error.add_note("seen by the test")
    error.response = object()  # type: ignore[attr-defined]
    rebuilt = rebuild_error(ErrorInfo.from_exception(error))
    assert type(rebuilt) is flows.CardDeclined
    assert (rebuilt.args, str(rebuilt)) == (("card declined (R02)",), "card declined (R02)")
    assert vars(rebuilt) == {"code": "R02", "__notes__": ["seen by the test"]}
    os_error = rebuild_error(ErrorInfo.from_exception(FileNotFoundError(2, "No such file")))
    assert type(os_error) is FileNotFoundError
    assert (os_error.errno, str(os_error)) == (2, "[Errno 2] No such file")


def test_divergence_from_the_history_parks_the_run(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-diverge")
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
        before = await client.workflow.history(handle.run_id)
        flows.BRANCH_FLAG = False  # the module changed under the running run
        async with serving(client, park_interval=3600) as second:
            async with asyncio.timeout(10):
                while not second.outcomes:
                    await asyncio.sleep(0.02)
        assert second.outcomes == [(handle.run_id, "parked")]
        assert await client.workflow.history(handle.run_id) == before
        info = await client.workflow.get_run(handle.run_id)
        assert info.status == "waiting"

    with caplog.at_level(logging.ERROR, logger="runtime.worker"):
        run(scenario, store_url)
    assert any(
        "diverged from its history at n3: the graph expects step 't-echo' at n3, "
        "the history recorded step 't-add' at n2" in record.getMessage()
        for record in caplog.records
    )
    assert flows.CALLS == [("add", 1)]


VERSION_1 = """
from runtime import WorkflowContext, step, workflow

CALLS = []

@step("v-one")
async def one(x: int) -> int:
    CALLS.append("one")
    return x + 1

@step("v-two")
async def two(x: int) -> int:
    CALLS.append("two")
    return x * 10

@workflow("t-versioned")
async def versioned(ctx: WorkflowContext, x: int) -> int:
    y = await one(x)
    await ctx.sleep(0.3)
    return y
"""

VERSION_2 = VERSION_1.replace("    return y\n", "    z = await two(y)\n    return z\n")


def test_runs_finish_on_the_graph_version_they_started_on(tmp_path: Path, store_url: str) -> None:
    package = tmp_path / "src"
    package.mkdir()
    module_path = package / "versioned_flows.py"
    module_path.write_text(VERSION_1)
    sys.path.insert(0, str(package))
    try:
        module = importlib.import_module("versioned_flows")
        graphs = tmp_path / "graphs"
        assert build_paths([module_path], graphs, cwd=package).built

        async def scenario(client: Client) -> None:
            nonlocal module
            old = await client.workflow.trigger("t-versioned", [1])
            first = Worker(client, str(graphs), **FAST)
            task = asyncio.create_task(first.start("t-versioned"))
            await wait_status(client, old.run_id, "waiting")
            await first.stop()
            await task
            old_hash = (await client.workflow.get_run(old.run_id)).graph_hash

            module_path.write_text(VERSION_2)
            module = importlib.reload(module)
            built = build_paths([module_path], graphs, cwd=package).built
            assert built[0].hash != old_hash
            assert (graphs / "versions" / "t-versioned" / f"{old_hash}.graph.json").exists()

            new = await client.workflow.trigger("t-versioned", [2])
            second = Worker(client, str(graphs), **FAST)
            task = asyncio.create_task(second.start("t-versioned"))
            assert await client.workflow.result(old.run_id, timeout=10) == 2
            assert await client.workflow.result(new.run_id, timeout=10) == 30
            await second.stop()
            await task
            assert (await client.workflow.get_run(new.run_id)).graph_hash == built[0].hash
            assert (await client.workflow.get_run(old.run_id)).graph_hash == old_hash

        run(scenario, store_url)
        # Since the reload: the new run's two steps; the old run ran no step of version 2.
        assert module.CALLS == ["one", "two"]
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("versioned_flows", None)


def test_a_worker_lacking_the_run_version_leaves_it_alone(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sleep", [0.2])
        async with serving(client):
            await wait_status(client, handle.run_id, "waiting")
        pinned = (await client.workflow.get_run(handle.run_id)).graph_hash
        assert pinned is not None
        other = GraphLibrary()
        graph = library().latest("t-sleep")
        other.add(graph.model_copy(update={"hash": "0" * 64}))
        worker = Worker(client, other, **FAST)
        task = asyncio.create_task(worker.start("t-sleep"))
        async with asyncio.timeout(10):
            while not worker.outcomes:
                await asyncio.sleep(0.02)
        await worker.stop()
        await task
        assert worker.outcomes[0] == (handle.run_id, "declined")
        assert types(await client.workflow.history(handle.run_id))[-1] == "wait_created"

    with caplog.at_level(logging.WARNING, logger="runtime.worker"):
        run(scenario, store_url)
    assert any("which this worker does not have" in r.getMessage() for r in caplog.records)


def test_graph_built_from_other_source_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "src"
    package.mkdir()
    module_path = package / "stale_flows.py"
    module_path.write_text(VERSION_1.replace("t-versioned", "t-stale").replace('"v-', '"s-'))
    graphs = tmp_path / "graphs"
    assert build_paths([module_path], graphs, cwd=package).built
    module_path.write_text(module_path.read_text() + "\n# edited after the build\n")
    sys.path.insert(0, str(package))
    try:
        importlib.import_module("stale_flows")
        with pytest.raises(
            ConfigurationError,
            match=r"graph of workflow 't-stale' was built from a different stale_flows.py .*rebuild the graphs with vrb-compile build",
        ):
            GraphLibrary(graphs).load(["t-stale"])
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("stale_flows", None)


def test_corrupt_graph_file_or_missing_manifest_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"graph directory .*nowhere: No such file"):
        GraphLibrary(tmp_path / "nowhere").load(["t-sleep"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match=r"manifest.json: cannot be read"):
        GraphLibrary(tmp_path / "empty").load(["t-sleep"])
    package = tmp_path / "src"
    package.mkdir()
    module_path = package / "corrupt_flows.py"
    module_path.write_text(VERSION_1.replace("t-versioned", "t-corrupt").replace('"v-', '"k-'))
    graphs = tmp_path / "graphs"
    built = build_paths([module_path], graphs, cwd=package).built
    built[0].path.write_text('{"schema_version": 1, "nodes": []}')
    sys.path.insert(0, str(package))
    try:
        importlib.import_module("corrupt_flows")
        with pytest.raises(
            ConfigurationError, match=r"t-corrupt.graph.json.*not a valid step graph"
        ) as caught:
            GraphLibrary(graphs).load(["t-corrupt"])
        assert "\n" not in str(caught.value)
        with pytest.raises(ConfigurationError, match=r"workflow 'other' is not in .*manifest.json"):
            GraphLibrary(graphs).load(["other"])
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("corrupt_flows", None)


TWO_FLOWS = """
from runtime import WorkflowContext, step, workflow


@step("t-own-add")
async def add(x: int) -> int:
    return x + 1


@workflow("t-own-a")
async def own_a(ctx: WorkflowContext, x: int) -> int:
    return await add(x)


@workflow("t-own-b")
async def own_b(ctx: WorkflowContext, x: int) -> int:
    a = 1; b = 2  # noqa: E702 - statements sharing a line are matched too
    if x: a = 3  # noqa: E701
    y = x * 20
    return await add(a + b + y)
"""


def _built(tmp_path: Path, module: str) -> Path:
    package = tmp_path / "src"
    package.mkdir()
    # Names register once per process: each module gets its own.
    (package / f"{module}.py").write_text(
        TWO_FLOWS.replace("t-own-", f"t-{module.removesuffix('_flows')}-")
    )
    graphs = tmp_path / "graphs"
    assert build_paths([package / f"{module}.py"], graphs, cwd=package).built
    sys.path.insert(0, str(package))
    importlib.import_module(module)
    return graphs


def _refused(graphs: Path, name: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as caught:
        GraphLibrary(graphs).load([name])
    assert "\n" not in str(caught.value)
    assert str(caught.value).endswith("rebuild the graphs with vrb-compile build")


def test_a_graph_file_filed_under_another_workflow_or_version_is_refused(tmp_path: Path) -> None:
    graphs = _built(tmp_path, "own_flows")
    try:
        assert GraphLibrary(graphs).load(["t-own-a", "t-own-b"]) == ["t-own-a", "t-own-b"]
        a_file, b_file = graphs / "t-own-a.graph.json", graphs / "t-own-b.graph.json"
        a_text, b_text = a_file.read_text(), b_file.read_text()
        manifest = graphs / "manifest.json"
        manifest_text = manifest.read_text()
        b_hash = json.loads(manifest_text)["workflows"]["t-own-b"]["hash"]
        a_hash = json.loads(manifest_text)["workflows"]["t-own-a"]["hash"]

        # Another workflow's graph copied over this one's: it would run a's body as b.
        b_file.write_text(a_text)
        (graphs / "versions" / "t-own-b" / f"{b_hash}.graph.json").unlink()
        _refused(
            graphs,
            "t-own-b",
            r"t-own-b.graph.json: holds the graph of workflow 't-own-a', not of 't-own-b'",
        )
        b_file.write_text(b_text)

        # The manifest names another version than the file holds.
        manifest.write_text(manifest_text.replace(b_hash, "0" * 64))
        _refused(
            graphs,
            "t-own-b",
            r"t-own-b.graph.json: holds graph version \w{12}\.\.\. but .*manifest.json names "
            r"000000000000\.\.\. for 't-own-b'",
        )
        manifest.write_text(manifest_text)

        # A version file whose name is not its hash, or one of another workflow.
        versions = graphs / "versions" / "t-own-b"
        renamed = versions / f"{'1' * 64}.graph.json"
        renamed.write_text(b_text)
        _refused(graphs, "t-own-b", r"holds graph version .* but its file name says 111111111111")
        renamed.unlink()
        (versions / f"{a_hash}.graph.json").write_text(a_text)
        _refused(graphs, "t-own-b", r"holds the graph of workflow 't-own-a', not of 't-own-b'")
    finally:
        sys.path.remove(str(tmp_path / "src"))
        sys.modules.pop("own_flows", None)


def test_a_code_node_edited_and_rehashed_is_refused(tmp_path: Path) -> None:
    graphs = _built(tmp_path, "code_flows")
    try:
        # Statements sharing a line or following a one-line `if x:` load as they are.
        assert GraphLibrary(graphs).load(["t-code-b"]) == ["t-code-b"]
        # A graph edited by hand (and rehashed) to "y = x * 2": a substring of the line.
        path = graphs / "t-code-b.graph.json"
        data = json.loads(path.read_text())
        (node,) = [n for n in data["nodes"] if n["kind"] == "code" and "x * 20" in n["code"]]
        node["code"] = node["code"].replace("x * 20", "x * 2")
        data["hash"] = compute_hash(Graph.model_validate(data))
        path.write_text(json.dumps(data))
        manifest = json.loads((graphs / "manifest.json").read_text())
        manifest["workflows"]["t-code-b"]["hash"] = data["hash"]
        (graphs / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(
            ConfigurationError,
            match=r"graph of workflow 't-code-b' .* is not what code_flows compiles to",
        ):
            GraphLibrary(graphs).load(["t-code-b"])
    finally:
        sys.path.remove(str(tmp_path / "src"))
        sys.modules.pop("code_flows", None)
