"""Sagas, parallel branches and map nodes."""

from __future__ import annotations

import pytest

from runtime import Client, WorkflowFailed

from . import flows
from .conftest import run, serving, types


def test_saga_compensates_in_reverse_order_with_outputs_and_error(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-saga", [True])
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error == {
            "type": "StepFailed",
            "message": "step 't-ship' failed: RuntimeError: no courier",
        }
        history = await client.workflow.history(handle.run_id)
        assert [(e.type, e.key) for e in history][-8:] == [
            ("step_retrying", "n3"),
            ("step_started", "n3"),
            ("step_failed", "n3"),
            ("rollback_started", "n2"),
            ("rollback_completed", "n2"),
            ("rollback_started", "n1"),
            ("rollback_completed", "n1"),
            ("run_failed", None),
        ]
        rolled = [e for e in history if e.type == "rollback_completed"]
        assert rolled[1].payload.output == {"released": "R-book"}  # type: ignore[union-attr]

    run(scenario, store_url)
    assert flows.CALLS[-2:] == [
        ("undo-charge", "RuntimeError", {"amount": 12.5}),
        ("undo-reserve", "RuntimeError", {"id": "R-book"}),
    ]
    assert flows.CALLS.count(("ship", True)) == 2  # retries=1: two attempts


def test_saga_without_failure_runs_no_rollback(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-saga", [False])
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == "shipped"
        assert "rollback_completed" not in types(await client.workflow.history(handle.run_id))

    run(scenario, store_url)


def test_step_failed_is_caught_in_the_body_after_compensation(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-saga-caught")
        async with serving(client):
            result = await client.workflow.result(handle.run_id, timeout=10)
        assert result == {"failed": "t-ship", "compensated": ["t-charge", "t-reserve"]}
        history = await client.workflow.history(handle.run_id)
        assert types(history)[-1] == "run_completed"

    run(scenario, store_url)
    assert [call[0] for call in flows.CALLS if call[0].startswith("undo")] == [
        "undo-charge",
        "undo-reserve",
    ]


def test_parallel_branches_return_results_in_branch_order(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-parallel", [False])
        async with serving(client):
            result = await client.workflow.result(handle.run_id, timeout=10)
        assert result == [{"id": "R-a"}, {"amount": 2.0}, "shipped"]
        history = await client.workflow.history(handle.run_id)
        started = [e.key for e in history if e.type == "step_started"]
        assert started == ["n1#0", "n1#1", "n1#2"]

    run(scenario, store_url)


def test_parallel_failing_branch_compensates_completed_siblings(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-parallel", [True])
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "StepFailed"
        history = await client.workflow.history(handle.run_id)
        assert sorted(e.key or "" for e in history if e.type == "rollback_completed") == [
            "n1#0",
            "n1#1",
        ]

    run(scenario, store_url)
    undone = {call[0] for call in flows.CALLS if call[0].startswith("undo")}
    assert undone == {"undo-reserve", "undo-charge"}


def test_map_runs_one_step_per_item_with_results_in_order(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-map", [[5, 1, 3]])
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == [6, 2, 4]
        history = await client.workflow.history(handle.run_id)
        assert sorted(e.key or "" for e in history if e.type == "step_completed") == [
            "n1#0",
            "n1#1",
            "n1#2",
        ]

    run(scenario, store_url)
    assert sorted(flows.CALLS) == [("add", 1), ("add", 3), ("add", 5)]
