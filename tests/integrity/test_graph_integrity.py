"""A worker runs only what the module it imported says, whatever the build directory holds.

Each test plays an attacker with write access to a graph directory (a deploy
volume, a CI cache): it edits a built graph, recomputes its content hash and the
manifest's entry (``compute_hash`` is public), and starts a worker with a run
waiting. The worker must refuse the graph with one line, before it claims the
run, and nothing the edit smuggled in may have run or been imported: the
payloads write a marker file (``VRB_TEST_BAIT_FILE``) when evaluated.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.integrity.flows
import tests.integrity.other_steps
from runtime import Client, Worker
from runtime.errors import ConfigurationError
from runtime.graphs import GraphLibrary
from vrb_compile.build import build_paths
from vrb_compile.ir.models import Graph, compute_hash

ROOT = Path(__file__).resolve().parents[2]
FLOW = "integrity-flow"
FLOWS_FILE = ROOT / "tests" / "integrity" / "flows.py"
BAIT_MODULE = "tests.integrity.bait"
FAST = {"poll_interval": 0.05, "heartbeat_interval": 0.2, "lease_timeout": 2.0}

Data = dict[str, Any]


@pytest.fixture
def mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file a payload writes when it runs (it must never exist)."""
    path = tmp_path / "PWNED"
    monkeypatch.setenv("VRB_TEST_BAIT_FILE", str(path))
    return path


@pytest.fixture
def graphs(tmp_path: Path) -> Path:
    """A fresh build of tests/integrity/flows.py (module names from the repository root)."""
    out = tmp_path / "graphs"
    assert build_paths([FLOWS_FILE], out, cwd=ROOT).built
    return out


def _payload() -> str:
    """An expression that writes the marker file when evaluated."""
    return (
        "__import__('pathlib').Path(__import__('os').environ['VRB_TEST_BAIT_FILE'])"
        ".write_text('ran')"
    )


def _target_payload() -> str:
    """An assignment target whose evaluation writes the marker file."""
    return f"globals()[{_payload()}]"


def tamper(graphs: Path, edit: Callable[[Data], None]) -> str:
    """Edit the newest graph and make the build consistent again, as an attacker would.

    The content hash is recomputed, the manifest names the new hash, and the
    version file is written under it.
    """
    path = graphs / f"{FLOW}.graph.json"
    data = json.loads(path.read_text())
    edit(data)
    data["hash"] = compute_hash(Graph.model_validate(data))
    text = json.dumps(data)
    path.write_text(text)
    (graphs / "versions" / FLOW / f"{data['hash']}.graph.json").write_text(text)
    manifest_path = graphs / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["workflows"][FLOW]["hash"] = data["hash"]
    manifest["workflows"][FLOW]["versions"].append(data["hash"])
    manifest_path.write_text(json.dumps(manifest))
    return str(data["hash"])


def _nodes(data: Data, kind: str, has: str | None = None) -> list[Data]:
    found = [n for n in data["nodes"] if n["kind"] == kind and (has is None or n.get(has))]
    assert found, f"the test workflow has no {kind} node with {has}"
    return found


def _set(kind: str, field: str, value: Callable[[], Any], *, where: str | None = None) -> Any:
    def edit(data: Data) -> None:
        node = _nodes(data, kind, where or field)[0]
        node[field] = value()

    return edit


