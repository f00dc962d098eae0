"""Step and workflow options given by module constants: the graph and the registered objects agree.

A step option given by a constant (``RETRIES = 3``, ``retries=RETRIES``) once
reached the registered ``Step`` but not the graph, so the run failed after one
attempt. Now the compiler evaluates it, and a worker refuses, in one line, a
graph whose options are not those of the imported ``Step``/``Workflow``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runtime import Client, ConfigurationError, Worker
from runtime.graphs import GraphLibrary
from vrb_compile.build import build_paths
from vrb_compile.ir.models import Graph, compute_hash

from .conftest import FAST, run, types

FLAKY = """
from datetime import timedelta

from runtime import Backoff, WorkflowContext, step, workflow

RETRIES = 3
QUICK = Backoff(initial=0.01, factor=2.0, max=0.02)
LIMIT = timedelta(seconds=30) * 2
ATTEMPTS = []


async def _undo(error, output):
    pass


@step("{prefix}-flaky", retries=RETRIES, backoff=QUICK, timeout=LIMIT, rollback_fn=_undo)
async def flaky(x: int) -> int:
    ATTEMPTS.append(x)
    if len(ATTEMPTS) < 3:
        raise RuntimeError(f"attempt {{len(ATTEMPTS)}} fails")
    return x * 2


MAX_EVENTS = 50 * 2


@workflow("{prefix}-flow", max_events=MAX_EVENTS, execution_timeout=LIMIT)
async def flow(ctx: WorkflowContext, x: int) -> int:
    return await flaky(x)
"""


@pytest.fixture
def flaky_module(tmp_path: Path) -> Iterator[Callable[[str], tuple[ModuleType, Path]]]:
    """Writes the module as ``<prefix>_opts.py`` under ``tmp_path/src``, builds its graphs
    into ``tmp_path/graphs`` and imports it; returns ``(module, graphs directory)``."""
    package = tmp_path / "src"
    package.mkdir()
    sys.path.insert(0, str(package))
    imported: list[str] = []

    def make(prefix: str) -> tuple[ModuleType, Path]:
        name = f"{prefix.replace('-', '_')}_opts"
        path = package / f"{name}.py"
        path.write_text(FLAKY.format(prefix=prefix))
        graphs = tmp_path / "graphs"
        built = build_paths([path], graphs, cwd=package)
        assert built.check.diagnostics == ()
        imported.append(name)
        return importlib.import_module(name), graphs

    try:
        yield make
    finally:
        sys.path.remove(str(package))
        for name in imported:
            sys.modules.pop(name, None)


def test_a_retries_constant_reaches_the_graph_and_the_run_completes_after_three_attempts(
    flaky_module: Callable[[str], tuple[ModuleType, Path]], store_url: str
) -> None:
    module, graphs = flaky_module("opt-run")
    graph = json.loads((graphs / "opt-run-flow.graph.json").read_text())
    [ref] = graph["steps"]
    assert (ref["retries"], ref["timeout"]) == (3, 60.0)
    assert ref["backoff"] == {"initial": 0.01, "factor": 2.0, "max": 0.02}
    assert ref["rollback_ref"] == "opt_run_opts:_undo"
    assert graph["workflow"] == {
        "name": "opt-run-flow",
        "max_events": 100,
        "execution_timeout": 60.0,
    }

    async def scenario(client: Client) -> list[str]:
        handle = await client.workflow.trigger("opt-run-flow", [21])
        worker = Worker(client, str(graphs), **FAST)
        task = asyncio.create_task(worker.start("opt-run-flow"))
        try:
            assert await client.workflow.result(handle.run_id, timeout=20) == 42
        finally:
            await worker.stop()
            await task
        return types(await client.workflow.history(handle.run_id))

    history = run(scenario, store_url)
    assert module.ATTEMPTS == [21, 21, 21]
    assert history.count("step_started") == 3
    assert history.count("step_retrying") == 2
    assert history.count("step_completed") == 1


def _tamper(graphs: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the newest graph of ``name`` as a stale build would have it, hash and manifest kept valid."""
    path = graphs / f"{name}.graph.json"
    data = json.loads(path.read_text())
    edit(data)
    data["hash"] = compute_hash(Graph.model_validate(data))
    path.write_text(json.dumps(data))
    manifest = json.loads((graphs / "manifest.json").read_text())
    manifest["workflows"][name]["hash"] = data["hash"]
    (graphs / "manifest.json").write_text(json.dumps(manifest))


