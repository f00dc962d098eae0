"""Lowering: each construct of SPEC section 3 becomes the documented nodes and edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lower_helpers import (
    edges_of,
    kinds,
    lower_file,
    lower_snippet,
    of_kind,
    source_of,
    step_nodes,
    successor,
)
from vrb_compile.ir.models import (
    CallNode,
    CodeNode,
    ExceptNode,
    LoopNode,
    MapNode,
    ParallelNode,
    RaiseNode,
    ReturnNode,
    RollbackNode,
    SignalNode,
    SleepNode,
    StepNode,
)
from vrb_compile.lower import LoweringError


def test_sequence_of_steps_binds_results_and_keeps_arguments_as_source(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("seq")
        async def seq(ctx: WorkflowContext, order: dict) -> dict:
            await a(order, *extra, key=order["id"], **opts)
            x, y = await b(order)
            return {"x": x, "y": y}
        """,
    )
    assert kinds(graph) == ["start", "step", "step", "return", "end"]
    first, second = of_kind(graph, "step")
    assert isinstance(first, StepNode)
    assert isinstance(second, StepNode)
    assert first.target is None
    assert [(arg.expr, arg.keyword, arg.star) for arg in first.args] == [
        ("order", None, ""),
        ("extra", None, "*"),
        ('order["id"]', "key", ""),
        ("opts", None, "**"),
    ]
    assert second.step == "b"
    assert second.target == "x, y"
    assert [p.name for p in graph.params] == ["order"]
    assert graph.context_param == "ctx"
    assert [ref.name for ref in graph.steps] == ["a", "b"]
    b_ref = graph.step_ref("b")
    assert (b_ref.retries, b_ref.timeout, b_ref.ref) == (3, 30.0, "flow:b")
    assert successor(graph, second.id).kind == "return"


def test_pure_statements_form_one_code_node_per_basic_block(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("blocks")
        async def blocks(ctx: WorkflowContext, items: list) -> int:
            total = 0  # a comment that is not part of the code
            total += len(items)
            label = "big" if total > 3 else "small"
            await a(total)
            n = total * 2; m = n + 1
            return m
        """,
    )
    assert kinds(graph) == ["start", "code", "step", "code", "return", "end"]
    first, second = of_kind(graph, "code")
    assert isinstance(first, CodeNode)
    assert isinstance(second, CodeNode)
    assert first.code == 'total = 0\ntotal += len(items)\nlabel = "big" if total > 3 else "small"'
    assert first.assigns == ("label", "total")
    assert not first.rewritten
    assert second.code == "n = total * 2\nm = n + 1"
    assert (first.line, first.end_line) == (first.line, first.line + 2)


def test_if_elif_else_lowers_to_branch_nodes_with_true_and_false_edges(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("branches")
        async def branches(ctx: WorkflowContext, n: int) -> None:
            if n > 10:
                await a(n)
            elif n > 5:
                await b(n)
            else:
                await c(n)
            await a(0)
        """,
    )
    outer, inner = of_kind(graph, "branch")
    assert outer.test == "n > 10"
    assert inner.test == "n > 5"
    assert successor(graph, outer.id, "true").step == "a"  # type: ignore[union-attr]
    assert successor(graph, outer.id, "false").id == inner.id
    assert successor(graph, inner.id, "true").step == "b"  # type: ignore[union-attr]
    assert successor(graph, inner.id, "false").step == "c"  # type: ignore[union-attr]
    last = of_kind(graph, "step")[-1]
    assert sorted(e.source for e in graph.edges if e.target == last.id) == sorted(
        n.id for n in of_kind(graph, "step")[:3]
    )


