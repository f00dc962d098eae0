"""The IR: canonical JSON, content hash, validation, and the loader's refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.lower_helpers import lower_snippet
from vrb_compile.errors import GraphLoadError
from vrb_compile.ir import (
    CodeNode,
    Graph,
    GraphInvalid,
    compute_hash,
    load_graph,
    parse_graph,
    validate,
)
from vrb_compile.ir.models import normalised_source

BODY = """
@workflow("hashed")
async def hashed(ctx: WorkflowContext, n: int) -> int:
    total = n + 1
    if total > 2:
        await a(total)
    return await b(total)
"""


def _graph(tmp_path: Path) -> Graph:
    return lower_snippet(tmp_path, BODY)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "g.graph.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_lowering_the_same_source_twice_gives_identical_bytes(tmp_path: Path) -> None:
    first = _graph(tmp_path).to_json()
    second = _graph(tmp_path).to_json()
    assert first == second
    assert json.loads(first)["hash"] == compute_hash(_graph(tmp_path))


def test_comments_and_blank_lines_do_not_change_the_hash(tmp_path: Path) -> None:
    before = _graph(tmp_path)
    edited = BODY.replace(
        "    total = n + 1\n", "    # the running total\n\n    total = n + 1  # plus one\n"
    )
    after = lower_snippet(tmp_path, edited)
    assert after.hash == before.hash
    assert after.source.sha256 != before.source.sha256
    assert after.nodes[1].line == before.nodes[1].line + 2


def test_a_change_to_what_runs_changes_the_hash(tmp_path: Path) -> None:
    before = _graph(tmp_path)
    after = lower_snippet(tmp_path, BODY.replace("n + 1", "n + 2"))
    assert after.hash != before.hash


FORMATTED = """
@workflow("hashed")
async def hashed(ctx: WorkflowContext, n: int) -> int:
    total  =  (n
               + 1)  # plus one
    if (total > 2):
        await a(total)  # comment after a step
    return await b(total)
"""


def test_reformatting_inside_a_statement_keeps_the_hash_and_the_verbatim_text(
    tmp_path: Path,
) -> None:
    before = _graph(tmp_path)
    after = lower_snippet(tmp_path, FORMATTED)
    assert after.hash == before.hash
    # The graph keeps the statement as written (the runtime finds it at its lines).
    code = after.nodes[1]
    assert isinstance(code, CodeNode)
    assert [line.strip() for line in code.code.splitlines()] == ["total  =  (n", "+ 1)"]
    assert code.code != before.nodes[1].code  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("n + 1", "n - 1"),
        ("total > 2", "total >= 2"),
        ("await a(total)", "await a(total, 1)"),
        ("await a(total)", "await a(n)"),
        ("return await b(total)", "return (await b(total)) + 0"),
    ],
)
def test_every_change_to_code_or_expressions_changes_the_hash(
    tmp_path: Path, old: str, new: str
) -> None:
    before = _graph(tmp_path)
    after = lower_snippet(tmp_path, BODY.replace(old, new))
    assert after.hash != before.hash


def test_normalised_source_ignores_layout_and_keeps_meaning() -> None:
    same = [
        ("x = [1, 2]", "x = [\n    1,  # one\n    2,\n]"),
        ("x = 'a'", 'x = "a"'),
        ("a, b", "(a, b)"),
        ("f(x, y=1)", "f( x ,y = 1 )"),
    ]
    for first, second in same:
        assert normalised_source(first) == normalised_source(second), (first, second)
    different = [("x = 'a'", "x = b'a'"), ("x = 1", "x = 1.0"), ("a, b", "[a, b]"), ("x", "y")]
    for first, second in different:
        assert normalised_source(first) != normalised_source(second), (first, second)
    # Plain JSON data, so canonical_json can hash it.
    json.dumps(normalised_source("x = f'{a!r:>{w}}' + 1j"))


def test_loader_round_trips_a_graph(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    loaded = load_graph(_write(tmp_path, graph.to_json()))
    assert loaded == graph


def test_loader_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "{not json")
    with pytest.raises(GraphLoadError, match=r"g\.graph\.json: not a JSON graph file \(") as info:
        load_graph(path)
    assert info.value.path == str(path)
    assert "\n" not in str(info.value)


def test_loader_refuses_another_schema_version(tmp_path: Path) -> None:
    data = json.loads(_graph(tmp_path).to_json())
    data["schema_version"] = 2
    with pytest.raises(
        GraphLoadError, match=r"graph schema version 2 is not supported .* rebuild it"
    ):
        load_graph(_write(tmp_path, data))


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_loader_refuses_a_schema_version_that_only_equals_one(tmp_path: Path, version: Any) -> None:
    data = json.loads(_graph(tmp_path).to_json())
    data["schema_version"] = version
    with pytest.raises(GraphLoadError, match=rf"graph schema version {version!r} is not supported"):
        load_graph(_write(tmp_path, data))
    with pytest.raises(ValueError, match="schema_version must be the integer 1"):
        Graph.model_validate(data)


def test_loader_refuses_json_that_is_not_a_graph(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match="not a step graph: no schema_version"):
        load_graph(_write(tmp_path, [1, 2, 3]))


def test_loader_refuses_a_graph_failing_the_model(tmp_path: Path) -> None:
    data = json.loads(_graph(tmp_path).to_json())
    data["nodes"][1]["kind"] = "teleport"
    with pytest.raises(GraphLoadError, match=r"not a valid step graph: nodes\.1: "):
        load_graph(_write(tmp_path, data))


def test_loader_refuses_unknown_fields(tmp_path: Path) -> None:
    data = json.loads(_graph(tmp_path).to_json())
    data["extra"] = True
    with pytest.raises(GraphLoadError, match="extra: Extra inputs are not permitted"):
        load_graph(_write(tmp_path, data))


def test_loader_refuses_a_graph_failing_structural_validation(tmp_path: Path) -> None:
    data = json.loads(_graph(tmp_path).to_json())
    data["edges"].append({"source": "n1", "target": "n99", "kind": "next"})
    with pytest.raises(GraphLoadError, match=r"invalid step graph: .*references missing node n99"):
        load_graph(_write(tmp_path, data))


def test_loader_refuses_a_hash_mismatch(tmp_path: Path) -> None:
    data = json.loads(_graph(tmp_path).to_json())
    code = next(node for node in data["nodes"] if node["kind"] == "code")
    code["code"] = "total = n + 1000"
    with pytest.raises(GraphLoadError, match=r"hash mismatch: .* the file was edited or corrupted"):
        load_graph(_write(tmp_path, data))


def test_loader_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match="cannot read graph file"):
        load_graph(tmp_path / "absent.graph.json")


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    branch = next(n for n in graph.nodes if n.kind == "branch")
    broken = graph.model_copy(
        update={
            "edges": tuple(
                e for e in graph.edges if not (e.source == branch.id and e.kind == "true")
            ),
            "steps": tuple(s for s in graph.steps if s.name != "a"),
        }
    )
    with pytest.raises(GraphInvalid) as info:
        validate(broken)
    problems = info.value.problems
    assert f"branch node {branch.id} has no 'true' edge" in problems
    assert any("calls undeclared step 'a'" in p for p in problems)
    assert any("is unreachable" in p for p in problems)
    assert str(info.value).startswith("graph of workflow 'hashed' is invalid: ")


def test_parse_graph_names_its_origin(tmp_path: Path) -> None:
    with pytest.raises(GraphLoadError, match=r"^worker-input: not a JSON graph file"):
        parse_graph(b"\xff\xfe", origin="worker-input")
