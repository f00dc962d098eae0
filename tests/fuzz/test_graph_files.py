"""Fuzzing graph files: a graph either loads and runs as the workflow says, or is refused in one line.

Old graph versions (``versions/<workflow>/<hash>.graph.json``, for runs pinned
to them) cannot be recompiled: the worker runs them as they are, so the loader
(:func:`vrb_compile.ir.loader.parse_graph`) must refuse every file the
interpreter could not run. Mutants of built graphs (tests/fuzz/graph_mutations.py)
check both halves:

* the loader returns a graph or raises :class:`GraphLoadError` with one line,
  whatever the bytes (lone surrogates, invalid UTF-8, JSON nested 100,000 deep,
  5,000-digit integers, deep Python source, edited structure);
* a mutant that loads, run as the old version a run is pinned to, ends completed,
  failed or parked by the workflow's own code or a deliberate refusal: never an
  exception of the engine (a ``SyntaxError`` of the graph's source, an
  ``AssertionError`` of the walk, a hang);

and every check of the validation has an example here that it refuses.
Costs (two cores, default profile): about 5 s; ``ci-deep`` about 40 s.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tests.fuzz.graph_flows
import tests.integrity.flows
from runtime import Client, Worker
from runtime.errors import ConfigurationError
from runtime.graphs import GraphLibrary
from runtime.stores.memory import MemoryStore
from tests.properties import budget
from vrb_compile.build import build_paths
from vrb_compile.errors import GraphLoadError
from vrb_compile.ir.loader import parse_graph
from vrb_compile.ir.models import Graph, NodeBase
from vrb_compile.ir.sources import SOURCE_KINDS

from .graph_mutations import (
    FLOW,
    FLOWS_FILE,
    ROOT,
    TEXT_EDITS,
    base_graph,
    golden_graphs,
    mutants,
    text_edits,
    with_hash,
)
from .graph_runs import internal_fault, run_pinned

Data = dict[str, Any]

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def _load(text: str | bytes) -> Graph | None:
    """``parse_graph(text)``, or ``None`` when it refused the text with one clear line."""
    try:
        return parse_graph(text, origin="fuzz.graph.json")
    except GraphLoadError as error:
        message = str(error)
        assert "\n" not in message, message
        assert "\r" not in message, message
        assert message.startswith("fuzz.graph.json: "), message
        assert len(message) < 1500, message[:300]
        return None


def _text(data: Data) -> str:
    return json.dumps(with_hash(data)[0])


@settings(max_examples=budget("graph_files_load"), deadline=None, suppress_health_check=_SLOW_OK)
@given(st.one_of(mutants(), mutants(lambda: golden_graphs()), text_edits()))
def test_a_mutated_graph_file_loads_or_is_refused_in_one_line(case: Any) -> None:
    if isinstance(case[0], str):
        name, text = case
        event(f"text edit: {name}")
    else:
        text = _text(case[0])
    graph = _load(text)
    event("loaded" if graph is not None else "refused")


@settings(max_examples=budget("graph_files_run"), deadline=None, suppress_health_check=_SLOW_OK)
@given(st.one_of(mutants(runnable=True), mutants()))
def test_a_mutated_graph_that_loads_runs_to_a_user_level_outcome(case: tuple[Data, Any]) -> None:
    graph = _load(_text(case[0]))
    if graph is None:
        event("refused")
        return
    if graph.workflow.name != FLOW:
        # A worker files a version under its workflow's name and refuses one that says
        # otherwise (runtime.graphs._check_identity): it never runs under another name.
        event("renamed")
        return
    outcome = run_pinned(graph, Graph.model_validate(base_graph()))
    event(f"ran: {outcome.status}")
    fault = internal_fault(outcome)
    assert fault is None, fault


def test_the_unmutated_base_graph_runs_to_completion_as_a_pinned_version() -> None:
    base = Graph.model_validate(base_graph())
    outcome = run_pinned(base, base)
    assert (outcome.status, outcome.error, internal_fault(outcome)) == ("completed", None, None)


# ------------------------------------------------------------------ the bytes


@pytest.mark.parametrize("name", sorted(TEXT_EDITS))
def test_a_text_edit_is_refused_in_one_line(name: str) -> None:
    data = copy.deepcopy(base_graph())
    data["source"]["path"] = "VRB_FUZZ_MARK"
    text = TEXT_EDITS[name](json.dumps(data, ensure_ascii=False), 7)
    assert _load(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"schema_version": 1, "x": "\\ud800"}', "\\u escape that is not a character"),
        ('{"schema_version": 1, "x": "\ud800"}', "lone surrogate U+D800"),
        (b'{"schema_version": 1, "x": "\xff"}', "invalid unicode"),
        ("[" * 100_000 + "]" * 100_000, "nests deeper than the 200 levels"),
        ('{"schema_version": 1' + ', "x": 1' + "0" * 5000 + "}", "a number too large"),
        ('{"schema_version": 1, "x": NaN}', "not a JSON graph file"),
    ],
    ids=["surrogate-escape", "raw-surrogate", "invalid-utf8", "deep", "big-int", "nan"],
)
def test_text_no_parser_can_vouch_for_is_refused_naming_why(text: str | bytes, says: str) -> None:
    with pytest.raises(GraphLoadError) as info:
        parse_graph(text, origin="g.graph.json")
    assert says in str(info.value)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ each check


def _nodes(data: Data, kind: str, **fields: Any) -> list[Data]:
    found = [
        n
        for n in data["nodes"]
        if n["kind"] == kind and all(n.get(k) == v for k, v in fields.items())
    ]
    assert found, f"the integrity flow has no {kind} node with {fields}"
    return found


def _edges(data: Data, source: str, kind: str | None = None) -> list[Data]:
    return [e for e in data["edges"] if e["source"] == source and kind in (None, e["kind"])]


def _body_return_in_helper_scope(data: Data) -> None:
    (call,) = _nodes(data, "call")
    _nodes(data, "return", scope=None)[0]["scope"] = call["id"]


def _for_without_iterable(data: Data) -> None:
    _nodes(data, "loop", loop="for")[0]["iter"] = None


def _raise_handling_a_node_no_error_reaches(data: Data) -> None:
    raising = next(n for n in data["nodes"] if n["kind"] == "raise" and n["handling"])
    raising["handling"] = data["entry"]


def _cycle_without_a_loop(data: Data) -> None:
    # An error edge back to an earlier statement: a retry loop the source never wrote.
    first, second = _nodes(data, "code", loops=[], scope=None)[:2]
    data["edges"].append({"source": second["id"], "target": first["id"], "kind": "error"})


def _duplicate_id(data: Data) -> None:
    data["nodes"].append(copy.deepcopy(_nodes(data, "code")[0]))


def _loops_naming_a_step(data: Data) -> None:
    _nodes(data, "code", loops=[])[0]["loops"] = [_nodes(data, "step")[0]["id"]]


def _rollback_of_another_node(data: Data) -> None:
    _nodes(data, "rollback")[0]["of"] = _nodes(data, "sleep")[0]["id"]


def _parallel_without_branches(data: Data) -> None:
    _nodes(data, "parallel")[0]["branches"] = []


def _required_after_default(data: Data) -> None:
    data["params"].append({"name": "late", "kind": "positional_or_keyword", "default": None})


def _code_returning(data: Data) -> None:
    _nodes(data, "code")[0]["code"] = "return 1"


def _call_as_a_target(data: Data) -> None:
    next(n for n in _nodes(data, "step") if n["target"])["target"] = "f()"


def _deep_expression(data: Data) -> None:
    _nodes(data, "branch")[0]["test"] = "n" + ".f()" * 5000


def _branch_without_false(data: Data) -> None:
    branch = _nodes(data, "branch")[0]
    data["edges"].remove(_edges(data, branch["id"], "false")[0])


def _undeclared_step(data: Data) -> None:
    _nodes(data, "step")[0]["step"] = "no-such-step"


def _huge_timeout(data: Data) -> None:
    data["workflow"]["execution_timeout"] = 1e300


def _empty_module(data: Data) -> None:
    _nodes(data, "call")[0]["module"] = ""


def _loop_edge_from_outside(data: Data) -> None:
    code = _nodes(data, "code", loops=[], scope=None)[0]
    (edge,) = _edges(data, code["id"], "next")
    edge["kind"], edge["target"] = "loop", _nodes(data, "loop")[0]["id"]


def _node_after_a_loop_claiming_it(data: Data) -> None:
    loop = _nodes(data, "loop", loop="while")[0]
    (edge,) = _edges(data, loop["id"], "exit")
    next(n for n in data["nodes"] if n["id"] == edge["target"])["loops"] = [loop["id"]]


def _except_entered_by_next(data: Data) -> None:
    clause = _nodes(data, "except")[0]
    code = _nodes(data, "code", loops=[], scope=None)[0]
    (edge,) = _edges(data, code["id"], "next")
    edge["target"] = clause["id"]


def _edge_into_start(data: Data) -> None:
    code = _nodes(data, "code", loops=[], scope=None)[0]
    (edge,) = _edges(data, code["id"], "next")
    edge["target"] = data["entry"]


def _keyword_with_star(data: Data) -> None:
    step = next(n for n in _nodes(data, "step") if n["args"])
    step["args"][0].update(keyword="y", star="*")


def _id_with_key_separators(data: Data) -> None:
    old = _nodes(data, "code")[0]["id"]
    for node in data["nodes"]:
        node["id"] = "n1@2" if node["id"] == old else node["id"]
    for edge in data["edges"]:
        for end in ("source", "target"):
            edge[end] = "n1@2" if edge[end] == old else edge[end]


def _module_with_a_newline(data: Data) -> None:
    data["source"]["module"] = "tests.integrity\n.flows"


CHECKS: list[tuple[Callable[[Data], None], str]] = [
    (_body_return_in_helper_scope, "scope"),
    (_for_without_iterable, "a for loop has a target and an iterable"),
    (_raise_handling_a_node_no_error_reaches, "handles the exception that arrived at"),
    (_cycle_without_a_loop, "form a cycle that passes no loop header"),
    (_duplicate_id, "is used 2 times"),
    (_loops_naming_a_step, "not a loop node"),
    (_rollback_of_another_node, "compensates node"),
    (_parallel_without_branches, "has no branches"),
    (_required_after_default, "parameters Python would refuse"),
    (_code_returning, "'return' outside function"),
    (_call_as_a_target, "is not an assignment target"),
    (_deep_expression, "nests deeper than the 200 levels"),
    (_branch_without_false, "has no 'false' edge"),
    (_undeclared_step, "calls undeclared step 'no-such-step'"),
    (_huge_timeout, "execution_timeout is 1e+300"),
    (_empty_module, "names the module ''"),
    (_loop_edge_from_outside, "does not lead back to a loop"),
    (_node_after_a_loop_claiming_it, "goes from loops [] to loops"),
    (_except_entered_by_next, "enters an except clause other than by an exception"),
    (_edge_into_start, "leads into a start node"),
    (_keyword_with_star, "passes keyword 'y' with '*'"),
    (_id_with_key_separators, "node id 'n1@2' is not a letter"),
    (_module_with_a_newline, "is not a dotted Python name"),
]


@pytest.mark.parametrize(("edit", "says"), CHECKS, ids=[edit.__name__[1:] for edit, _ in CHECKS])
def test_a_graph_breaking_what_the_interpreter_relies_on_is_refused(
    edit: Callable[[Data], None], says: str
) -> None:
    data = copy.deepcopy(base_graph())
    edit(data)
    with pytest.raises(GraphLoadError) as info:
        parse_graph(_text(data), origin="v.graph.json")
    message = str(info.value)
    assert says in message
    assert message.startswith("v.graph.json: invalid step graph: ")
    assert message.endswith("; rebuild the graphs with vrb-compile build")
    assert "\n" not in message


def test_every_python_source_field_is_checked_as_the_interpreter_runs_it() -> None:
    flagged = set()
    for model in (*NodeBase.__subclasses__(), *_models()):
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("python_source"):
                flagged.add((model, name))
    assert flagged == set(SOURCE_KINDS)


def _models() -> list[type[Any]]:
    from vrb_compile.ir import models

    return [models.Param, models.Argument, models.ParallelBranch]


# ------------------------------------------------------------------ what the compiler writes


def test_empty_loop_bodies_build_and_run() -> None:
    # ``for ...: pass`` lowers to a loop node whose ``loop`` edge leads back to itself.
    library = GraphLibrary()
    library.load(["fuzz-graph-empty-loops"])
    graph = library.latest("fuzz-graph-empty-loops")
    assert any(e.kind == "loop" and e.source == e.target for e in graph.edges)
    assert parse_graph(graph.to_json()).hash == graph.hash

    async def scenario() -> Any:
        client = Client(MemoryStore())
        try:
            run = await client.workflow.trigger("fuzz-graph-empty-loops", [4])
            await Worker(client, library, poll_interval=0.01).run_until_idle(
                "fuzz-graph-empty-loops", timeout=30
            )
            return await client.workflow.result(run.run_id, timeout=5)
        finally:
            await client.close()

    assert asyncio.run(scenario()) == 5
    assert tests.fuzz.graph_flows.empty_loops is not None


# ------------------------------------------------------------------ the readers of graph files


@pytest.fixture
def build(tmp_path: Path) -> Path:
    out = tmp_path / "graphs"
    assert build_paths([FLOWS_FILE], out, cwd=ROOT).built
    return out


def _hostile_version(build: Path, text: str | bytes) -> Path:
    path = build / "versions" / FLOW / f"{'0' * 64}.graph.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return path


_HOSTILE = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "surrogate": '{"schema_version": 1, "x": "\\ud800"}',
    "raw-surrogate": '{"schema_version": 1, "x": "\ud800"}',
    "big-int": '{"schema_version": ' + "1" * 5000 + "}",
    "deep-source": None,
}


def _hostile_text(name: str) -> str:
    text = _HOSTILE[name]
    if text is None:
        data = copy.deepcopy(base_graph())
        _deep_expression(data)
        return _text(data)
    return text


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_a_worker_refuses_a_hostile_old_version_in_one_line(build: Path, name: str) -> None:
    path = _hostile_version(build, _hostile_text(name))
    with pytest.raises(ConfigurationError) as info:
        GraphLibrary(build).load([FLOW])
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_vrb_compile_sign_refuses_a_hostile_graph_file_with_exit_2(
    build: Path, tmp_path: Path, name: str
) -> None:
    path = _hostile_version(build, _hostile_text(name))
    key = tmp_path / "key"
    key.write_text("k" * 48)
    done = subprocess.run(
        [sys.executable, "-m", "vrb_compile", "sign", str(build), "--sign-key-file", str(key)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    assert "Traceback" not in done.stderr


def test_a_helper_module_the_worker_cannot_import_fails_the_run_naming_it() -> None:
    # A dotted name passes the loader; whether it imports is known only where the run is.
    data = copy.deepcopy(base_graph())
    _nodes(data, "call")[0]["module"] = "tests.fuzz.no_such_module"
    graph = parse_graph(_text(data))
    outcome = run_pinned(graph, Graph.model_validate(base_graph()))
    assert outcome.status == "failed"
    assert outcome.error["type"] == "ConfigurationError"
    message = outcome.error["message"]
    assert "runs in module 'tests.fuzz.no_such_module', which this worker cannot" in message
    assert internal_fault(outcome) is None
