"""Discovery: steps and workflows in all three styles, across modules, and their options."""

from __future__ import annotations

from pathlib import Path

from vrb_compile.discover import Index, ModuleSummary, discover, summarise
from vrb_compile.source import SourceFile, load_sources

FUNCTIONAL = """\
from datetime import timedelta

from runtime import Backoff, step, workflow

from .undo import release


async def _reserve(order):
    return order


async def _undo(error, output):
    pass


reserve = step("reserve", _reserve, retries=3, timeout="30s", rollback_fn=_undo,
               backoff=Backoff(initial="1s", factor=3.0, max="1m"))
ship = step("ship", fn=_reserve, timeout=timedelta(minutes=2), rollback_fn=release,
            backoff={"initial": 2, "factor": 2.0, "max": 10})
notify = step("notify", lambda order: order, rollback_fn=lambda e, o: None)
dynamic = step(NAME, _reserve)


async def order_flow(ctx, order):
    await reserve(order)
    return order


workflow("order", max_events=1000, execution_timeout="5m").run(order_flow)
later = workflow("later")
later.run(order_flow)
"""

DECORATOR = """\
import runtime.sdk as sdk
from runtime import step as s


@s("validate", retries=2)
async def validate(order):
    return order


@sdk.workflow("checkout")
async def checkout(ctx, order):
    return await validate(order)
"""

CLASS_STYLE = """\
from runtime import Step, Workflow


@Workflow("cls", max_events=50)
class OrderFlow:
    @Step("cls-reserve", retries=1)
    async def reserve(self, order):
        return order

    async def run(self, ctx, order, extra=None):
        return await self.reserve(order)
"""

CROSS = """\
from runtime import workflow

from . import functional
from .functional import order_flow

workflow("cross").run(order_flow)
workflow("cross-attr").run(functional.order_flow)
"""


def _index(tmp_path: Path) -> Index:
    files = {
        "shop/__init__.py": "",
        "shop/undo.py": "async def release(error, output):\n    pass\n",
        "shop/functional.py": FUNCTIONAL,
        "shop/decorated.py": DECORATOR,
        "shop/classes.py": CLASS_STYLE,
        "shop/cross.py": CROSS,
        "shop/broken.py": "def broken(:\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return discover(load_sources([tmp_path], cwd=tmp_path))


def test_every_style_is_found(tmp_path: Path) -> None:
    index = _index(tmp_path)
    assert [(w.name, w.style, w.qualname) for w in index.workflows] == [
        ("cls", "class", "shop.classes:OrderFlow.run"),
        ("cross", "functional", "shop.functional:order_flow"),
        ("cross-attr", "functional", "shop.functional:order_flow"),
        ("checkout", "decorator", "shop.decorated:checkout"),
        ("order", "functional", "shop.functional:order_flow"),
        ("later", "functional", "shop.functional:order_flow"),
    ]
    assert sorted(index.steps) == ["cls-reserve", "notify", "reserve", "ship", "validate"]


def test_options_are_read_from_literals(tmp_path: Path) -> None:
    index = _index(tmp_path)
    reserve, ship = index.steps["reserve"], index.steps["ship"]
    assert (reserve.retries, reserve.timeout) == (3, 30.0)
    assert reserve.backoff == {"initial": 1.0, "factor": 3.0, "max": 60.0}
    assert (ship.retries, ship.timeout) == (0, 120.0)
    assert ship.backoff == {"initial": 2.0, "factor": 2.0, "max": 10.0}
    assert index.steps["validate"].retries == 2
    order = next(w for w in index.workflows if w.name == "order")
    assert (order.max_events, order.execution_timeout) == (1000, 300.0)
    cls = next(w for w in index.workflows if w.name == "cls")
    assert (cls.max_events, cls.execution_timeout) == (50, None)


def test_rollback_and_step_references(tmp_path: Path) -> None:
    index = _index(tmp_path)
    assert index.steps["reserve"].rollback_ref == "shop.functional:_undo"
    assert index.steps["ship"].rollback_ref == "shop.undo:release"
    assert index.steps["notify"].rollback_ref == "shop.functional:<lambda>"
    assert index.steps["validate"].rollback_ref is None
    assert index.steps["reserve"].ref == "shop.functional:reserve"
    assert index.steps["cls-reserve"].ref == "shop.classes:OrderFlow.reserve"
    fn = index.steps["cls-reserve"].function
    assert fn is not None
    assert fn.name.value == "reserve"
    fn = index.steps["reserve"].function
    assert fn is not None
    assert fn.name.value == "_reserve"
    assert index.steps["notify"].function is None  # a lambda


def test_workflow_bodies_params_and_calls(tmp_path: Path) -> None:
    index = _index(tmp_path)
    cls = next(w for w in index.workflows if w.name == "cls")
    assert (cls.ctx_param, cls.params) == ("ctx", ("order", "extra"))
    assert cls.class_node is not None
    assert cls.class_node.name.value == "OrderFlow"
    cross = next(w for w in index.workflows if w.name == "cross")
    assert cross.source.display_path == "shop/cross.py"
    assert cross.body_source.display_path == "shop/functional.py"
    assert (cross.ctx_param, cross.params) == ("ctx", ("order",))
    body = cross.function
    assert body is not None
    call = body.body.body[0].body[0].value.expression  # type: ignore[attr-defined]
    step = index.step_for_call(cross.body_source, call.func)
    assert step is not None
    assert step.name == "reserve"
    assert index.step_for_call(cross.body_source, call.func, frozenset({"reserve"})) is None


def test_summary_of_a_syntax_error_and_the_json_round_trip(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def broken(:\n")
    (tmp_path / "good.py").write_text(FUNCTIONAL.replace("from .undo import release\n", ""))
    bad = summarise(SourceFile.from_path(tmp_path / "bad.py", cwd=tmp_path))
    assert bad.syntax_error is not None
    assert bad.syntax_error.line == 1
    assert (bad.steps, bad.workflows) == ([], [])
    good = summarise(SourceFile.from_path(tmp_path / "good.py", cwd=tmp_path))
    assert ModuleSummary.from_json(good.to_json()) == good
    assert good.needs_analysis
    assert [s.span[:2] for s in good.steps] == [(15, 16), (17, 13), (19, 15)]


def test_non_literal_names_are_skipped_and_options_by_constant_are_evaluated(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.py").write_text(
        "from runtime import step\nN = 'x'\nRETRIES = 3\n\n\nasync def f(x):\n    return x\n\n\n"
        "a = step(N, f)\nb = step('b', f, retries=RETRIES, timeout=T)\n"
    )
    index = discover(load_sources([tmp_path / "m.py"], cwd=tmp_path))
    assert list(index.steps) == ["b"]
    # The constant is evaluated; the undefined name is a VRB307 problem, its value the default.
    assert (index.steps["b"].retries, index.steps["b"].timeout) == (3, None)
    [problem] = index.project.option_problems
    assert (problem.path, problem.span[:2]) == ("m.py", (11, 43))
    assert problem.message == (
        "step 'b': timeout=T cannot be evaluated at compile time: T is not defined"
    )