def test_for_loop_has_a_back_edge_an_exit_and_loop_ids_on_body_nodes(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("loop")
        async def loop(ctx: WorkflowContext, items: list) -> None:
            for i, item in enumerate(items):
                await a(item)
            await b()
        """,
    )
    (header,) = of_kind(graph, "loop")
    assert isinstance(header, LoopNode)
    assert (header.loop, header.target, header.iter) == ("for", "i, item", "enumerate(items)")
    body = successor(graph, header.id, "next")
    assert body.kind == "step"
    assert body.loops == (header.id,)
    assert successor(graph, body.id, "loop").id == header.id
    assert successor(graph, header.id, "exit").step == "b"  # type: ignore[union-attr]
    assert successor(graph, header.id, "exit").loops == ()


def test_break_continue_and_loop_else(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("control")
        async def control(ctx: WorkflowContext, items: list) -> str:
            for item in items:
                if item is None:
                    continue
                if item == "stop":
                    break
                await a(item)
            else:
                await b()
            return "done"
        """,
    )
    (header,) = of_kind(graph, "loop")
    skip, stop = of_kind(graph, "branch")
    # continue: straight back to the loop header; break: past the else block.
    assert successor(graph, skip.id, "true").id == header.id
    ret = of_kind(graph, "return")[0]
    assert successor(graph, stop.id, "true").id == ret.id
    else_step = step_nodes(graph)["b"]
    assert successor(graph, header.id, "exit").id == else_step.id
    assert successor(graph, else_step.id).id == ret.id
    assert successor(graph, step_nodes(graph)["a"].id, "loop").id == header.id


def test_while_loop_nested_in_for_tracks_both_loops(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("nested", max_events=100)
        async def nested(ctx: WorkflowContext, items: list) -> None:
            for item in items:
                n = 0
                while n < 3:
                    n = await a(item, n)
        """,
    )
    outer, inner = of_kind(graph, "loop")
    assert isinstance(inner, LoopNode)
    assert inner.loop == "while"
    assert inner.test == "n < 3"
    assert inner.loops == (outer.id,)
    assert step_nodes(graph)["a"].loops == (outer.id, inner.id)
    assert successor(graph, inner.id, "exit").id == outer.id


def test_try_except_has_error_edges_from_every_body_node_to_its_handler(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        class Refused(Exception):
            pass


        @workflow("guarded")
        async def guarded(ctx: WorkflowContext, order: dict) -> str:
            try:
                x = await a(order)
                y = x + 1
                await b(y)
            except (Refused, KeyError) as error:
                return str(error)
            except Exception:
                await c()
                raise
            else:
                await a("else")
            return "ok"
        """,
    )
    first_clause, second_clause = of_kind(graph, "except")
    assert isinstance(first_clause, ExceptNode)
    assert isinstance(second_clause, ExceptNode)
    assert (first_clause.type, first_clause.name) == ("(Refused, KeyError)", "error")
    assert (second_clause.type, second_clause.name) == ("Exception", None)
    protected = [
        n for n in graph.nodes if n.line in range(first_clause.line - 3, first_clause.line)
    ]
    assert [n.kind for n in protected] == ["step", "code", "step"]
    for node in protected:
        assert successor(graph, node.id, "error").id == first_clause.id
    assert successor(graph, first_clause.id, "false").id == second_clause.id
    unmatched = successor(graph, second_clause.id, "false")
    assert isinstance(unmatched, RaiseNode)
    assert unmatched.exc is None
    # The else block is not protected by the handlers.
    else_step = next(n for n in of_kind(graph, "step") if n.args and n.args[0].expr == '"else"')  # type: ignore[union-attr]
    assert not [e for e in graph.edges if e.source == else_step.id and e.kind == "error"]
    reraise = next(n for n in of_kind(graph, "raise") if n.line > second_clause.line)
    assert not [e for e in graph.edges if e.source == reraise.id]