def _set_step(option: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["steps"][0][option] = value

    return edit


def _set_workflow(option: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["workflow"][option] = value

    return edit


def _drop_rollback(data: dict[str, Any]) -> None:
    # A graph built when the compiler dropped rollback_fn: no rollback nodes or edges either.
    data["steps"][0]["rollback_ref"] = None
    dropped = {n["id"] for n in data["nodes"] if n["kind"] == "rollback"}
    data["nodes"] = [n for n in data["nodes"] if n["id"] not in dropped]
    data["edges"] = [
        e for e in data["edges"] if e["source"] not in dropped and e["target"] not in dropped
    ]


STALE = [
    pytest.param(
        _set_step("retries", 0),
        "step 'opt-stale-flaky' option retries is 0 in the graph but 3 in the registered "
        "Step (opt_stale_opts:flaky)",
        id="retries",
    ),
    pytest.param(
        _set_step("timeout", None),
        "step 'opt-stale-flaky' option timeout is None in the graph but 60.0 in the "
        "registered Step (opt_stale_opts:flaky)",
        id="timeout",
    ),
    pytest.param(
        _set_step("backoff", None),
        "step 'opt-stale-flaky' option backoff is {'initial': 1.0, 'factor': 2.0, 'max': 60.0} "
        "in the graph but {'initial': 0.01, 'factor': 2.0, 'max': 0.02} in the registered "
        "Step (opt_stale_opts:flaky)",
        id="backoff",
    ),
    pytest.param(
        _drop_rollback,
        "step 'opt-stale-flaky' option rollback_fn is None in the graph but "
        "'opt_stale_opts:_undo' in the registered Step (opt_stale_opts:flaky)",
        id="rollback",
    ),
    pytest.param(
        _set_workflow("max_events", 5),
        "option max_events is 5 in the graph but 100 in the registered Workflow "
        "(opt_stale_opts:flow)",
        id="max-events",
    ),
    pytest.param(
        _set_workflow("execution_timeout", None),
        "option execution_timeout is None in the graph but 60.0 in the registered Workflow "
        "(opt_stale_opts:flow)",
        id="execution-timeout",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), STALE)
def test_a_worker_refuses_a_graph_whose_options_disagree_with_the_registered_objects(
    flaky_module: Callable[[str], tuple[ModuleType, Path]],
    edit: Callable[[dict[str, Any]], None],
    expected: str,
    tmp_path: Path,
) -> None:
    _, graphs = flaky_module("opt-stale")
    _tamper(graphs, "opt-stale-flow", edit)

    async def scenario(client: Client) -> None:
        worker = Worker(client, str(graphs), **FAST)
        await worker.start("opt-stale-flow")

    with pytest.raises(ConfigurationError) as caught:
        run(scenario, f"sqlite:///{tmp_path / 'vrb.db'}")
    assert str(caught.value) == (
        f"graph of workflow 'opt-stale-flow' disagrees with the imported code: {expected}; "
        "rebuild the graphs with vrb-compile build"
    )


def test_an_in_process_graph_that_disagrees_with_the_registered_step_is_refused(
    flaky_module: Callable[[str], tuple[ModuleType, Path]],
) -> None:
    module, _ = flaky_module("opt-live")
    # What the compiler cannot see: the imported step changed after its module ran.
    module.flaky.retries = 5
    with pytest.raises(ConfigurationError) as caught:
        GraphLibrary().load(["opt-live-flow"])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "graph of workflow 'opt-live-flow' disagrees with the imported code: step "
        "'opt-live-flaky' option retries is 3 in the graph but 5 in the registered Step "
        "(opt_live_opts:flaky); the compiler read "
    )
    assert message.endswith(
        "opt_live_opts.py otherwise than Python ran it: give the option as a literal or a "
        "module-level constant assigned once (vrb-compile explain VRB307)"
    )
    module.flaky.retries = 3
    assert GraphLibrary().load(["opt-live-flow"]) == ["opt-live-flow"]