def _set_arg(kind: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        node = _nodes(data, kind, "args")[0]
        node["args"][0]["expr"] = _payload()

    return edit


def _set_loop(loop: str, field: str, value: Callable[[], str]) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        (node,) = [n for n in _nodes(data, "loop") if n["loop"] == loop]
        node[field] = value()

    return edit


def _code(rewritten: bool) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        node = next(n for n in _nodes(data, "code") if n["rewritten"] is rewritten)
        node["code"] = f"_vrb_pwn = {_payload()}"

    return edit


def _param_default(data: Data) -> None:
    (param,) = [p for p in data["params"] if p["default"] is not None]
    param["default"] = _payload()


def _parallel_arg(data: Data) -> None:
    _nodes(data, "parallel")[0]["branches"][0]["args"][0]["expr"] = _payload()


def _call_module(data: Data) -> None:
    _nodes(data, "call")[0]["module"] = BAIT_MODULE


def _call_default(data: Data) -> None:
    _nodes(data, "call")[0]["params"][0]["default"] = _payload()


def _source_module(data: Data) -> None:
    data["source"]["module"] = BAIT_MODULE


def _other_step(data: Data) -> None:
    # The step of another imported module, called where the workflow calls its own.
    node = next(n for n in _nodes(data, "step") if n["step"] == "integrity-add")
    node["step"] = "integrity-other"
    data["steps"] = sorted(
        [
            *data["steps"],
            {
                "name": "integrity-other",
                "ref": "tests.integrity.other_steps:other",
                "retries": 0,
                "timeout": None,
                "backoff": None,
                "rollback_ref": None,
            },
        ],
        key=lambda s: s["name"],
    )


def _code_over_step_body(data: Data) -> None:
    # A new code node holding a line of a step's body, at that line: the old check
    # (code verbatim at its lines) let it through, running the step's effect inline.
    lines = FLOWS_FILE.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip() == "total = x + y")
    start = data["entry"]
    (first,) = [e for e in data["edges"] if e["source"] == start]
    node_id = "n999"
    data["nodes"].append(
        {
            "kind": "code",
            "id": node_id,
            "line": line,
            "end_line": line,
            "loops": [],
            "scope": None,
            "code": f"x, y = 1, 2\ntotal = x + y\n_vrb_pwn = {_payload()}",
            "assigns": ["_vrb_pwn", "total", "x", "y"],
            "rewritten": False,
        }
    )
    data["edges"].remove(first)
    data["edges"] += [
        {"source": start, "target": node_id, "kind": "next"},
        {"source": node_id, "target": first["target"], "kind": "next"},
    ]
    data["edges"].sort(key=lambda e: (e["source"], e["kind"], e["target"]))


VECTORS = [
    pytest.param(_set("return", "value", _payload), id="return-value"),
    pytest.param(_set_arg("step"), id="step-argument"),
    pytest.param(_set("step", "target", _target_payload), id="step-target"),
    pytest.param(_code(rewritten=False), id="code"),
    pytest.param(_code(rewritten=True), id="code-rewritten"),
    pytest.param(_param_default, id="parameter-default"),
    pytest.param(_call_module, id="call-other-module"),
    pytest.param(_set_arg("call"), id="call-argument"),
    pytest.param(_call_default, id="call-parameter"),
    pytest.param(_set("branch", "test", _payload), id="branch-test"),
    pytest.param(_set_loop("while", "test", _payload), id="while-test"),
    pytest.param(_set_loop("for", "iter", _payload), id="for-iterable"),
    pytest.param(_set_loop("for", "target", _target_payload), id="for-target"),
    pytest.param(_set("map", "iter", _payload), id="map-iterable"),
    pytest.param(_set("map", "ifs", lambda: [_payload()], where="ifs"), id="map-filter"),
    pytest.param(_set("map", "item", _target_payload), id="map-item"),
    pytest.param(_set_arg("map"), id="map-argument"),
    pytest.param(_parallel_arg, id="parallel-argument"),
    pytest.param(_set("sleep", "duration", _payload), id="sleep-duration"),
    pytest.param(_set("signal", "signal", _payload), id="signal-name"),
    pytest.param(_set("signal", "timeout", _payload), id="signal-timeout"),
    pytest.param(_set("signal", "target", _target_payload), id="signal-target"),
    pytest.param(_set("except", "type", _payload), id="except-type"),
    pytest.param(_set("raise", "exc", _payload), id="raise"),
    pytest.param(_other_step, id="another-modules-step"),
    pytest.param(_code_over_step_body, id="code-node-over-a-step-body"),
    pytest.param(_source_module, id="source-module"),
]


