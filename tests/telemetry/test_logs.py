"""Run-correlated logs: the run's fields on every record, JSON lines, and warnings logged once."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from runtime.telemetry import (
    JsonFormatter,
    LogOnce,
    RunContextFilter,
    RunLogAdapter,
    bind_log_context,
    log_context,
    reset_log_context,
)
from runtime.telemetry.logs import current_log_context


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, Capture]]:
    logger = logging.getLogger("tests.telemetry.logs")
    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in ("run_id", "workflow", "step", "attempt")}


def test_every_adapter_record_carries_the_four_fields_bound_or_not(
    captured: tuple[logging.Logger, Capture],
) -> None:
    logger, handler = captured
    log = RunLogAdapter(logger)
    log.info("worker started")
    with log_context(run_id="r1", workflow="order"):
        log.info("run claimed")
        with log_context(step="charge", attempt=2):
            log.warning("attempt failed", extra={"error_type": "KeyError"})
        log.info("run given back")
    assert [fields(r) for r in handler.records] == [
        {"run_id": None, "workflow": None, "step": None, "attempt": None},
        {"run_id": "r1", "workflow": "order", "step": None, "attempt": None},
        {"run_id": "r1", "workflow": "order", "step": "charge", "attempt": 2},
        {"run_id": "r1", "workflow": "order", "step": None, "attempt": None},
    ]
    assert handler.records[2].error_type == "KeyError"  # type: ignore[attr-defined]


def test_each_task_has_its_own_fields(captured: tuple[logging.Logger, Capture]) -> None:
    logger, handler = captured
    log = RunLogAdapter(logger)

    async def branch(step: str) -> None:
        with log_context(step=step, attempt=1):
            await asyncio.sleep(0)
            log.info("attempt")

    async def main() -> None:
        with log_context(run_id="r2", workflow="fan"):
            await asyncio.gather(branch("a"), branch("b"))

    asyncio.run(main())
    assert sorted((r.run_id, r.step) for r in handler.records) == [("r2", "a"), ("r2", "b")]  # type: ignore[attr-defined]


def test_bind_and_reset_restore_what_was_bound_and_unknown_fields_are_refused() -> None:
    token = bind_log_context(run_id="r3")
    assert current_log_context()["run_id"] == "r3"
    reset_log_context(token)
    assert current_log_context()["run_id"] is None
    with pytest.raises(TypeError, match=r"unexpected keyword argument .run."):
        bind_log_context(run="r3")  # type: ignore[call-arg]


def test_a_handler_filter_tags_records_of_users_loggers_too(
    captured: tuple[logging.Logger, Capture],
) -> None:
    logger, handler = captured
    handler.addFilter(RunContextFilter())
    with log_context(run_id="r4", workflow="order", step="charge", attempt=1):
        logger.info("from a step's own logger")
        logger.info("its own run id wins", extra={"run_id": "mine"})
    assert fields(handler.records[0]) == {
        "run_id": "r4",
        "workflow": "order",
        "step": "charge",
        "attempt": 1,
    }
    assert handler.records[1].run_id == "mine"  # type: ignore[attr-defined]


def format_one(formatter: logging.Formatter, **kwargs: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("runtime.worker.json-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        log = RunLogAdapter(logger)
        message = kwargs.pop("message", "run %s: %s")
        args = kwargs.pop("args", ("r5", "completed"))
        log.warning(message, *args, **kwargs)  # type: ignore[arg-type,misc]
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].isascii()
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_the_json_formatter_writes_one_object_per_line_with_the_run_fields() -> None:
    with log_context(run_id="r5", workflow="order", step="charge", attempt=3):
        document = format_one(JsonFormatter(static={"worker_id": "w1"}))
    time = document.pop("time")
    assert isinstance(time, str)
    assert time.endswith("Z")
    assert len(time) == len("2026-01-01T00:00:00.000Z")
    assert document == {
        "level": "WARNING",
        "logger": "runtime.worker.json-test",
        "message": "run r5: completed",
        "worker_id": "w1",
        "run_id": "r5",
        "workflow": "order",
        "step": "charge",
        "attempt": 3,
    }


def test_the_json_formatter_omits_unbound_fields_and_keeps_extras_and_tracebacks() -> None:
    order: dict[str, int] = {"amount": 3}
    try:
        order["amuont"]
    except KeyError:
        document = format_one(JsonFormatter(), exc_info=True, extra={"seq": 7, "odd": object()})
    assert not {"run_id", "workflow", "step", "attempt"} & set(document)
    assert document["seq"] == 7
    assert str(document["odd"]).startswith("<object object at")
    exception = document["exception"]
    assert isinstance(exception, str)
    assert exception.startswith("Traceback (most recent call last):")
    assert exception.endswith("KeyError: 'amuont'")


def test_the_json_line_cannot_be_broken_or_act_on_a_terminal_and_hides_secrets() -> None:
    document = format_one(
        JsonFormatter(secrets=["hunter2"]),
        message="line\nbreak \x1b[31mred\x1b[0m é postgresql://u:hunter2@db",
        args=(),
    )
    assert document["message"] == "line\nbreak \x1b[31mred\x1b[0m é postgresql://u:***@db"


def test_log_once_logs_an_event_once_and_stays_bounded(
    captured: tuple[logging.Logger, Capture],
) -> None:
    logger, handler = captured
    once = LogOnce(maxsize=2)
    for _ in range(100):  # every replay of the same run meets the same failed rollback
        once.log(logger, logging.WARNING, ("r6", "n3", "rollback_failed"), "rollback failed")
    assert [r.getMessage() for r in handler.records] == ["rollback failed"]
    assert once.first("b")
    assert once.first("c")  # forgets the oldest key: memory stays bounded
    assert len(once) == 2
    assert once.first(("r6", "n3", "rollback_failed"))
    assert not once.first("c")
    with pytest.raises(ValueError, match="LogOnce maxsize must be a positive int, got 0"):
        LogOnce(0)
