"""Every example end to end through a real worker on SQLite: results, histories, failure paths.

``tests/runtime/test_examples_durable.py`` runs the happy path of the original
ports on both stores; this module covers the rest of the whitepaper (worker
set-up, breakers, step timeouts, rollback functions, health monitoring,
multi-workflow workers, worker configuration) and the failure paths.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from examples import (
    api_integration,
    approval,
    class_style,
    data_pipeline,
    data_processing,
    document_approval,
    ecommerce_order,
    export_timeout,
    external_api_calls,
    health_monitoring,
    multi_workflow_worker,
    order_processing,
    parallel_saga,
    payment_orchestration,
    resilient_workflow,
    saga,
    saga_fn_rollback,
    signals,
    user_signup,
    worker_configuration,
)
from runtime import Client, Worker, WorkflowFailed
from runtime.events import Event
from runtime.graphs import GraphLibrary

ROOT = Path(__file__).resolve().parent.parent
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "heartbeat_interval": 0.2,
    "lease_timeout": 2.0,
    "retry_delay": 0.1,
}
_LIBRARY = GraphLibrary()

Scenario = Callable[[Client], Awaitable[Any]]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite store per test."""
    return f"sqlite:///{tmp_path / 'vrb.db'}"


def run(url: str, scenario: Scenario) -> Any:
    """Run ``scenario(client)`` on a client of ``url``."""

    async def main() -> Any:
        async with Client(url) as client:
            return await scenario(client)

    return asyncio.run(main())


async def execute(
    client: Client,
    name: str,
    args: list[Any],
    signals_to_send: Sequence[tuple[str, Any]] = (),
    timeout: float = 30,
) -> tuple[Any, WorkflowFailed | None, list[Event]]:
    """Trigger ``name``, send the signals, serve it until it ends.

    Returns:
        The result (``None`` when the run failed), the failure, and the history.
    """
    handle = await client.workflow.trigger(name, args)
    for signal, payload in signals_to_send:
        await client.workflow.send_signal(handle.run_id, signal, payload)
    worker = Worker(client, _LIBRARY, **FAST)
    task = asyncio.create_task(worker.start(name))
    result: Any = None
    failure: WorkflowFailed | None = None
    try:
        result = await client.workflow.result(handle.run_id, timeout=timeout)
    except WorkflowFailed as error:
        failure = error
    finally:
        await worker.stop()
        await task
    return result, failure, await client.workflow.history(handle.run_id)


def types(history: list[Event]) -> list[str]:
    return [event.type for event in history]


def of_type(history: list[Event], kind: str) -> list[Any]:
    """Payloads of the events of one type, in order."""
    return [event.payload for event in history if event.type == kind]


def steps_started(history: list[Event]) -> list[str]:
    """The steps whose attempts began, in order."""
    return [payload.step for payload in of_type(history, "step_started")]


# --------------------------------------------------------------------------- worker set-up