async def _serve_until_idle(
    url: str, graphs: Path, *, key: bytes | None = None, signal: object = None
) -> Any:
    client = Client(url)
    try:
        run = await client.workflow.trigger(FLOW, [5])
        worker = Worker(client, graphs, graph_key=key, **FAST)
        await worker.run_until_idle(timeout=60)
        if signal is not None:
            await client.workflow.send_signal(run.run_id, "integrity-go", signal)
            await worker.run_until_idle(timeout=60)
        return await client.workflow.get_run(run.run_id)
    finally:
        await client.close()


def refused(url: str, graphs: Path, match: str, *, key: bytes | None = None) -> str:
    """Start a worker on ``graphs`` with a run due; its one-line refusal."""

    async def scenario() -> str:
        client = Client(url)
        try:
            run = await client.workflow.trigger(FLOW, [5])
            worker = Worker(client, graphs, graph_key=key, **FAST)
            with pytest.raises(ConfigurationError, match=match) as caught:
                await worker.run_until_idle(timeout=60)
            # Nothing was claimed: the refusal came before the worker touched a run.
            assert (await client.workflow.get_run(run.run_id)).status == "pending"
            assert [e.type for e in await client.workflow.history(run.run_id)] == ["run_created"]
            return str(caught.value)
        finally:
            await client.close()

    message = asyncio.run(scenario())
    assert "\n" not in message
    return message


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vrb.db'}"


@pytest.fixture(autouse=True)
def _no_bait_imported() -> Iterator[None]:
    sys.modules.pop(BAIT_MODULE, None)
    yield
    assert BAIT_MODULE not in sys.modules, "a graph made the worker import a module"


@pytest.mark.parametrize("edit", VECTORS)
def test_a_tampered_newest_graph_is_refused_and_nothing_it_holds_runs(
    edit: Callable[[Data], None], graphs: Path, mark: Path, sqlite_url: str
) -> None:
    tamper(graphs, edit)
    message = refused(sqlite_url, graphs, r"integrity")
    assert not mark.exists(), mark.read_text()
    assert "rebuild the graphs" in message


def test_an_untampered_build_runs_the_workflow_to_its_result(
    graphs: Path, mark: Path, sqlite_url: str
) -> None:
    run = asyncio.run(_serve_until_idle(sqlite_url, graphs, signal="ok"))
    assert run.status == "completed", run.error
    assert run.result == {"total": 165, "got": "ok"}
    assert not mark.exists()


def test_a_graph_naming_another_module_is_refused_without_importing_it(
    graphs: Path, mark: Path, sqlite_url: str
) -> None:
    tamper(graphs, _source_module)
    message = refused(sqlite_url, graphs, r"of module 'tests.integrity.bait', but the worker")
    assert message.endswith("rebuild the graphs with vrb-compile build")
    assert not mark.exists()


def test_an_edited_expression_is_refused_as_not_what_the_module_compiles_to(
    graphs: Path, sqlite_url: str
) -> None:
    tamper(graphs, _set("return", "value", lambda: "{'total': 0}"))
    message = refused(sqlite_url, graphs, r"is not what tests.integrity.flows compiles to")
    assert "the file was edited, or built by another vrb-compile version" in message


def test_moved_lines_alone_load_but_the_worker_runs_its_own_compile(graphs: Path) -> None:
    # Lines are outside the content hash (a rebuild after a comment moved them
    # keeps the version): the worker then holds the lines of the module it runs.
    path = graphs / f"{FLOW}.graph.json"
    data = json.loads(path.read_text())
    for node in data["nodes"]:
        node["line"] = node["end_line"] = 1
    path.write_text(json.dumps(data))
    library = GraphLibrary(graphs)
    assert library.load([FLOW]) == [FLOW]
    assert {node.line for node in library.latest(FLOW).nodes} != {1}


