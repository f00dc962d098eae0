"""Every example runs with the runtime SDK (steps inline, LocalBackend contexts)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from examples import (
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
from runtime import LocalBackend, Step, StepContext, StepFailed, WorkflowContext, get_workflow
from runtime.sdk import STEP_EXECUTOR


class InlineExecutor:
    """Runs steps in-process with contexts on the test's backend, so a step's
    signal wait receives what the test sends (a bare step call would get a fresh
    backend of its own)."""

    def __init__(self, backend: LocalBackend, run_id: str) -> None:
        self.backend = backend
        self.run_id = run_id

    async def call_step(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        context = StepContext(self.run_id, step.name, 1, f"{self.run_id}:{step.name}", self.backend)
        return await step.invoke(args, kwargs, context)


def run(
    body: Callable[..., Awaitable[Any]],
    *args: Any,
    signals_to_send: tuple[tuple[str, Any], ...] = (),
) -> Any:
    backend = LocalBackend("run-1")
    for name, payload in signals_to_send:
        backend.send_signal(name, payload)
    ctx = WorkflowContext("run-1", "example", backend)

    async def main() -> Any:
        token = STEP_EXECUTOR.set(InlineExecutor(backend, "run-1"))
        try:
            return await asyncio.wait_for(body(ctx, *args), timeout=60)
        finally:
            STEP_EXECUTOR.reset(token)

    return asyncio.run(main())


def test_order_processing_completes_and_charges_the_total() -> None:
    order = {"id": "ORD-1", "items": [{"sku": "A", "price": 2.5, "quantity": 2}]}
    result = run(order_processing.order_processing, order)
    assert result == {"status": "completed", "orderId": "ORD-1"}
    assert order_processing.CHARGES["TXN-ORD-1"] == 5.0
    assert get_workflow("order-processing").max_events == 1000
    assert get_workflow("order-processing").execution_timeout == 60.0


def test_order_processing_rejects_an_empty_order() -> None:
    with pytest.raises(ValueError, match="Order cannot be empty"):
        run(order_processing.order_processing, {"id": "ORD-2", "items": []})


def test_approval_waits_for_the_manager_decision() -> None:
    decision = {"approved": True, "approver": "manager@example.com"}
    result = run(
        approval.approval_workflow,
        {"type": "expense", "amount": 120},
        signals_to_send=(("manager-decision", decision),),
    )
    assert result == {"completed": True}


def test_saga_books_everything_without_failure() -> None:
    assert run(saga.saga_with_rollbacks, "user-1") == {"status": "booked", "tripId": "TRIP-123"}


def test_saga_car_failure_raises() -> None:
    with pytest.raises(RuntimeError, match="Car rental service unavailable"):
        run(saga.saga_with_rollbacks, "user-1", True)


def test_parallel_saga_returns_both_branches_in_order() -> None:
    result = run(parallel_saga.parallel_saga, 10.0)
    assert result["payment"]["amount"] == 10.0
    assert result["credit"] == {"creditId": "CRED-1", "amount": 10.0}


def test_data_processing_counts_items() -> None:
    assert run(data_processing.data_processing, ["a", "b", "c"]) == {"processedCount": 3}


def test_external_api_calls_saves_each_url() -> None:
    urls = ["https://api.example.com/a", "https://api.example.com/b"]
    assert run(external_api_calls.external_api_calls, urls) == {"saved": 2}


def test_resilient_workflow_processes_the_external_result() -> None:
    result = run(resilient_workflow.resilient_workflow, {"id": 7, "b": 1, "a": 2})
    assert result == {"result": {"externalId": "EXT-7", "fields": ["a", "b", "id"]}}


def test_ecommerce_order_confirms() -> None:
    result = run(ecommerce_order.ecommerce_order, {"id": "O1", "total": 9.0})
    assert result == {"status": "confirmed", "shipmentId": "SHIP-O1"}


def test_document_approval_needs_both_decisions() -> None:
    result = run(
        document_approval.document_approval,
        {"id": "DOC-1"},
        signals_to_send=(
            ("manager-decision", {"approved": True, "reviewer": "m"}),
            ("legal-decision", {"approved": True, "reviewer": "l"}),
        ),
    )
    assert result == {"status": "fully_approved", "documentId": "DOC-1"}
    assert document_approval.DOCUMENTS["DOC-1"]["status"] == "approved"


def test_data_pipeline_stops_when_the_source_is_exhausted() -> None:
    result = run(data_pipeline.data_pipeline, {"batch_size": 100, "max_records": 10_000})
    assert result == {"processedCount": data_pipeline.SOURCE_SIZE, "status": "completed"}


def test_payment_orchestration_falls_back_on_a_permanent_refusal() -> None:
    payment = {"orderId": "O9", "amount": 3.0, "primary_status": 402}
    result = run(payment_orchestration.payment_orchestration, payment)
    assert result == {"success": True, "provider": "fallback", "transactionId": "TXN-F-O9"}


def test_class_style_books_a_seat_and_a_ticket() -> None:
    result = run(class_style.TripBooking().run, {"flight": "VR1", "traveller": "ada"})
    assert result["status"] == "booked"
    assert result["ticket"] == f"TKT-ada-{result['seat']}"


def test_signals_body_and_step_waits() -> None:
    result = run(
        signals.my_main_workflow,
        {"todo_id": "todo-1"},
        signals_to_send=(("manager-approval", {"approved": True}), ("other-sig", {"ok": True})),
    )
    assert result == {"approved": True, "ok": True}
    assert signals.TODOS["todo-1"]["runId"] == "run-1"


def test_step_failure_type_is_public() -> None:
    # ecommerce_order catches StepFailed; it must be the runtime's class.
    assert ecommerce_order.StepFailed is StepFailed