def test_finally_runs_on_every_way_out(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("cleanup")
        async def cleanup(ctx: WorkflowContext, n: int) -> int:
            try:
                if n:
                    return await a(n)
                await b(n)
            finally:
                await c()
            return 0
        """,
    )
    finally_steps = [n for n in of_kind(graph, "step") if n.step == "c"]  # type: ignore[union-attr]
    # One copy after the early return, one on the normal path, one for exceptions.
    assert len(finally_steps) == 3
    saved = [n for n in of_kind(graph, "code") if isinstance(n, CodeNode) and n.rewritten]
    assert [n.code for n in saved] == ["_vrb_return = _vrb_t1"]
    returns = of_kind(graph, "return")
    assert [n.value for n in returns] == ["_vrb_return", "0"]  # type: ignore[union-attr]
    error_copy = finally_steps[-1]
    assert successor(graph, error_copy.id).kind == "raise"
    assert {e.target for e in edges_of(graph, "error")} == {error_copy.id}


def test_a_bare_raise_names_the_exception_its_handler_or_finally_copy_caught(
    tmp_path: Path,
) -> None:
    # Found by the source/graph property: a try nested in a finally caught its own
    # error, and the finally's re-raise then raised that one instead of the pending one.
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("nested")
        async def nested(ctx: WorkflowContext, n: int) -> int:
            try:
                if n:
                    raise ValueError(n)
            except KeyError:
                raise
            finally:
                try:
                    await a(n)
                except Exception:
                    n = 0
            return n
        """,
    )
    raises = [node for node in of_kind(graph, "raise") if isinstance(node, RaiseNode)]
    handling = {node.id: node.handling for node in raises if node.exc is None}
    excepts = {node.type: [] for node in of_kind(graph, "except")}  # type: ignore[union-attr]
    for node in of_kind(graph, "except"):
        excepts[node.type].append(node.id)  # type: ignore[union-attr]
    (clause,) = excepts["KeyError"]
    (copy_entry,) = {e.target for e in graph.out_edges(clause) if e.kind == "error"}
    # The user's raise (after `true`) and the unmatched re-raise (after `false`)
    # re-raise what the KeyError clause caught.
    assert handling[successor(graph, clause, "true").id] == clause
    assert handling[successor(graph, clause, "false").id] == clause
    # A try nested in the finally (one per copy) re-raises what it caught...
    assert len(excepts["Exception"]) == 2
    for inner in excepts["Exception"]:
        assert handling[successor(graph, inner, "false").id] == inner
    # ...and the end of the error copy re-raises what entered the copy.
    assert sorted(handling.values()) == sorted([clause, clause, *excepts["Exception"], copy_entry])
    (value_error,) = [node for node in raises if node.exc == "ValueError(n)"]
    assert value_error.handling is None


def test_raise_without_handler_ends_the_path(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("fails")
        async def fails(ctx: WorkflowContext, n: int) -> None:
            if n < 0:
                raise ValueError(f"negative: {n}") from None
            await a(n)
        """,
    )
    (node,) = of_kind(graph, "raise")
    assert isinstance(node, RaiseNode)
    assert (node.exc, node.cause) == ('ValueError(f"negative: {n}")', "None")
    assert graph.out_edges(node.id) == []


def test_sleep_and_signal_nodes_and_signals_inside_steps(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @step("wait-inside")
        async def wait_inside(ctx: StepContext, request: dict) -> dict:
            return await ctx.wait_for_signal("manager-decision")


        @workflow("waits")
        async def waits(ctx: WorkflowContext, request: dict) -> dict:
            await ctx.sleep("5m")
            decision = await ctx.wait_for_signal("approval", timeout=3600)
            other = await ctx.wait_for_signal(request["channel"])
            return await wait_inside(request)
        """,
    )
    (sleep,) = of_kind(graph, "sleep")
    assert isinstance(sleep, SleepNode)
    assert sleep.duration == '"5m"'
    first, second = of_kind(graph, "signal")
    assert isinstance(first, SignalNode)
    assert isinstance(second, SignalNode)
    assert (first.signal, first.timeout, first.target) == ('"approval"', "3600", "decision")
    assert (second.signal, second.timeout) == ('request["channel"]', None)
    assert [(s.name, s.literal, s.where) for s in graph.signals] == [
        ("approval", True, "body"),
        ('request["channel"]', False, "body"),
        ("manager-decision", True, "step:wait-inside"),
    ]


def test_parallel_and_map_nodes(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("fanout")
        async def fanout(ctx: WorkflowContext, xs: list) -> list:
            left, right = await ctx.parallel([lambda: a(xs[0]), lambda: b(xs[1], flag=True)])
            results = await asyncio.gather(*(c(x, left) for x in xs if x))
            more = await asyncio.gather(*[a(y) for y in results])
            return [left, right, results, more]
        """,
    )
    (parallel,) = of_kind(graph, "parallel")
    assert isinstance(parallel, ParallelNode)
    assert parallel.target == "left, right"
    assert [(br.step, [arg.expr for arg in br.args]) for br in parallel.branches] == [
        ("a", ["xs[0]"]),
        ("b", ["xs[1]", "True"]),
    ]
    first, second = of_kind(graph, "map")
    assert isinstance(first, MapNode)
    assert isinstance(second, MapNode)
    assert (first.step, first.item, first.iter, first.ifs, first.target) == (
        "c",
        "x",
        "xs",
        ("x",),
        "results",
    )
    assert [arg.expr for arg in first.args] == ["x", "left"]
    assert (second.step, second.iter, second.target) == ("a", "results", "more")


def test_module_local_helper_is_inlined_in_its_own_frame(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        async def charge_twice(amount, *, note="x"):
            first = await a(amount)
            if first:
                return first
            await b(amount, note)


        @workflow("inlined")
        async def inlined(ctx: WorkflowContext, amount: float) -> None:
            total = await charge_twice(amount, note="y")
            await c(total)
        """,
    )
    (call,) = of_kind(graph, "call")
    assert isinstance(call, CallNode)
    assert (call.helper, call.module, call.target) == ("charge_twice", "flow", "total")
    assert [(p.name, p.kind, p.default) for p in call.params] == [
        ("amount", "positional_or_keyword", None),
        ("note", "keyword_only", '"x"'),
    ]
    inner = [n for n in graph.nodes if n.scope == call.id]
    assert [n.kind for n in inner] == ["step", "branch", "return", "step", "return"]
    after = step_nodes(graph)["c"]
    helper_returns = [n for n in inner if isinstance(n, ReturnNode)]
    assert [n.value for n in helper_returns] == ["first", None]
    for node in helper_returns:
        assert successor(graph, node.id).id == after.id


