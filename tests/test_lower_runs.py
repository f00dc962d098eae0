"""Lowered constructs run on a worker exactly as the source runs as Python.

Each test writes a module, compiles it with ``vrb-compile`` (the check must
accept it), then runs the workflow twice: its body called directly (steps run
in-process, a small stand-in for ctx) and its graph on a real worker (memory
store). The results and the step calls, in order, must be the same.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest

from runtime import Client, Worker, WorkflowFailed
from runtime.graphs import GraphLibrary
from vrb_compile.api import CheckConfig
from vrb_compile.build import compile_paths
from vrb_compile.ir.models import Graph

PRELUDE = """
import asyncio
from runtime import Step, Workflow, WorkflowContext, step, workflow

CALLS = []


@step("{name}-a")
async def a(x, *rest):
    CALLS.append(("a", x, *rest))
    if x == "fail" or (isinstance(x, int) and x % 2):
        raise ValueError(x)
    return x


@step("{name}-b")
async def b(x, *rest):
    CALLS.append(("b", x, *rest))
    return [x, *rest]

"""


class _Ctx:
    """What a body run as plain Python gets for ``ctx``."""

    async def sleep(self, duration: object) -> None:
        return None


def run_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str, args: list[Any]
) -> tuple[Any, Graph]:
    """Run workflow ``name`` (the module ``PRELUDE + body``) both ways; their common result.

    The module's workflow body must be ``flow`` (a function) or ``Flow`` (a class).
    """
    path = tmp_path / f"{name}.py"
    path.write_text(PRELUDE.format(name=name) + body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    compiled = compile_paths([path], CheckConfig(jobs=1), cwd=tmp_path)
    assert compiled.check.errors == 0, compiled.check.diagnostics
    (graph,) = compiled.graphs
    library = GraphLibrary()
    library.add(graph)

    async def direct() -> Any:
        target = getattr(module, "flow", None) or module.Flow.__vrb_workflow__
        try:
            return await target(_Ctx(), *args)
        except ValueError:
            # On a worker the step's ValueError reaches the body as StepFailed.
            return "failed"

    async def on_worker() -> Any:
        client = Client("memory://")
        worker = Worker(client, library, poll_interval=0.05, heartbeat_interval=10.0)
        try:
            handle = await client.workflow.trigger(graph.workflow.name, args)
            task = asyncio.create_task(worker.start(graph.workflow.name))
            try:
                return await client.workflow.result(handle.run_id, timeout=20)
            except WorkflowFailed:
                return "failed"
            finally:
                await worker.stop()
                await task
        finally:
            await client.close()

    expected = asyncio.run(direct())
    direct_calls = list(module.CALLS)
    module.CALLS.clear()
    assert asyncio.run(on_worker()) == expected
    assert [list(call) for call in module.CALLS] == [list(call) for call in direct_calls]
    module.CALLS.clear()
    return expected, graph


JUMP_IN_FINALLY = """
@workflow("{name}")
async def flow(ctx: WorkflowContext, xs: list) -> list:
    trace = []
    for x in xs:
        try:
            y = await a(x)
            trace.append(y)
        finally:
            trace.append(-x)
            if x > 2:
                {jump}
    else:
        trace.append("else")
    return trace
"""


@pytest.mark.parametrize("jump", ["break", "continue"])
def test_break_or_continue_in_finally_swallows_the_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jump: str
) -> None:
    # The step fails on odd numbers; the jump in the finally block discards the failure.
    name = f"runs_jump_{jump}"
    result, _ = run_both(
        tmp_path, monkeypatch, name, JUMP_IN_FINALLY.format(name=name, jump=jump), [[2, 3, 4, 5]]
    )
    assert result == ([2, -2, -3] if jump == "break" else [2, -2, -3, 4, -4, -5, "else"])


CONDITIONAL = """
@workflow("{name}")
async def flow(ctx: WorkflowContext, n: int) -> list:
    x = await a(n) if n > 3 else await b(n)
    y = await b(n, 1) if n > 5 else []
    y += await b(n, 2) if n > 1 else await b(n + 1) if n else [100]
    await a(n) if n == 8 else await b(n, 3)
    z = await a(n) if n != 8 else n
    return [x, y, z]