def test_worker_setup_script_triggers_and_completes_an_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'script.db'}"
    env = {**os.environ, "VRB_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "examples.worker_setup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    started = re.search(r"^Workflow started: ([0-9a-f]{32})$", done.stdout, re.MULTILINE)
    assert started is not None, done.stdout
    assert "Workflow finished: {'status': 'completed', 'orderId': 'ORD-12345'}" in done.stdout

    async def scenario(client: Client) -> None:
        info = await client.workflow.get_run(started.group(1))
        assert info.status == "completed"
        assert info.workflow_name == "order-processing"
        history = await client.workflow.history(started.group(1))
        steps = [p.step for p in of_type(history, "step_completed")]
        assert steps == ["validate-order", "reserve-inventory", "process-payment", "confirm-order"]

    run(url, scenario)


def test_worker_setup_script_reports_a_bad_store_url_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "examples.worker_setup", "--db", "nosuch://x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "nosuch" in done.stderr


# --------------------------------------------------------------------------- durable execution


def test_order_processing_rejects_an_empty_order(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        _, failure, history = await execute(
            client, "order-processing", [{"id": "ORD-0", "items": []}]
        )
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'validate-order' failed: ValueError: Order cannot be empty",
        }
        assert types(history)[-2:] == ["step_failed", "run_failed"]
        assert of_type(history, "step_completed") == []

    run(db_url, scenario)


def test_order_processing_pays_with_an_idempotency_key_from_ctx_uuid4(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        order = {"id": "ORD-KEY", "items": [{"sku": "A", "price": 4.0, "quantity": 2}]}
        result, failure, _ = await execute(client, "order-processing", [order])
        assert failure is None
        assert result == {"status": "completed", "orderId": "ORD-KEY"}
        (key,) = [k for k, txn in order_processing.PAYMENT_KEYS.items() if txn == "TXN-ORD-KEY"]
        assert uuid.UUID(key).version == 4
        assert order_processing.CHARGES["TXN-ORD-KEY"] == 8.0

    run(db_url, scenario)


# --------------------------------------------------------------------------- signals


def test_approval_rejection_fails_the_run_without_executing(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        decision = {"approved": False, "approver": "boss@example.com"}
        _, failure, history = await execute(
            client,
            "approval-workflow",
            [{"type": "expense", "amount": 9000}],
            [("manager-decision", decision)],
        )
        assert failure is not None
        assert failure.error is not None
        assert re.fullmatch(
            r"step 'await-approval' failed: ValueError: Request REQ-\d+ rejected",
            failure.error["message"],
        )
        assert [p.name for p in of_type(history, "signal_consumed")] == ["manager-decision"]
        assert "execute-action" not in {p.step for p in of_type(history, "step_started")}
        request_id = of_type(history, "step_completed")[0].output["requestId"]
        assert approval.REQUESTS[request_id]["status"] == "pending"

    run(db_url, scenario)


def test_signals_in_a_step_and_in_the_body(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(
            client,
            "my-workflow",
            [{"message": "hello", "shouldFail": False}],
            [("other-sig", {"ok": True}), ("manager-approval", {"approved": True})],
        )
        assert failure is None
        assert result == {"approved": True, "ok": True}
        consumed = [(e.key, e.payload.name) for e in history if e.type == "signal_consumed"]
        # The step's wait is keyed under its step node, the body's wait is a node of its own.
        assert [name for _, name in consumed] == ["manager-approval", "other-sig"]
        assert consumed[0][0].endswith("/manager-approval/0")

    run(db_url, scenario)


def test_signals_best_practice_records_the_run_id_in_a_step(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        signals.TODOS["todo-e2e"] = {"title": "ship it"}
        result, failure, history = await execute(
            client,
            "my-main-workflow",
            [{"todo_id": "todo-e2e"}],
            [("manager-approval", {"approved": False}), ("other-sig", {"ok": True})],
        )
        assert failure is None
        assert result == {"approved": False, "ok": True}
        runs = await client.workflow.list_runs(workflow_name="my-main-workflow", limit=1)
        assert signals.TODOS["todo-e2e"]["runId"] == runs.items[0].run_id
        assert of_type(history, "step_completed")[0].step == "link-todo"

    run(db_url, scenario)


def test_document_approval_manager_rejection_stops_before_legal_review(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        _, failure, history = await execute(
            client,
            "document-approval",
            [{"id": "DOC-MGR"}],
            [("manager-decision", {"approved": False, "reviewer": "m", "comments": "too long"})],
        )
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'manager-review' failed: ValueError: Rejected at manager-decision",
        }
        assert [
            (event.type, event.key, getattr(event.payload, "step", None)) for event in history
        ] == [
            ("run_created", None, None),
            ("signal_received", None, None),
            ("run_started", None, None),
            ("step_started", "n1", "submit-document"),
            ("step_completed", "n1", "submit-document"),
            ("step_started", "n2", "manager-review"),
            ("signal_consumed", "n2/manager-decision/0", None),
            ("step_failed", "n2", "manager-review"),
            ("run_failed", None, None),
        ]
        record = document_approval.DOCUMENTS["DOC-MGR"]
        assert record["status"] == "rejected"
        assert record["rejectionReason"] == "too long"
        # submittedAt is ctx.now(): the run's recorded clock, between its first events.
        submitted_at = datetime.fromisoformat(record["submittedAt"])
        assert history[0].at <= submitted_at <= history[4].at

    run(db_url, scenario)


def test_document_approval_legal_rejection_marks_the_document(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        _, failure, history = await execute(
            client,
            "document-approval",
            [{"id": "DOC-REJ"}],
            [
                ("manager-decision", {"approved": True, "reviewer": "m"}),
                ("legal-decision", {"approved": False, "reviewer": "l", "comments": "GDPR"}),
            ],
        )
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'legal-review' failed: ValueError: Rejected at legal-decision",
        }
        assert [p.step for p in of_type(history, "step_completed")] == [
            "submit-document",
            "manager-review",
        ]
        assert document_approval.DOCUMENTS["DOC-REJ"]["status"] == "rejected"
        assert document_approval.DOCUMENTS["DOC-REJ"]["rejectionReason"] == "GDPR"

    run(db_url, scenario)


# --------------------------------------------------------------------------- sagas


def test_saga_with_fn_rollback_passes_error_and_output_to_each_rollback(db_url: str) -> None:
    trip = {
        "departureAirport": "CDG",
        "arrivalAirport": "JFK",
        "travelDate": "2030-05-01",
        "hotelId": "H-1",
        "checkIn": "2030-05-01",
        "checkOut": "2030-05-04",
        "guests": 2,
    }

    async def scenario(client: Client) -> None:
        saga_fn_rollback.CANCELLATIONS.clear()
        _, failure, history = await execute(client, "saga-with-fn-rollback", ["ada", trip])
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'rent-car' failed: RuntimeError: Car rental service unavailable!",
        }
        rolled = [(p.step, p.output) for p in of_type(history, "rollback_completed")]
        assert rolled == [
            ("reserve-hotel", {"canceled": True}),
            ("reserve-flight", {"canceled": True}),
        ]
        assert types(history)[-1] == "run_failed"
        assert saga_fn_rollback.CANCELLATIONS == [
            {
                "service": "hotel",
                "bookingReference": "HB-ada-2030-05-01",
                "reason": "Car rental service unavailable!",
            },
            {
                "service": "airline",
                "confirmationCode": "CONF-ada",
                "reason": "Car rental service unavailable!",
            },
        ]
        assert saga_fn_rollback.AIRLINE["FL-ada-2030-05-01"]["status"] == "canceled"

        result, failure, history = await execute(
            client, "saga-with-fn-rollback", ["bob", {**trip, "carAvailable": True}]
        )
        assert failure is None
        assert result == {"status": "booked", "tripId": "TRIP-bob"}
        assert of_type(history, "rollback_completed") == []

    run(db_url, scenario)


def test_ecommerce_declined_card_releases_stock_and_returns_failed(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        order = {"id": "O-DECL", "total": 20.0, "fail_payment": True}
        result, failure, history = await execute(client, "ecommerce-order", [order])
        assert failure is None
        assert result == {"status": "failed", "error": "card declined"}
        # NonRetryableError: one attempt although the step allows two retries.
        assert [(p.step, p.attempt) for p in of_type(history, "step_failed")] == [
            ("charge-order", 1)
        ]
        assert of_type(history, "step_retrying") == []
        assert [p.step for p in of_type(history, "rollback_completed")] == ["reserve-stock"]
        assert ecommerce_order.STOCK["STK-O-DECL"] == "released"
        assert types(history)[-1] == "run_completed"

    run(db_url, scenario)


def test_parallel_saga_refunds_the_card_when_credits_run_short(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        before = dict(parallel_saga.CARD_CHARGES)
        _, failure, history = await execute(client, "parallel-saga", [1_000_000.0])
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'deduct-credits' failed: ValueError: not enough credits",
        }
        assert [p.step for p in of_type(history, "rollback_completed")] == ["charge-card"]
        assert before == parallel_saga.CARD_CHARGES

    run(db_url, scenario)


def test_saga_example_succeeds_without_rollbacks(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(client, "saga-with-rollbacks", ["user-ok"])
        assert failure is None
        assert result == {"status": "booked", "tripId": "TRIP-123"}
        assert [p.step for p in of_type(history, "step_completed")] == [
            "book-flight",
            "book-hotel",
            "book-car",
        ]
        assert saga.BOOKINGS["CR-789"] == "user-ok"

    run(db_url, scenario)


# --------------------------------------------------------------------------- circuit breakers


def test_data_processing_trips_max_events_on_too_many_items(db_url: str) -> None:
    items = [f"item-{i}" for i in range(200)]

    async def scenario(client: Client) -> None:
        _, failure, history = await execute(client, "data-processing", [items])
        assert failure is not None
        assert failure.error == {
            "type": "MaxEventsExceeded",
            "message": "the run reached its limit of 100 events (max_events)",
        }
        tripped = of_type(history, "circuit_breaker_tripped")
        assert [p.model_dump() for p in tripped] == [{"breaker": "max_events", "limit": 100.0}]
        assert types(history)[-2:] == ["circuit_breaker_tripped", "run_failed"]
        processed = len(of_type(history, "step_completed"))
        assert 0 < processed < len(items)
        assert len(history) == 102  # 100 events, then the breaker and the end

    run(db_url, scenario)


def test_data_processing_within_max_events_completes(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, _ = await execute(client, "data-processing", [["x", "y"]])
        assert failure is None
        assert result == {"processedCount": 2}
        assert data_processing.PROCESSED["x"] == "processed"

    run(db_url, scenario)


def test_export_timeout_interrupts_the_slow_step_and_closes_the_session(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(
            client, "export-tables", ["EXP-1", ["customers", "orders"]]
        )
        assert failure is None
        assert result == {"files": ["SES-EXP-1/customers.csv", "SES-EXP-1/orders.csv"]}

        _, failure, history = await execute(
            client, "export-tables", ["EXP-2", ["customers", "audit_log", "orders"]]
        )
        assert failure is not None
        assert failure.error == {
            "type": "ExecutionTimeout",
            "message": "the run exceeded its execution timeout of 2s",
        }
        assert [p.model_dump() for p in of_type(history, "circuit_breaker_tripped")] == [
            {"breaker": "execution_timeout", "limit": 2.0}
        ]
        assert types(history)[-4:] == [
            "circuit_breaker_tripped",
            "rollback_started",
            "rollback_completed",
            "run_failed",
        ]
        assert of_type(history, "rollback_completed")[0].step == "open-export-session"
        assert export_timeout.SESSIONS["SES-EXP-2"] == "closed"
        assert "orders" not in str([p.output for p in of_type(history, "step_completed")][1:])

    run(db_url, scenario)


def test_resilient_workflow_retries_absorb_transient_failures(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(
            client, "resilient-workflow", [{"id": 1, "failures": 2}]
        )
        assert failure is None
        assert result == {"result": {"externalId": "EXT-1", "fields": ["failures", "id"]}}
        retrying = of_type(history, "step_retrying")
        assert [(p.step, p.attempt, p.error.type) for p in retrying] == [
            ("call-external-api", 1, "ConnectionError"),
            ("call-external-api", 2, "ConnectionError"),
        ]
        assert of_type(history, "step_completed")[0].attempt == 3

    run(db_url, scenario)


def test_resilient_workflow_exhausted_retries_fail_the_run(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        _, failure, history = await execute(
            client, "resilient-workflow", [{"id": 2, "failures": 99}]
        )
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'call-external-api' failed: ConnectionError: API returned 503 "
            "(attempt 4)",
        }
        assert len(of_type(history, "step_retrying")) == 3
        assert [(p.step, p.attempt) for p in of_type(history, "step_failed")] == [
            ("call-external-api", 4)
        ]
        # Nothing completed, so there is nothing to compensate.
        assert of_type(history, "rollback_completed") == []

    run(db_url, scenario)


def test_resilient_workflow_rolls_back_the_external_call(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        _, failure, history = await execute(
            client, "resilient-workflow", [{"id": 3, "malformed": True}]
        )
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'local-processing' failed: ValueError: cannot process EXT-3: "
            "malformed payload",
        }
        assert [p.step for p in of_type(history, "rollback_completed")] == ["call-external-api"]
        assert "EXT-3" not in resilient_workflow.EXTERNAL_JOBS

    run(db_url, scenario)


def test_payment_orchestration_transient_primary_errors_exhaust_retries(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        payment = {"orderId": "O-503", "amount": 1.0, "primary_status": 503}
        _, failure, history = await execute(client, "payment-orchestration", [payment])
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'try-primary-provider' failed: ProviderError: provider answered 503",
        }
        assert [p.attempt for p in of_type(history, "step_retrying")] == [1, 2]
        assert "TXN-P-O-503" not in payment_orchestration.TRANSACTIONS

    run(db_url, scenario)


def test_payment_orchestration_split_draws_ctx_random_to_route_to_the_fallback(
    db_url: str,
) -> None:
    async def scenario(client: Client) -> None:
        everything = {"orderId": "O-AB", "amount": 2.0, "fallback_share": 1.0}
        result, failure, history = await execute(client, "payment-orchestration", [everything])
        assert failure is None
        assert result == {"success": True, "provider": "fallback", "transactionId": "TXN-F-O-AB"}
        assert steps_started(history) == ["try-fallback-provider", "record-transaction"]
        nothing = {"orderId": "O-NO", "amount": 2.0, "fallback_share": 0.0}
        result, _, history = await execute(client, "payment-orchestration", [nothing])
        assert result["provider"] == "primary"
        assert steps_started(history)[0] == "try-primary-provider"

    run(db_url, scenario)


def test_external_api_calls_unknown_url_fails_the_step(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        urls = ["https://api.example.com/a", "https://api.example.com/missing"]
        _, failure, history = await execute(client, "external-api-calls", [urls])
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'fetch-data' failed: LookupError: 404 for "
            "https://api.example.com/missing",
        }
        assert [p.step for p in of_type(history, "step_completed")] == [
            "resolve-urls",
            "fetch-data",
            "process-response",
            "save-results",
        ]
        assert external_api_calls.RESULTS[-1] == {"count": 3, "sum": 6}

    run(db_url, scenario)


def test_external_api_calls_reads_the_base_url_from_the_environment_in_a_step(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(client, "external-api-calls", [["/a", "b"]])
        assert failure is None
        assert result == {"saved": 2}
        resolved = of_type(history, "step_completed")[0]
        assert resolved.step == "resolve-urls"
        assert resolved.output == ["https://api.example.com/a", "https://api.example.com/b"]

        monkeypatch.setenv("API_BASE_URL", "https://mirror.example.com")
        _, failure, _ = await execute(client, "external-api-calls", [["/a"]])
        assert failure is not None
        assert failure.error is not None
        assert failure.error["message"].endswith("404 for https://mirror.example.com/a")

    monkeypatch.delenv("API_BASE_URL", raising=False)
    run(db_url, scenario)


def test_data_pipeline_sleeps_durably_between_batches(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(
            client, "data-pipeline", [{"batch_size": 100, "max_records": 10_000}]
        )
        assert failure is None
        assert result == {"processedCount": data_pipeline.SOURCE_SIZE, "status": "completed"}
        steps = [p.step for p in of_type(history, "step_completed")]
        assert steps.count("transform-record") == data_pipeline.SOURCE_SIZE
        assert steps.count("batch-insert") == 3
        assert steps.count("fetch-batch") == 4  # the fourth batch is empty: break
        assert len(of_type(history, "wait_created")) == 3
        assert len(of_type(history, "wait_completed")) == 3

    run(db_url, scenario)


# --------------------------------------------------------------------------- best practices


def test_user_signup_uses_descriptive_step_names(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        result, failure, history = await execute(
            client, "user-signup", [{"email": " Ada@Example.com ", "name": "Ada"}]
        )
        assert failure is None
        assert result == {"accountId": "ACC-ada@example.com", "status": "active"}
        assert [p.step for p in of_type(history, "step_completed")] == [
            "validate-user-input",
            "create-user-account",
            "send-welcome-email",
        ]
        assert user_signup.OUTBOX[-1]["to"] == "ada@example.com"

    run(db_url, scenario)


def test_user_signup_invalid_email_is_not_retried(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        _, failure, history = await execute(client, "user-signup", [{"email": "nobody"}])
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'validate-user-input' failed: NonRetryableError: "
            "invalid email address 'nobody'",
        }
        assert of_type(history, "step_retrying") == []

    run(db_url, scenario)


def test_api_integration_declares_its_timeouts_and_runs(db_url: str) -> None:
    graph = _LIBRARY.latest("api-integration") if _LIBRARY.load(["api-integration"]) else None
    assert graph is not None
    timeouts = {s.name: s.timeout for s in graph.steps}
    assert timeouts == {"fetch-large-dataset": 30.0, "quick-validation": 5.0}
    assert graph.workflow.execution_timeout == 60.0

    async def scenario(client: Client) -> None:
        result, failure, _ = await execute(client, "api-integration", ["ds-small"])
        assert failure is None
        assert result == {"processed": True, "rowCount": 3}
        _, failure, _ = await execute(client, "api-integration", ["ds-empty"])
        assert failure is not None
        assert failure.error == {
            "type": "StepFailed",
            "message": "step 'quick-validation' failed: ValueError: dataset ds-empty has no rows",
        }

    run(db_url, scenario)


@pytest.mark.slow
def test_api_integration_step_timeout_interrupts_a_slow_attempt(db_url: str) -> None:
    api_integration.DATASETS["ds-slow"] = {"rows": [1], "latency": 0.0, "validation_latency": 60}

    async def scenario(client: Client) -> None:
        _, failure, history = await execute(client, "api-integration", ["ds-slow"])
        assert failure is not None
        assert failure.error is not None
        assert failure.error["message"] == (
            "step 'quick-validation' failed: TimeoutError: "
            "step 'quick-validation' attempt 1 timed out after 5s"
        )
        assert [(p.step, p.attempt) for p in of_type(history, "step_failed")] == [
            ("quick-validation", 1)
        ]

    run(db_url, scenario)


def test_health_monitoring_reports_stats_and_failed_runs(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario(client: Client) -> str:
        order = {"id": "ORD-H", "items": [{"sku": "A", "price": 1.0}]}
        await execute(client, "order-processing", [order])
        await execute(client, "order-processing", [order])
        handle = await client.workflow.trigger("order-processing", [{"id": "E", "items": []}])
        worker = Worker(client, _LIBRARY, **FAST)
        await worker.run_until_idle("order-processing")
        lines = await health_monitoring.health_report(client, "order-processing")
        assert lines[:3] == ["Total runs: 3", "Success rate: 66.7%", lines[2]]
        assert re.fullmatch(r"Avg duration: \d+ms", lines[2])
        assert lines[3:] == [
            f"Failed run {handle.run_id}: StepFailed: step 'validate-order' failed: "
            "ValueError: Order cannot be empty"
        ]
        return handle.run_id

    failed_id = run(db_url, scenario)
    assert health_monitoring.main(["--db", db_url, "order-processing"]) == 0
    out = capsys.readouterr().out
    assert "Total runs: 3\n" in out
    assert f"Failed run {failed_id}: StepFailed" in out


def test_health_monitoring_on_an_empty_store(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        lines = await health_monitoring.health_report(client, "order-processing")
        assert lines == ["Total runs: 0", "No run has finished yet"]

    run(db_url, scenario)


# --------------------------------------------------------------------------- workers


def test_multi_workflow_worker_serves_three_workflow_types(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        approval_run = await client.workflow.trigger("approval-workflow", [{"amount": 5}])
        await client.workflow.send_signal(
            approval_run.run_id, "manager-decision", {"approved": True, "approver": "m"}
        )
        order_run = await client.workflow.trigger(
            "order-processing", [{"id": "ORD-M", "items": [{"sku": "A", "price": 3.0}]}]
        )
        trip_run = await client.workflow.trigger(
            "trip-booking", [{"flight": "VR9", "traveller": "lin"}]
        )
        stop = asyncio.Event()
        serving = asyncio.create_task(multi_workflow_worker.serve_many(client, stop))
        try:
            assert await client.workflow.result(approval_run.run_id, timeout=30) == {
                "completed": True
            }
            assert await client.workflow.result(order_run.run_id, timeout=30) == {
                "status": "completed",
                "orderId": "ORD-M",
            }
            booked = await client.workflow.result(trip_run.run_id, timeout=30)
        finally:
            stop.set()
            worker = await serving
        assert booked["status"] == "booked"
        assert booked["seat"] in class_style.SEATS
        served = {run_id for run_id, outcome in worker.outcomes if outcome == "completed"}
        assert served == {approval_run.run_id, order_run.run_id, trip_run.run_id}

    run(db_url, scenario)


def test_worker_configuration_applies_the_whitepaper_values(db_url: str) -> None:
    async def scenario(client: Client) -> None:
        worker = worker_configuration.configured_worker(client)
        assert (
            worker.poll_interval,
            worker.max_concurrency,
            worker.heartbeat_interval,
            worker.retry_delay,
            worker.lease_timeout,
        ) == (1.0, 5, 30.0, 5.0, 30.0)
        handle = await client.workflow.trigger(
            "order-processing", [{"id": "ORD-C", "items": [{"sku": "A", "price": 1.0}]}]
        )
        await worker.run_until_idle("order-processing")
        assert await client.workflow.result(handle.run_id, timeout=5) == {
            "status": "completed",
            "orderId": "ORD-C",
        }
        assert order_processing.CHARGES["TXN-ORD-C"] == 1.0

    run(db_url, scenario)


def test_every_example_module_is_exercised_here() -> None:
    # A new example module must get an end-to-end test in this file.
    tested = {
        name
        for name, value in globals().items()
        if getattr(value, "__name__", "").startswith("examples.")
    }
    modules = {p.stem for p in (ROOT / "examples").glob("*.py") if p.stem != "__init__"}
    assert modules - tested - {"worker_setup"} == set()