def test_a_workflow_no_imported_module_registered_is_refused(
    graphs: Path, mark: Path, sqlite_url: str
) -> None:
    manifest_path = graphs / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["workflows"]["integrity-ghost"] = dict(manifest["workflows"][FLOW], module=BAIT_MODULE)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ConfigurationError, match=r"'integrity-ghost' is not registered"):
        GraphLibrary(graphs).load(["integrity-ghost"])
    # Serving everything serves what is registered; the ghost is not imported for it.
    assert FLOW in GraphLibrary(graphs).load()
    assert not mark.exists()


@pytest.mark.parametrize(
    "file",
    [
        "../outside.graph.json",
        "/etc/passwd",
        "versions/../../outside.graph.json",
        "other.graph.json",
        "",
        None,
        7,
    ],
)
def test_a_manifest_naming_a_file_outside_the_build_is_refused(
    graphs: Path, sqlite_url: str, file: object
) -> None:
    outside = graphs.parent / "outside.graph.json"
    outside.write_text((graphs / f"{FLOW}.graph.json").read_text())
    manifest_path = graphs / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["workflows"][FLOW]["file"] = file
    manifest_path.write_text(json.dumps(manifest))
    refused(sqlite_url, graphs, r"manifest.json: names .* as the graph of workflow")


def test_a_symbolic_link_out_of_the_build_is_refused_and_one_inside_is_followed(
    graphs: Path, sqlite_url: str
) -> None:
    newest = graphs / f"{FLOW}.graph.json"
    outside = graphs.parent / "outside.graph.json"
    outside.write_text(newest.read_text())
    newest.unlink()
    newest.symlink_to(outside)
    refused(sqlite_url, graphs, r"resolves to .*outside.graph.json, outside the graph directory")
    # A ConfigMap-style link within the directory is an ordinary file of it.
    inside = graphs / "..data"
    inside.mkdir()
    (inside / newest.name).write_text(outside.read_text())
    newest.unlink()
    newest.symlink_to(Path("..data") / newest.name)
    assert GraphLibrary(graphs).load([FLOW]) == [FLOW]


def _loads_within(library: GraphLibrary, seconds: float) -> BaseException | None:
    """Load in a thread; the error it raised (a hang fails the test instead of blocking it)."""
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            library.load([FLOW])
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, "loading the graphs blocked on a FIFO"
    return outcome[0]


@pytest.mark.parametrize(
    "where", ["newest", "version", "manifest"], ids=["newest", "version", "manifest"]
)
def test_a_fifo_named_like_a_graph_file_is_refused_without_blocking(
    graphs: Path, where: str
) -> None:
    target = {
        "newest": graphs / f"{FLOW}.graph.json",
        "version": graphs / "versions" / FLOW / f"{'0' * 64}.graph.json",
        "manifest": graphs / "manifest.json",
    }[where]
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    # A writer that never writes: reading the FIFO would wait for ever.
    error = _loads_within(GraphLibrary(graphs), 60)
    assert isinstance(error, ConfigurationError)
    assert "refused: not a regular file" in str(error)


def test_an_oversized_graph_file_is_refused_unread(
    graphs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime import _graph_files

    monkeypatch.setattr(_graph_files, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ConfigurationError, match=r"bytes, over the 1000 a graph file may have"):
        GraphLibrary(graphs).load([FLOW])


def test_the_step_options_of_the_newest_graph_must_be_the_registered_steps(
    graphs: Path, sqlite_url: str
) -> None:
    def edit(data: Data) -> None:
        (ref,) = [s for s in data["steps"] if s["name"] == "integrity-add"]
        ref["retries"] = 9

    tamper(graphs, edit)
    refused(sqlite_url, graphs, r"step 'integrity-add' option retries is 9 in the graph but 1")


def test_the_flows_module_is_the_one_the_tests_import() -> None:
    # The build above names the module from the repository root, as the worker does.
    assert tests.integrity.flows.__name__ == "tests.integrity.flows"
