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


def test_dot_escape_escapes_quotes_backslashes_and_control_characters() -> None:
    # A newline in the text shows as the two characters \n (escaped for DOT):
    # only the template breaks a label into lines.
    assert dot_escape('say "hi"\\n\nnext') == 'say \\"hi\\"\\\\n\\\\nnext'
    assert dot_escape("a\x1bb\u2028c") == "a\\\\x1bb\\\\u2028c"


def test_mermaid_escape_keeps_control_characters_visible_and_on_one_line() -> None:
    assert mermaid_escape("a\nb\r\tc\x00") == "a\\nb\\r\\tc\\x00"
    assert mermaid_escape("x\u2028y\u2029z") == "x\\u2028y\\u2029z"


CONTROL = """
@step("st\\nep\\x1b")
async def odd(x):
    return x


@workflow("wf\\nflowchart LR\\nX-->Y %%")
async def flow(ctx: WorkflowContext, xs: list) -> int:
    for x in xs:
        if x:
            continue
        await odd(x)
    return await odd(xs)
"""


def test_names_with_control_characters_cannot_break_any_output(tmp_path: Path) -> None:
    graph = lower_snippet(tmp_path, CONTROL)
    assert graph.workflow.name == "wf\nflowchart LR\nX-->Y %%"
    mermaid = render(graph, "mermaid")
    for line in mermaid.splitlines():
        assert _MERMAID_LINE.match(line), line
    assert "%% workflow wf\\nflowchart LR\\nX--#62;Y %% (flow:flow)" in mermaid
    assert "st ep\\x1b" in mermaid  # the label's whitespace collapsed, the escape visible
    assert render_mermaid([mermaid])[0]["ok"]
    dot = render(graph, "dot")
    assert dot.startswith('digraph "wf\\\\nflowchart LR\\\\nX-->Y %%" {\n')
    assert render_dot(dot).count('class="node"') == len(graph.nodes)
    page = render(graph, "html")
    assert "<h1>wf\\nflowchart LR\\nX--&gt;Y %%</h1>" in page
    for text in (mermaid, dot, page):
        assert not any(char in text for char in "\x1b\r\u2028")


def test_labels_hide_compiler_temporaries(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("temps")
        async def temps(ctx: WorkflowContext, n: int) -> int:
            try:
                return await a(n)
            finally:
                await b()
        """,
    )
    mermaid = render(graph, "mermaid")
    assert "_vrb_" not in mermaid
    assert "_vrb_" not in render(graph, "dot")
    step = next(node for node in graph.nodes if node.kind == "step" and node.step == "a")  # type: ignore[union-attr]
    assert f'    {step.id}["a<br/>(n)"]' in mermaid
    assert "⟨return value⟩ = ⟨a⟩" in mermaid
    assert "return ⟨return value⟩" in mermaid


def test_a_branch_back_to_its_loop_is_drawn_as_a_loop_edge(tmp_path: Path) -> None:
    graph = lower_snippet(tmp_path, CONTROL)
    (branch,) = [node for node in graph.nodes if node.kind == "branch"]
    (loop,) = [node for node in graph.nodes if node.kind == "loop"]
    assert f'    {branch.id} -->|"true · loop"| {loop.id}\n' in render(graph, "mermaid")
    assert f'{branch.id} -> {loop.id} [label="true · loop"];' in render(graph, "dot")
    assert "e-true e-loop" in render(graph, "html")


# Each line of our Mermaid output is one of these statements.
_MERMAID_LINE = re.compile(
    r"""^(?:flowchart\ TD
    |%%\ .*
    |\ {4}n\d+(?:\(\["|\("|\["|\{"|\{\{"|\(\("|>"|\[\["|\[/")[^"]*(?:"\]\)|"\)|"\]|"\}|"\}\}|"\)\)|"\]\]|"\\\]|"/\])
    |\ {4}n\d+\ (?:-->|-\.->|==>)(?:\|"[a-z]+(?:\ ·\ loop)?"\|)?\ n\d+
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
