"""Options given by constants: what ``check`` accepts, ``build`` lowers with the exact values.

The rule's valid and invalid snippets are in tests/rules/test_options.py;
these tests follow the values into the graphs, across modules and the cache.
"""

from __future__ import annotations

from pathlib import Path

from vrb_compile.api import CheckConfig, check_paths
from vrb_compile.build import build_paths, compile_paths
from vrb_compile.discover import ModuleSummary, summarise
from vrb_compile.ir.models import Graph
from vrb_compile.source import SourceFile

SHOP = {
    "shop/__init__.py": "",
    "shop/config.py": (
        "from datetime import timedelta\n\n"
        "BASE_RETRIES = 2\n"
        "RETRIES = BASE_RETRIES + 1\n"
        "LIMIT = timedelta(seconds=15) * 2\n"
        'SLOW = {"initial": "100ms", "factor": 3}\n'
        "MAX_EVENTS = 10 ** 3\n"
    ),
    "shop/flows.py": """\
from runtime import Backoff, Step, Workflow, WorkflowContext, step, workflow

from . import config
from .config import LIMIT, RETRIES, SLOW

QUICK = Backoff(initial="250ms", max=LIMIT)


async def _undo(error, output):
    pass


UNDO = _undo


async def _reserve(order):
    return order


reserve = step("fn-reserve", _reserve, retries=RETRIES, timeout=LIMIT, rollback_fn=UNDO)


@step("deco-charge", retries=config.RETRIES * 2, backoff={**SLOW, "max": "2s"})
async def charge(order):
    return order


async def functional(ctx: WorkflowContext, order):
    await reserve(order)
    return await charge(order)


workflow("functional", max_events=config.MAX_EVENTS, execution_timeout=LIMIT).run(functional)


@workflow("decorator", max_events=config.MAX_EVENTS // 2)
async def decorated(ctx: WorkflowContext, order):
    return await charge(order)


@Workflow("class", execution_timeout=LIMIT * 2)
class ClassFlow:
    @Step("cls-ship", retries=RETRIES - 1, backoff=QUICK, timeout="5m")
    async def ship(self, order):
        return order

    async def run(self, ctx: WorkflowContext, order):
        return await self.ship(order)
""",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _graphs(root: Path, *paths: str) -> dict[str, Graph]:
    result = compile_paths([root / p for p in paths], CheckConfig(jobs=1), cwd=root)
    assert result.check.diagnostics == ()
    return {graph.workflow.name: graph for graph in result.graphs}


def test_options_given_by_constants_reach_the_graph_in_every_style(tmp_path: Path) -> None:
    _write(tmp_path, SHOP)
    graphs = _graphs(tmp_path, "shop")

    functional = graphs["functional"]
    assert functional.workflow.model_dump() == {
        "name": "functional",
        "max_events": 1000,
        "execution_timeout": 30.0,
    }
    steps = {ref.name: ref.model_dump() for ref in functional.steps}
    assert steps["fn-reserve"] == {
        "name": "fn-reserve",
        "ref": "shop.flows:reserve",
        "retries": 3,
        "timeout": 30.0,
        "backoff": None,
        "rollback_ref": "shop.flows:_undo",
    }
    assert steps["deco-charge"] == {
        "name": "deco-charge",
        "ref": "shop.flows:charge",
        "retries": 6,
        "timeout": None,
        "backoff": {"initial": 0.1, "factor": 3.0, "max": 2.0},
        "rollback_ref": None,
    }
    assert graphs["decorator"].workflow.max_events == 500
    cls = graphs["class"]
    assert (cls.workflow.max_events, cls.workflow.execution_timeout) == (None, 60.0)
    [ship] = cls.steps
    assert (ship.retries, ship.timeout) == (2, 300.0)
    assert ship.backoff is not None
    assert ship.backoff.model_dump() == {"initial": 0.25, "factor": 2.0, "max": 30.0}


def test_constants_of_a_module_not_named_on_the_command_line_are_evaluated(
    tmp_path: Path,
) -> None:
    _write(tmp_path, SHOP)
    graphs = _graphs(tmp_path, "shop/flows.py")
    assert graphs["functional"].workflow.max_events == 1000
    charge = next(ref for ref in graphs["functional"].steps if ref.name == "deco-charge")
    assert charge.retries == 6


def test_an_unevaluable_option_of_an_imported_steps_module_is_reported_and_nothing_is_built(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/steps.py": "import os\n\nfrom runtime import step\n\n\n"
            "@step('pay', retries=int(os.environ['RETRIES']))\n"
            "async def pay(x):\n    return x\n",
            "shop/flows.py": "from runtime import workflow\n\nfrom .steps import pay\n\n\n"
            "@workflow('order')\nasync def order(ctx, x):\n    return await pay(x)\n",
        },
    )
    built = build_paths([tmp_path / "shop/flows.py"], tmp_path / "out", cwd=tmp_path)
    [diag] = built.check.diagnostics
    assert (diag.code, diag.path, diag.line, diag.column) == ("VRB307", "shop/steps.py", 6, 22)
    assert diag.message == (
        "step 'pay': retries=int(os.environ['RETRIES']) cannot be evaluated at compile time: "
        "int(...) is a call the compiler does not evaluate (only timedelta(...), Backoff(...) "
        "and dict(...) are)"
    )
    assert built.built == ()
    assert not (tmp_path / "out").exists()


def test_editing_an_imported_constant_invalidates_the_cached_check(tmp_path: Path) -> None:
    loop = (
        "from runtime import workflow\n\nfrom .config import MAX\n\n\n"
        "@workflow('poll', max_events=MAX)\nasync def poll(ctx):\n"
        "    while True:\n        await ctx.sleep(1)\n"
    )
    _write(
        tmp_path, {"shop/__init__.py": "", "shop/config.py": "MAX = None\n", "shop/flows.py": loop}
    )
    config = CheckConfig(jobs=1, cache_dir=tmp_path / ".cache")
    first = check_paths([tmp_path / "shop"], config, cwd=tmp_path)
    assert [(d.code, d.path, d.line) for d in first.diagnostics] == [("VRB305", "shop/flows.py", 8)]
    # Only the constant's module changes: the workflow's file, and its cached result, do not.
    (tmp_path / "shop/config.py").write_text("MAX = 100\n")
    second = check_paths([tmp_path / "shop"], config, cwd=tmp_path)
    assert second.diagnostics == ()


def test_a_summary_keeps_constants_and_options_through_the_cache(tmp_path: Path) -> None:
    _write(tmp_path, SHOP)
    source = SourceFile.from_path(tmp_path / "shop/flows.py", cwd=tmp_path)
    summary = summarise(source)
    assert ModuleSummary.from_json(summary.to_json()) == summary
    assert summary.constants["QUICK"].source == "Backoff(initial='250ms', max=LIMIT)"
    assert summary.constants["QUICK"].line == 6
    assert "Backoff" not in summary.constants  # imported once: the symbol table knows it
    charge = next(s for s in summary.steps if s.name == "deco-charge")
    assert [(o.keyword, o.source, o.span[:2]) for o in charge.options] == [
        ("retries", "config.RETRIES * 2", (23, 30)),
        ("backoff", "{**SLOW, 'max': '2s'}", (23, 58)),
    ]