def test_recursive_helper_is_refused(tmp_path: Path) -> None:
    path = source_of(
        tmp_path,
        """
        async def again(n):
            await a(n)
            await again(n - 1)


        @workflow("recursive")
        async def recursive(ctx: WorkflowContext, n: int) -> None:
            await again(n)
        """,
    )
    with pytest.raises(
        LoweringError, match=r"recursive helper calls cannot be inlined \(again -> again\)"
    ) as info:
        lower_file(path)
    assert info.value.line == path.read_text().splitlines().index("    await again(n - 1)") + 1


def test_conditional_expression_around_awaits_lowers_to_a_branch(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("conditional")
        async def conditional(ctx: WorkflowContext, n: int) -> int:
            x = await a(n) if n > 1 else 0
            return await b(x) if x else await c()
        """,
    )
    assert kinds(graph) == [
        "start",
        *("branch", "step", "code"),
        *("branch", "step", "return", "step", "return"),
        "end",
    ]
    first, second = of_kind(graph, "branch")
    assert first.test == "n > 1"  # type: ignore[union-attr]
    taken = successor(graph, first.id, "true")
    assert isinstance(taken, StepNode)
    assert (taken.step, taken.target) == ("a", "x")
    other = successor(graph, first.id, "false")
    assert isinstance(other, CodeNode)
    assert (other.code, other.rewritten, other.assigns) == ("x = 0", True, ("x",))
    assert successor(graph, taken.id) == successor(graph, other.id) == second
    assert {node.line for node in graph.nodes[1:4]} == {first.line}
    for kind, step in (("true", "b"), ("false", "c")):
        node = successor(graph, second.id, kind)
        assert isinstance(node, StepNode)
        assert node.step == step
        assert successor(graph, node.id).kind == "return"


def test_await_inside_and_or_is_refused_with_its_line(tmp_path: Path) -> None:
    path = source_of(
        tmp_path,
        """
        @workflow("conditional")
        async def conditional(ctx: WorkflowContext, n: int) -> int:
            x = n and await a(n)
            return x
        """,
    )
    with pytest.raises(LoweringError, match="an await inside an and/or expression") as info:
        lower_file(path)
    assert info.value.line == path.read_text().splitlines().index("    x = n and await a(n)") + 1


def test_class_style_async_method_is_inlined_with_self_bound(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        from runtime import Step, Workflow, WorkflowContext


        @Workflow("class-helpers")
        class ClassHelpers:
            @Step("reserve")
            async def reserve(self, order):
                return order

            async def _reserve_twice(self, order, *, times=2):
                first = await self.reserve(order)
                return [first] * times

            @staticmethod
            async def _plain(order):
                return order

            async def run(self, ctx: WorkflowContext, order: dict) -> list:
                reserved = await self._reserve_twice(order, times=3)
                return await self._plain(reserved)
        """,
        header=False,
    )
    method, static = of_kind(graph, "call")
    assert isinstance(method, CallNode)
    assert isinstance(static, CallNode)
    assert (method.helper, method.module, method.target) == (
        "ClassHelpers._reserve_twice",
        "flow",
        "reserved",
    )
    assert [p.name for p in method.params] == ["self", "order", "times"]
    assert [(arg.expr, arg.keyword) for arg in method.args] == [
        ("self", None),
        ("order", None),
        ("3", "times"),
    ]
    assert [n.kind for n in graph.nodes if n.scope == method.id] == ["step", "return"]
    assert static.helper == "ClassHelpers._plain"
    assert [arg.expr for arg in static.args] == ["reserved"]


