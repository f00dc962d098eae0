"""Renderers: Mermaid renders as-is (checked with mermaid in Chromium), DOT with Graphviz,
HTML is self-contained, labels survive every special character."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from tests.lower_helpers import lower_snippet
from tests.regen_golden import EXAMPLES, ROOT
from tests.renderers import render_dot, render_mermaid
from vrb_compile.discover import discover
from vrb_compile.emit import dot_escape, mermaid_escape, render
from vrb_compile.emit.render import _env
from vrb_compile.ir.models import Graph
from vrb_compile.lower import lower_workflow
from vrb_compile.source import SourceFile

NASTY = """
@workflow("nasty-labels")
async def nasty(ctx: WorkflowContext, order: dict) -> dict:
    note = "say \\"hi\\" | #1 <b>bold</b> `tick` [x] {y} (z); ünïcødé → ✓ \\\\ end"
    if order.get("a|b") == "<script>alert('x')</script>":
        await b(note, key=order["#"])
    for item in order["items"]:
        await ctx.sleep("5m")
        reply = await ctx.wait_for_signal("approval", timeout=60)
    try:
        await r1(note)
    except KeyError as error:
        raise ValueError(str(error)) from error
    both = await ctx.parallel([lambda: a(1), lambda: r2(2)])
    mapped = await asyncio.gather(*(c(x) for x in order["xs"]))
    return {"note": note, "both": both, "mapped": mapped}
"""


@pytest.fixture(scope="module")
def example_graphs() -> list[Graph]:
    sources = [SourceFile.from_path(p, cwd=ROOT) for p in sorted(EXAMPLES.glob("*.py"))]
    index = discover(sources)
    return [lower_workflow(info, index) for info in index.workflows]


@pytest.fixture
def nasty(tmp_path: Path) -> Graph:
    return lower_snippet(tmp_path, NASTY)


def test_mermaid_escape_uses_entity_codes_for_every_special_character() -> None:
    assert (
        mermaid_escape('a "b" | #c <d> `e` & (f)')
        == "a #34;b#34; | #35;c #60;d#62; #96;e#96; #38; (f)"
    )
    assert mermaid_escape("ünïcødé → ✓") == "ünïcødé → ✓"


def test_dot_escape_escapes_quotes_backslashes_and_newlines() -> None:
    assert dot_escape('say "hi"\\n\nnext') == 'say \\"hi\\"\\\\n\\nnext'


# Each line of our Mermaid output is one of these statements.
_MERMAID_LINE = re.compile(
    r"""^(?:flowchart\ TD
    |%%\ .*
    |\ {4}n\d+(?:\(\["|\("|\["|\{"|\{\{"|\(\("|>"|\[\["|\[/")[^"]*(?:"\]\)|"\)|"\]|"\}|"\}\}|"\)\)|"\]\]|"\\\]|"/\])
    |\ {4}n\d+\ (?:-->|-\.->|==>)(?:\|"[a-z]+"\|)?\ n\d+
    |\ {4}classDef\ k_[a-z]+\ [-a-z:#0-9,\ ]+
    |\ {4}class\ n\d+(?:,n\d+)*\ k_[a-z]+)$""",
    re.VERBOSE,
)


def test_mermaid_output_is_line_by_line_well_formed(
    nasty: Graph, example_graphs: list[Graph]
) -> None:
    for graph in [nasty, *example_graphs]:
        text = render(graph, "mermaid")
        assert text.startswith("flowchart TD\n")
        assert text.endswith("\n")
        for line in text.splitlines():
            assert _MERMAID_LINE.match(line), f"{graph.workflow.name}: {line!r}"


def test_mermaid_shapes_and_dashed_compensation(nasty: Graph) -> None:
    text = render(nasty, "mermaid")
    shapes = {
        "step": '["',
        "branch": '{"',
        "loop": '{{"',
        "sleep": '(("',
        "signal": '>"',
        "parallel": '[["',
        "map": '[["',
        "raise": '[/"',
        "rollback": '[/"',
        "return": '(["',
        "except": '{"',
    }
    for node in nasty.nodes:
        if node.kind in shapes:
            assert f"    {node.id}{shapes[node.kind]}" in text, node.kind
    compensate = [e for e in nasty.edges if e.kind == "compensate"]
    assert compensate
    for edge in compensate:
        assert f'    {edge.source} -.->|"compensate"| {edge.target}\n' in text
    step = next(n for n in nasty.nodes if n.kind == "step" and n.step == "b")  # type: ignore[union-attr]
    assert "retries 3 · timeout 30s" in text.split(f"    {step.id}[")[1].split("\n")[0]
    assert "#34;say \\#34;hi\\#34; | #35;1 #60;b#62;" in text
    assert "<script>" not in text


def test_mermaid_renders_in_the_real_renderer(nasty: Graph, example_graphs: list[Graph]) -> None:
    graphs = [nasty, *example_graphs]
    results = render_mermaid([render(graph, "mermaid") for graph in graphs])
    for graph, result in zip(graphs, results, strict=True):
        assert result["ok"], f"{graph.workflow.name}: {result.get('error')}"
        assert "<svg" in result["svg"]


def test_dot_renders_with_graphviz(nasty: Graph, example_graphs: list[Graph]) -> None:
    for graph in [nasty, *example_graphs]:
        text = render(graph, "dot")
        assert text.startswith(f'digraph "{graph.workflow.name}" {{')
        svg = render_dot(text)
        assert svg.count('class="node"') == len(graph.nodes)
    dot = render(nasty, "dot")
    assert re.search(r'n\d+ -> n\d+ \[style=dashed, color="#ad1457"', dot)


def test_html_is_one_self_contained_page(nasty: Graph) -> None:
    page = render(nasty, "html")
    assert page.startswith("<!doctype html>")
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert page.count('<g class="node ') == len(nasty.nodes)
    assert "<details><summary>Mermaid source</summary>" in page


def test_json_format_is_the_canonical_graph(nasty: Graph) -> None:
    assert render(nasty, "json") == nasty.to_json()


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = lower_snippet(tmp_path, NASTY)
    second = lower_snippet(tmp_path, NASTY)
    for fmt in ("json", "mermaid", "dot", "html"):
        assert render(first, fmt) == render(second, fmt)  # type: ignore[arg-type]


def test_templates_refuse_undefined_variables() -> None:
    with pytest.raises(jinja2.UndefinedError):
        _env().get_template("mermaid.j2").render({})
