"""Replay: restarts, takeovers, deterministic values, divergence, graph version pinning."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from pathlib import Path

import pytest

from runtime import Client, ConfigurationError, Worker
from runtime.graphs import GraphLibrary
from vrb_compile.build import build_paths

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
    with pytest.raises(
        ConfigurationError, match=r"manifest.json: not a vrb-compile build manifest"
    ):
        GraphLibrary(tmp_path / "nowhere").load(["t-sleep"])
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
