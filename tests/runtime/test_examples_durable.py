"""The whitepaper examples in examples/ run end to end through a worker, on both stores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from examples import (  # noqa: F401 - imported to register their workflows
    approval,
    class_style,
    data_pipeline,
    data_processing,
    document_approval,
    ecommerce_order,
    external_api_calls,
    order_processing,
    parallel_saga,
    payment_orchestration,
    resilient_workflow,
    saga,
    signals,
)
from runtime import Client, Worker, WorkflowFailed
from runtime.graphs import GraphLibrary

from .conftest import FAST, run, types

CASES: list[tuple[str, Any, list[tuple[str, Any]], Any]] = [
    (
        "order-processing",
        [{"id": "ORD-1", "items": [{"sku": "A", "price": 2.5, "quantity": 2}]}],
        [],
        {"status": "completed", "orderId": "ORD-1"},
    ),
    ("saga-with-rollbacks", ["user-1"], [], {"status": "booked", "tripId": "TRIP-123"}),
    (
        "approval-workflow",
        [{"type": "expense", "amount": 120}],
        [("manager-decision", {"approved": True, "approver": "manager@example.com"})],
        {"completed": True},
    ),
    ("data-processing", [["a", "b", "c"]], [], {"processedCount": 3}),
    (
        "external-api-calls",
        [["https://api.example.com/a", "https://api.example.com/b"]],
        [],
        {"saved": 2},
    ),
    (
        "resilient-workflow",
        [{"id": 7, "b": 1, "a": 2}],
        [],
        {"result": {"externalId": "EXT-7", "fields": ["a", "b", "id"]}},
    ),
    (
        "ecommerce-order",
        [{"id": "O1", "total": 9.0}],
        [],
        {"status": "confirmed", "shipmentId": "SHIP-O1"},
    ),
    (
        "document-approval",
        [{"id": "DOC-1"}],
        [
            ("manager-decision", {"approved": True, "reviewer": "m"}),
            ("legal-decision", {"approved": True, "reviewer": "l"}),
        ],
        {"status": "fully_approved", "documentId": "DOC-1"},
    ),
    (
        "data-pipeline",
        [{"batch_size": 100, "max_records": 10_000}],
        [],
        {"processedCount": 250, "status": "completed"},
    ),
    (
        "payment-orchestration",
        [{"orderId": "O9", "amount": 3.0, "primary_status": 402}],
        [],
        {"success": True, "provider": "fallback", "transactionId": "TXN-F-O9"},
    ),
    (
        "my-main-workflow",
        [{"todo_id": "todo-1"}],
        [("manager-approval", {"approved": True}), ("other-sig", {"ok": True})],
        {"approved": True, "ok": True},
    ),
]

NAMES = sorted({case[0] for case in CASES} | {"parallel-saga", "trip-booking"})


_LIBRARY = GraphLibrary()


async def _serve(client: Client) -> tuple[Worker, asyncio.Task[None]]:
    worker = Worker(client, _LIBRARY, **FAST)
    return worker, asyncio.create_task(worker.start(*NAMES))


@pytest.mark.parametrize(
    ("name", "args", "signals_to_send", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_example_runs_durably(
    store_url: str, name: str, args: Any, signals_to_send: list[tuple[str, Any]], expected: Any
) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger(name, args)
        for signal, payload in signals_to_send:
            await client.workflow.send_signal(handle.run_id, signal, payload)
        worker, task = await _serve(client)
        try:
            assert await client.workflow.result(handle.run_id, timeout=60) == expected
        finally:
            await worker.stop()
            await task
        history = await client.workflow.history(handle.run_id)
        assert types(history)[0] == "run_created"
        assert types(history).count("run_started") == 1
        assert types(history)[-1] == "run_completed"

    run(scenario, store_url)


def test_saga_example_failure_is_compensated_in_reverse_order(store_url: str) -> None:
    async def scenario(client: Client) -> None:
        handle = await client.workflow.trigger("saga-with-rollbacks", ["user-2", True])
        worker, task = await _serve(client)
        try:
            with pytest.raises(WorkflowFailed) as caught:
                await client.workflow.result(handle.run_id, timeout=60)
        finally:
            await worker.stop()
            await task
        assert caught.value.error == {
            "type": "StepFailed",
            "message": "step 'book-car' failed: RuntimeError: Car rental service unavailable!",
        }
        history = await client.workflow.history(handle.run_id)
        rolled = [(e.type, e.payload.step) for e in history if e.type.startswith("rollback")]  # type: ignore[union-attr]
        assert rolled == [
            ("rollback_started", "book-hotel"),
            ("rollback_completed", "book-hotel"),
            ("rollback_started", "book-flight"),
            ("rollback_completed", "book-flight"),
        ]

    run(scenario, store_url)


def test_class_style_and_parallel_saga_examples_run_with_the_expected_history(
    store_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        trip = await client.workflow.trigger(
            "trip-booking", [{"flight": "VR1", "traveller": "ada"}]
        )
        par = await client.workflow.trigger("parallel-saga", [10.0])
        worker, task = await _serve(client)
        try:
            booked = await client.workflow.result(trip.run_id, timeout=60)
            paid = await client.workflow.result(par.run_id, timeout=60)
        finally:
            await worker.stop()
            await task
        assert booked["status"] == "booked"
        assert booked["ticket"] == f"TKT-ada-{booked['seat']}"
        assert paid["payment"]["amount"] == 10.0
        assert paid["credit"] == {"creditId": "CRED-1", "amount": 10.0}

        # The class style's methods are steps like any other: one node each, in order.
        trip_history = await client.workflow.history(trip.run_id)
        assert _steps(trip_history) == [
            ("run_created", None, None),
            ("run_started", None, None),
            ("step_started", "n1", "reserve-seat"),
            ("step_completed", "n1", "reserve-seat"),
            ("step_started", "n2", "issue-ticket"),
            ("step_completed", "n2", "issue-ticket"),
            ("run_completed", None, None),
        ]
        assert trip_history[3].payload.output == {"seat": booked["seat"]}  # type: ignore[union-attr]

        # Both branches of ctx.parallel are one node, a key per branch; how their
        # events interleave depends on scheduling, the order within a branch does not.
        par_history = await client.workflow.history(par.run_id)
        assert types(par_history)[:2] == ["run_created", "run_started"]
        assert types(par_history)[-1] == "run_completed"
        assert sorted(_steps(par_history)[2:-1]) == [
            ("step_completed", "n1#0", "charge-card"),
            ("step_completed", "n1#1", "deduct-credits"),
            ("step_started", "n1#0", "charge-card"),
            ("step_started", "n1#1", "deduct-credits"),
        ]
        for branch in ("n1#0", "n1#1"):
            assert types(par_history, branch) == ["step_started", "step_completed"]
        assert "rollback_completed" not in types(par_history)

    run(scenario, store_url)


def _steps(history: list[Any]) -> list[tuple[str, str | None, str | None]]:
    """``(type, key, step)`` of each event, in order."""
    return [(event.type, event.key, getattr(event.payload, "step", None)) for event in history]
