"""Steps: sequencing, control flow, retries, non-retryable errors, timeouts."""

from __future__ import annotations

import pytest

from runtime import Client, WorkflowFailed

from . import flows
from .conftest import run, serving, types


def test_sequential_steps_run_in_order_and_record_one_commit_per_step(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-sequential", [1])
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == {
                "a": 2,
                "b": 12,
                "total": 14,
            }
        history = await client.workflow.history(handle.run_id)
        assert types(history) == [
            "run_created",
            "run_started",
            "step_started",
            "step_completed",
            "step_started",
            "step_completed",
            "run_completed",
        ]
        assert [event.seq for event in history] == list(range(1, 8))
        assert [event.key for event in history if event.type == "step_started"] == ["n1", "n2"]
        info = await client.workflow.get_run(handle.run_id)
        assert info.status == "completed"
        assert info.graph_hash is not None
        assert len(info.graph_hash) == 64
        assert info.error is None

    run(scenario, store_url)
    assert flows.CALLS == [("add", 1), ("add", 2)]


def test_loops_branches_helpers_and_try_except_follow_python_semantics(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-control", {"items": [1, 2, 3, 5, 7, 9]})
        async with serving(client):
            result = await client.workflow.result(handle.run_id, timeout=10)
        assert result == {"kept": [2, 4, 6, 8], "helped": 7, "boom": -1, "squares": [4, 16, 36, 64]}
        history = await client.workflow.history(handle.run_id)
        keys = [event.key for event in history if event.type == "step_completed"]
        # One key per loop iteration: node id @ iteration counter.
        assert keys[:4] == [keys[0].split("@")[0] + f"@{i}" for i in (0, 2, 3, 4)]
        assert len(set(keys)) == len(keys) == 7

    run(scenario, store_url)


def test_retries_wait_with_backoff_then_succeed(store_url: str) -> None:
    async def scenario(client: Client) -> str:
        handle = await client.workflow.trigger("t-retry")
        async with serving(client):
            assert await client.workflow.result(handle.run_id, timeout=10) == {
                "label": "x",
                "attempt": 3,
            }
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == [
            "step_started",
            "step_retrying",
            "step_started",
            "step_retrying",
            "step_started",
            "step_completed",
        ]
        retrying = [event for event in history if event.type == "step_retrying"]
        assert [event.payload.attempt for event in retrying] == [1, 2]  # type: ignore[union-attr]
        assert retrying[0].payload.error.type == "ConnectionError"  # type: ignore[union-attr]
        started = [event for event in history if event.type == "step_started"]
        # The backoff: retry k waits min(max, initial * factor ** (k - 1)) after the failure.
        waits = [
            (event.payload.retry_at - start.at).total_seconds()  # type: ignore[union-attr]
            for event, start in zip(retrying, started, strict=False)
        ]
        assert waits[0] >= 0.01
        assert waits[1] >= 0.02
        return handle.run_id

    run_id = run(scenario, store_url)
    assert [call[1] for call in flows.CALLS] == [1, 2, 3]
    # Every attempt of one invocation shares the key; it names the run.
    assert {call[2] for call in flows.CALLS} == {f"{run_id}:n1"}


def test_idempotency_key_differs_between_runs_and_is_kept_on_replay(store_url: str) -> None:
    async def scenario(client: Client) -> list[str]:
        first = await client.workflow.trigger("t-retry", run_id="order-1")
        second = await client.workflow.trigger("t-retry", run_id="order-2")
        # The long backoff gives each run back between attempts: later attempts
        # run after a replay, possibly on another claim.
        async with serving(client, inline_retry_max=0.0):
            for handle in (first, second):
                await client.workflow.result(handle.run_id, timeout=10)
        history = await client.workflow.history(first.run_id)
        assert {event.key for event in history if event.type == "step_started"} == {"n1"}
        return [call[2] for call in flows.CALLS]

    keys = run(scenario, store_url)
    assert sorted(set(keys)) == ["order-1:n1", "order-2:n1"]
    assert keys.count("order-1:n1") == keys.count("order-2:n1") == 3


def test_long_backoff_releases_the_run_until_the_retry_time(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-retry")
        async with serving(client, inline_retry_max=0.0) as worker:
            assert await client.workflow.result(handle.run_id, timeout=10) == {
                "label": "x",
                "attempt": 3,
            }
        outcomes = [outcome for run_id, outcome in worker.outcomes if run_id == handle.run_id]
        assert outcomes == ["waiting", "waiting", "completed"]

    run(scenario, store_url)


def test_non_retryable_error_fails_the_step_at_once(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-nonretryable")
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.status == "failed"
        assert caught.value.error == {
            "type": "StepFailed",
            "message": "step 't-fatal' failed: NonRetryableError: card declined",
        }
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == ["step_started", "step_failed"]
        assert types(history)[-1] == "run_failed"

    run(scenario, store_url)
    assert flows.CALLS == [("fatal",)]


def test_timeout_bounds_each_attempt(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-timeout")
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "StepFailed"
        assert caught.value.error["message"].endswith(
            "TimeoutError: step 't-slow' attempt 2 timed out after 0.05s"
        )
        history = await client.workflow.history(handle.run_id)
        assert types(history, "n1") == [
            "step_started",
            "step_retrying",
            "step_started",
            "step_failed",
        ]

    run(scenario, store_url)
    assert flows.CALLS == [("slow",), ("slow",)]


def test_trigger_refuses_arguments_that_are_not_json(store_url: str) -> None:
    from runtime.events import NotJSONError

    async def scenario(client: Client) -> None:
        with pytest.raises(
            NotJSONError,
            match=r"args of workflow 't-sequential' is not a JSON value at \$\[0\]: set",
        ):
            await client.workflow.trigger("t-sequential", [{1, 2}])
        page = await client.workflow.list_runs()
        assert page.items == []

    run(scenario, store_url)


def test_trigger_with_a_run_id_is_idempotent(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        first = await client.workflow.trigger("t-sequential", [1], run_id="order-1")
        second = await client.workflow.trigger("t-sequential", [5], run_id="order-1")
        assert (first.run_id, first.created, second.run_id, second.created) == (
            "order-1",
            True,
            "order-1",
            False,
        )
        async with serving(client):
            assert (await client.workflow.result("order-1", timeout=10))["a"] == 2
        stats = await client.workflow_stats.get()
        assert (stats.total_runs, stats.by_status["completed"], stats.success_rate) == (1, 1, 1.0)

    run(scenario, store_url)


def test_step_output_that_is_not_json_fails_the_step_without_retrying(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-bad-step-output")
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "StepFailed"
        assert (
            "NotJSONError: output of step 't-tuple' is not a JSON value: a tuple comes back "
            "as a list after a replay, use a list" in caught.value.error["message"]
        )

    run(scenario, store_url)
    assert flows.CALLS == [("tuple",)]


def test_workflow_result_that_is_not_json_fails_the_run(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("t-bad-result", [1])
        async with serving(client):
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=10)
        assert caught.value.error["type"] == "NotJSONError"
        assert caught.value.error["message"].startswith(
            "result of workflow 't-bad-result' is not a JSON value: a tuple"
        )

    run(scenario, store_url)