def test_gather_with_several_for_clauses_is_one_map_over_the_combinations(
    tmp_path: Path,
) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("pairs")
        async def pairs(ctx: WorkflowContext, xs: list) -> list:
            return await asyncio.gather(*(a(x, k) for x in xs if x for k, _ in x.items()))
        """,
    )
    (node,) = of_kind(graph, "map")
    assert isinstance(node, MapNode)
    assert (node.item, node.iter, node.ifs) == (
        "x, (k, _)",
        "[(x, (k, _)) for x in xs if x for k, _ in x.items()]",
        (),
    )
    assert [arg.expr for arg in node.args] == ["x", "k"]


def test_a_helper_passed_the_ctx_lowers_its_ctx_calls(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        async def pause(context, *, then):
            await context.sleep("5m")
            return await context.wait_for_signal(then)


        @workflow("paused")
        async def paused(ctx: WorkflowContext) -> object:
            return await pause(then="go", context=ctx)
        """,
    )
    (call,) = of_kind(graph, "call")
    sleep, signal = [n for n in graph.nodes if n.scope == call.id][:2]
    assert isinstance(sleep, SleepNode)
    assert isinstance(signal, SignalNode)
    assert (sleep.duration, signal.signal) == ('"5m"', "then")


def test_a_body_that_always_raises_has_no_end(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("refuses")
        async def refuses(ctx: WorkflowContext) -> None:
            raise ValueError("no")
        """,
    )
    assert kinds(graph) == ["start", "raise"]


def test_nested_awaits_are_hoisted_in_evaluation_order(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("hoist")
        async def hoist(ctx: WorkflowContext, n: int) -> int:
            total = (await a(n)) + await b(await c(n))
            if await a(total):
                return total
            return 0
        """,
    )
    steps = of_kind(graph, "step")
    assert [(n.step, n.target) for n in steps] == [  # type: ignore[union-attr]
        ("a", "_vrb_t1"),
        ("c", "_vrb_t2"),
        ("b", "_vrb_t3"),
        ("a", "_vrb_t4"),
    ]
    code = of_kind(graph, "code")[0]
    assert isinstance(code, CodeNode)
    assert code.rewritten
    assert code.code == "total = (_vrb_t1) + _vrb_t3"
    assert of_kind(graph, "branch")[0].test == "_vrb_t4"  # type: ignore[union-attr]


def test_saga_of_three_rollback_steps_chains_compensation_in_reverse_order(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("trip")
        async def trip(ctx: WorkflowContext, user: str) -> None:
            await r1(user)
            await a(user)
            await r2(user)
            await r3(user)
        """,
    )
    steps = step_nodes(graph)
    rollbacks = {n.step: n for n in of_kind(graph, "rollback")}  # type: ignore[union-attr]
    assert sorted(rollbacks) == ["r1", "r2", "r3"]
    for name, node in rollbacks.items():
        assert isinstance(node, RollbackNode)
        assert node.of == steps[name].id
        assert node.rollback_ref == "flow:_undo"
        assert successor(graph, steps[name].id, "compensate").id == node.id
    step_to_rollback = [
        e for e in edges_of(graph, "compensate") if e.source in {s.id for s in steps.values()}
    ]
    assert len(step_to_rollback) == 3
    # Following compensate edges from the last rollback walks the saga: r3, r2, r1.
    order, current = [], rollbacks["r3"]
    while True:
        order.append(current.step)  # type: ignore[union-attr]
        nxt = [e.target for e in graph.out_edges(current.id) if e.kind == "compensate"]
        if not nxt:
            break
        current = graph.node(nxt[0])
    assert order == ["r3", "r2", "r1"]
    assert "a" not in rollbacks


def test_compensation_order_follows_each_path(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("paths")
        async def paths(ctx: WorkflowContext, fast: bool) -> None:
            await r1()
            if fast:
                await r2()
            await r3()
        """,
    )
    rollbacks = {n.step: n.id for n in of_kind(graph, "rollback")}  # type: ignore[union-attr]
    targets = sorted(e.target for e in graph.out_edges(rollbacks["r3"]) if e.kind == "compensate")
    assert targets == sorted([rollbacks["r2"], rollbacks["r1"]])