"""


@pytest.mark.parametrize("n", [0, 1, 2, 4, 6, 8])
def test_conditional_expressions_around_awaits_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    name = f"runs_conditional_{n}"
    _, graph = run_both(tmp_path, monkeypatch, name, CONDITIONAL.format(name=name), [n])
    assert sum(node.kind == "branch" for node in graph.nodes) == 6


CLASS_STYLE = """
@Workflow("{name}")
class Flow:
    @Step("{name}-own")
    async def own(self, x):
        CALLS.append(("own", x))
        return x * 10

    async def _twice(self, x, *, extra=0):
        first = await self.own(x)
        second = await self._plus(x, extra)
        return [first, *second]

    async def _plus(self, x, extra):
        based = await self.base(x)
        return based + extra

    @staticmethod
    async def _static(x):
        return await b(x)

    @classmethod
    async def _named(cls, x):
        found = await a(x)
        return [cls.__name__, found]

    async def base(self, x):
        return await b(x, "base")

    async def run(self, ctx, n):
        total = await self._twice(n, extra=[1])
        static = await self._static(n)
        named = await self._named(n + 2)
        return [total, static, named]
"""


def test_class_style_async_methods_are_inlined_with_self_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "runs_class_methods"
    result, graph = run_both(tmp_path, monkeypatch, name, CLASS_STYLE.format(name=name), [4])
    assert result == [[40, 4, "base", 1], [4], ["Flow", 6]]
    helpers = [node.helper for node in graph.nodes if node.kind == "call"]  # type: ignore[union-attr]
    assert helpers == ["Flow._twice", "Flow._plus", "Flow.base", "Flow._static", "Flow._named"]


GATHER = """
@workflow("{name}")
async def flow(ctx: WorkflowContext, xs: list) -> list:
    pairs = await asyncio.gather(*(b(x, y) for x in xs if x for y in range(x) if y != 1))
    split = await asyncio.gather(*[b(k, v) for k, v in zip(xs, xs[1:]) for _ in "ab"])
    return [pairs, split]
"""


def test_gather_with_several_for_clauses_maps_every_combination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "runs_gather_nested"
    result, graph = run_both(tmp_path, monkeypatch, name, GATHER.format(name=name), [[0, 2, 3]])
    assert result[0] == [[2, 0], [3, 0], [3, 2]]
    assert [node.kind for node in graph.nodes].count("map") == 2


CTX_HELPER = """
async def nap(c, x, *, then=None):
    await c.sleep(0)
    return await b(x, then)


@workflow("{name}")
async def flow(ctx: WorkflowContext, n: int) -> list:
    first = await nap(ctx, n)
    second = await nap(ctx, n + 1, then=first)
    return [first, second]
"""


def test_a_helper_uses_the_ctx_it_is_passed_under_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "runs_ctx_helper"
    result, graph = run_both(tmp_path, monkeypatch, name, CTX_HELPER.format(name=name), [3])
    assert result == [[3, None], [4, [3, None]]]
    sleeps = [node for node in graph.nodes if node.kind == "sleep"]
    assert len(sleeps) == 2
    assert all(node.scope is not None for node in sleeps)


HELPER_RAISES = """
async def check(x):
    t = x
    if x % 2:
        raise ValueError(x)
    return await b(t)


@workflow("{name}")
async def flow(ctx: WorkflowContext, xs: list) -> list:
    trace = []
    for x in xs:
        try:
            got = await check(x)
            trace.append(got)
        except ValueError as error:
            trace.append(type(error).__name__)
            y = await a(x + 1)
            trace.append(y)
    return trace
"""


def test_an_exception_escaping_a_helper_is_handled_in_the_callers_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the source/graph property: the helper's raise had an error edge
    # straight to the caller's handler, which then ran in the helper's frame
    # (NameError on the caller's names).
    name = "runs_helper_raises"
    result, graph = run_both(tmp_path, monkeypatch, name, HELPER_RAISES.format(name=name), [[2, 3]])
    assert result == [[2], "ValueError", 4]
    (call,) = [node for node in graph.nodes if node.kind == "call"]
    inside = {node.id for node in graph.nodes if node.scope == call.id}
    assert not [e for e in graph.edges if e.kind == "error" and e.source in inside]
    assert [e.kind for e in graph.out_edges(call.id)] == ["error", "next"]