def test_parallel_branches_each_get_a_rollback(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("par-saga")
        async def par_saga(ctx: WorkflowContext, amount: float) -> list:
            await r3(amount)
            return await ctx.parallel([lambda: r1(amount), lambda: a(amount), lambda: r2(amount)])
        """,
    )
    (parallel,) = of_kind(graph, "parallel")
    rollbacks = [
        n for n in of_kind(graph, "rollback") if isinstance(n, RollbackNode) and n.of == parallel.id
    ]
    assert [(n.step, n.branch) for n in rollbacks] == [("r2", 2), ("r1", 0)]
    r3_rollback = next(n for n in of_kind(graph, "rollback") if n.step == "r3")  # type: ignore[union-attr]
    assert successor(graph, rollbacks[0].id, "compensate").id == rollbacks[1].id
    assert successor(graph, rollbacks[1].id, "compensate").id == r3_rollback.id


def test_class_style_steps_are_called_through_self(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        from runtime import Step, Workflow, WorkflowContext


        @Workflow("class-flow", max_events=50, execution_timeout="1m")
        class ClassFlow:
            @Step("reserve", retries=2)
            async def reserve(self, order):
                return {"id": 1}

            async def run(self, ctx: WorkflowContext, order: dict) -> dict:
                reserved = await self.reserve(order)
                return reserved
        """,
        header=False,
    )
    assert graph.source.style == "class"
    assert graph.source.qualname == "ClassFlow.run"
    assert (graph.self_param, graph.context_param) == ("self", "ctx")
    assert (graph.workflow.max_events, graph.workflow.execution_timeout) == (50, 60.0)
    (node,) = of_kind(graph, "step")
    assert isinstance(node, StepNode)
    assert node.step == "reserve"
    assert node.target == "reserved"
    assert graph.steps[0].ref == "flow:ClassFlow.reserve"
    assert graph.steps[0].retries == 2


def test_functional_style_records_source_and_lines(tmp_path: Path) -> None:
    path = source_of(
        tmp_path,
        """
        async def body(ctx: WorkflowContext, order: dict) -> None:
            await a(order)


        workflow("functional").run(body)
        """,
    )
    (graph,) = lower_file(path).values()
    assert graph.source.style == "functional"
    assert (graph.source.module, graph.source.qualname, graph.source.path) == (
        "flow",
        "body",
        "flow.py",
    )
    lines = path.read_text().splitlines()
    assert of_kind(graph, "step")[0].line == lines.index("    await a(order)") + 1
    assert (
        graph.node(graph.entry).line
        == lines.index("async def body(ctx: WorkflowContext, order: dict) -> None:") + 1
    )


def test_statements_after_return_are_left_out(tmp_path: Path) -> None:
    graph = lower_snippet(
        tmp_path,
        """
        @workflow("dead")
        async def dead(ctx: WorkflowContext) -> int:
            return 1
            await a()
        """,
    )
    assert kinds(graph) == ["start", "return", "end"]


def test_with_statement_is_refused(tmp_path: Path) -> None:
    path = source_of(
        tmp_path,
        """
        @workflow("with")
        async def with_(ctx: WorkflowContext) -> None:
            with open("x") as handle:
                await a(handle)
        """,
    )
    with pytest.raises(
        LoweringError, match="a with statement cannot be replayed; move it into a step"
    ):
        lower_file(path)


@pytest.mark.parametrize(
    ("jump", "kind", "target_kind"), [("break", "exit", "return"), ("continue", "loop", "loop")]
)
def test_break_or_continue_in_finally_discards_the_exception(
    tmp_path: Path, jump: str, kind: str, target_kind: str
) -> None:
    graph = lower_snippet(
        tmp_path,
        f"""
        @workflow("jumps")
        async def jumps(ctx: WorkflowContext, xs: list) -> int:
            for x in xs:
                try:
                    await a(x)
                finally:
                    {jump}
            return 1
        """,
    )
    assert kinds(graph) == ["start", "loop", "step", "return", "end"]
    (step,) = of_kind(graph, "step")
    # The normal way out and the exceptional one both take the jump: as in Python,
    # the jump in the finally block swallows the step's exception.
    assert successor(graph, step.id, kind).kind == target_kind
    assert successor(graph, step.id, "error") == successor(graph, step.id, kind)
    assert of_kind(graph, "raise") == []
