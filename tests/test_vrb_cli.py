"""The ``vrb`` command, driven as a real process against SQLite and PostgreSQL.

Every test runs ``python -m runtime.cli`` (one runs the ``vrb`` console script)
in a subprocess. Runs are executed by ``vrb worker`` subprocesses serving the
whitepaper examples; the PostgreSQL half uses ``VRB_TEST_POSTGRES_URL`` with a
schema of its own and skips when the server is unreachable (fails under
``CI=true``), through the fixtures of ``tests/stores/conftest.py``.

Waits poll for a condition with a generous deadline that only guards against a
hang; no test asserts how long anything took.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.stores.conftest import (  # noqa: F401 - postgres_server is a fixture, requested by name
    drop_schema,
    postgres_server,
    with_schema,
)

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "runtime.cli"]
DEADLINE = 90.0  # seconds before a wait is declared hung (a safety net, not a measurement)
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_KEYS = {
    "run_id",
    "workflow_name",
    "status",
    "result",
    "error",
    "graph_hash",
    "created_at",
    "updated_at",
}
EVENT_KEYS = {"seq", "type", "key", "payload", "at"}
STATUSES = ["pending", "running", "waiting", "completed", "failed", "cancelled"]
ORDER = {"id": "A1", "items": [{"price": 2.5, "quantity": 2}]}
EXAMPLES = (
    "examples.order_processing",
    "examples/saga.py",  # the path form of MODULE
    "examples.approval",
    "examples.signals",
)
SERVED = [
    "approval-workflow",
    "my-main-workflow",
    "my-workflow",
    "order-processing",
    "saga-with-rollbacks",
]


# --------------------------------------------------------------------------- helpers


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VRB_DATABASE_URL", "NO_COLOR")}
    env.update(extra)
    return env


@dataclass
class Result:
    """A finished ``vrb`` process."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def vrb(
    *args: str, db: str | None = None, cwd: Path = REPO, env: dict[str, str] | None = None
) -> Result:
    """Run ``vrb ARGS [--db DB]`` to completion."""
    command = [*CLI, *args, *(["--db", db] if db is not None else [])]
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env if env is not None else _env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def ok(*args: str, db: str | None = None, **kwargs: Any) -> Result:
    """Run ``vrb`` and require exit 0."""
    result = vrb(*args, db=db, **kwargs)
    assert result.code == 0, f"vrb {' '.join(args)} exited {result.code}: {result.err}"
    assert "Traceback" not in result.err
    return result


def assert_one_line_error(result: Result, code: int, *fragments: str) -> str:
    """The process failed with ``code`` and one ``vrb: error:`` line holding ``fragments``."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("vrb: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def show(run_id: str, db: str) -> dict[str, Any]:
    """``vrb runs show RUN --json``."""
    document: dict[str, Any] = ok("runs", "show", run_id, "--json", db=db).json()
    return document


class WorkerProcess:
    """A ``vrb worker`` subprocess with its output in files."""

    def __init__(
        self,
        directory: Path,
        db: str,
        *modules: str,
        options: tuple[str, ...] = (),
        program: tuple[str, ...] = tuple(CLI),
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.stdout = directory / "worker.out"
        self.stderr = directory / "worker.err"
        command = [
            *program,
            "worker",
            *modules,
            "--db",
            db,
            "--poll-interval",
            "0.05",
            "--lease-timeout",
            "3",
            *options,
        ]
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=out, stderr=err)

    def output(self) -> str:
        return self.stdout.read_text()

    def errors(self) -> str:
        return self.stderr.read_text()

    def wait_for(self, check: Callable[[], bool], what: str) -> None:
        """Poll until ``check()``, failing with the worker's stderr if it exits meanwhile."""

        def ready() -> bool:
            if check():
                return True
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited {self.process.returncode}: {self.errors()}")
            return False

        eventually(ready, what)

    def wait_serving(self, count: int) -> list[str]:
        """The worker's start lines, once it printed ``count`` of them."""
        self.wait_for(lambda: len(self.output().splitlines()) >= count, "the worker to start")
        return self.output().splitlines()

    def stop(self, signum: int | None = signal.SIGTERM) -> int:
        """Send ``signum`` (``None``: none, it was sent) and wait for the exit status."""
        if signum is not None and self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the worker did not stop: {self.errors()}")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh store URL per backend, shared by this module's tests of that backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'vrb.db'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    schema = f"vrb_test_{uuid.uuid4().hex[:16]}"
    yield with_schema(server, schema)
    drop_schema(server, schema)


@pytest.fixture(scope="module")
def served(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The backend's URL, with a ``vrb worker`` serving the examples on it."""
    worker = WorkerProcess(tmp_path_factory.mktemp("worker"), backend, *EXAMPLES)
    lines = worker.wait_serving(len(SERVED))
    assert [line.split()[1] for line in lines] == SERVED
    yield backend
    code = worker.stop()
    assert code == 0, worker.errors()


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A fresh SQLite store no worker serves."""
    return f"sqlite:///{tmp_path / 'vrb.db'}"


def trigger_wait(db: str, name: str, args: Any, *extra: str) -> Result:
    """``vrb trigger NAME --args JSON --wait EXTRA``."""
    return vrb("trigger", name, "--args", json.dumps(args), "--wait", *extra, db=db)


def rejected(db: str) -> str:
    """The id of an ``approval-workflow`` run that failed: its manager said no."""
    run_id = ok("trigger", "approval-workflow", "--args", '[{"amount": 9}]', db=db).out.strip()
    ok("signal", run_id, "manager-decision", "--payload", '{"approved": false}', db=db)
    waited = vrb("trigger", "approval-workflow", "--run-id", run_id, "--wait", db=db)
    assert waited.code == 1
    assert re.fullmatch(
        f"vrb: error: run {run_id} ended failed: StepFailed: step 'await-approval' failed: "
        r"ValueError: Request REQ-\d+ rejected",
        waited.err.splitlines()[-1],
    )
    return run_id


# --------------------------------------------------------------------------- with a worker


def test_trigger_wait_prints_the_run_id_then_the_result(served: str) -> None:
    result = trigger_wait(served, "order-processing", [ORDER])
    assert result.code == 0, result.err
    run_id, output = result.out.splitlines()
    assert RUN_ID.match(run_id)
    assert json.loads(output) == {"status": "completed", "orderId": "A1"}
    assert result.err == ""


def test_trigger_wait_json_is_one_document_with_stable_keys(served: str) -> None:
    result = trigger_wait(served, "order-processing", [ORDER], "--json", "--run-id", "json-order-1")
    assert result.code == 0, result.err
    document = result.json()
    assert list(document) == ["run_id", "workflow_name", "created", "status", "result", "error"]
    assert document == {
        "run_id": "json-order-1",
        "workflow_name": "order-processing",
        "created": True,
        "status": "completed",
        "result": {"status": "completed", "orderId": "A1"},
        "error": None,
    }


def test_trigger_wait_on_a_failing_saga_exits_1_after_the_rollbacks(served: str) -> None:
    result = trigger_wait(served, "saga-with-rollbacks", ["u1", True])
    line = assert_one_line_error(
        result,
        1,
        "ended failed: StepFailed: step 'book-car' failed: RuntimeError: Car rental service unavailable!",
    )
    (run_id,) = result.out.splitlines()
    assert f"run {run_id} ended failed" in line
    document = show(run_id, served)
    assert document["run"]["status"] == "failed"
    assert document["run"]["error"] == {
        "type": "StepFailed",
        "message": "step 'book-car' failed: RuntimeError: Car rental service unavailable!",
    }
    rollbacks = [
        event["payload"]["step"]
        for event in document["history"]
        if event["type"] == "rollback_completed"
    ]
    assert rollbacks == ["book-hotel", "book-flight"]


def test_trigger_wait_json_reports_the_failed_run_and_exits_1(served: str) -> None:
    result = trigger_wait(served, "saga-with-rollbacks", ["u2", True], "--json")
    assert result.code == 1
    document = result.json()
    assert document["status"] == "failed"
    assert document["result"] is None
    assert document["error"]["type"] == "StepFailed"
    assert_one_line_error(result, 1, f"run {document['run_id']} ended failed")


def test_signal_releases_a_run_waiting_in_a_step(served: str) -> None:
    run_id = ok("trigger", "approval-workflow", "--args", '[{"amount": 5}]', db=served).out.strip()
    assert RUN_ID.match(run_id)
    sent = ok(
        "signal",
        run_id,
        "manager-decision",
        "--payload",
        '{"approved": true, "approver": "ann"}',
        db=served,
    )
    assert sent.out == f"sent signal manager-decision to run {run_id}\n"
    # Triggering an existing run id again is idempotent: --wait then waits for that run.
    waited = vrb("trigger", "approval-workflow", "--run-id", run_id, "--wait", "--json", db=served)
    assert waited.code == 0, waited.err
    assert waited.json()["created"] is False
    assert waited.json()["result"] == {"completed": True}
    assert (
        waited.err
        == f"vrb: run {run_id} already exists (workflow approval-workflow); it was not triggered again\n"
    )
    consumed = [e for e in show(run_id, served)["history"] if e["type"] == "signal_consumed"]
    assert [e["payload"]["payload"] for e in consumed] == [{"approved": True, "approver": "ann"}]


def test_signal_json_echoes_what_was_sent(served: str) -> None:
    run_id = ok("trigger", "approval-workflow", "--args", '[{"amount": 1}]', db=served).out.strip()
    sent = ok(
        "signal",
        run_id,
        "manager-decision",
        "--payload",
        '{"approved": true, "approver": "bo"}',
        "--json",
        db=served,
    )
    assert sent.json() == {
        "run_id": run_id,
        "signal": "manager-decision",
        "payload": {"approved": True, "approver": "bo"},
    }
    waited = vrb("trigger", "approval-workflow", "--run-id", run_id, "--wait", db=served)
    assert waited.out.splitlines() == [run_id, '{"completed": true}']


def test_signal_to_a_finished_run_is_bad_input(served: str) -> None:
    run_id = trigger_wait(served, "order-processing", [ORDER]).out.split()[0]
    result = vrb("signal", run_id, "manager-decision", "--payload", "{}", db=served)
    assert_one_line_error(result, 2, f"run {run_id} already ended (completed)")
    assert result.out == ""


def test_cancel_stops_a_waiting_run_which_ends_cancelled(served: str) -> None:
    run_id = f"cancel-{uuid.uuid4().hex[:8]}"
    ok("trigger", "my-workflow", "--args", '[{"message": "hi"}]', "--run-id", run_id, db=served)
    ok("signal", run_id, "manager-approval", "--payload", '{"approved": true}', db=served)
    eventually(
        lambda: show(run_id, served)["run"]["status"] == "waiting", "the run to wait for other-sig"
    )
    cancelled = ok("runs", "cancel", run_id, "--json", db=served).json()
    assert set(cancelled) == RUN_KEYS
    assert cancelled["run_id"] == run_id
    assert cancelled["status"] in ("waiting", "running", "cancelled")
    waited = vrb("trigger", "my-workflow", "--run-id", run_id, "--wait", "--json", db=served)
    assert waited.code == 1
    assert waited.json()["status"] == "cancelled"
    assert waited.json()["error"] == {"type": "Cancelled", "message": "cancellation requested"}
    assert waited.err.splitlines() == [
        f"vrb: run {run_id} already exists (workflow my-workflow); it was not triggered again",
        f"vrb: error: run {run_id} ended cancelled: Cancelled: cancellation requested",
    ]
    types = [event["type"] for event in show(run_id, served)["history"]]
    assert types[-1] == "run_cancelled"
    again = vrb("runs", "cancel", run_id, db=served)
    assert_one_line_error(again, 2, f"run {run_id} already ended (cancelled)")


def test_a_body_signal_completes_a_waiting_run(served: str) -> None:
    run_id = f"body-{uuid.uuid4().hex[:8]}"
    ok("trigger", "my-workflow", "--args", '[{"message": "hi"}]', "--run-id", run_id, db=served)
    ok("signal", run_id, "manager-approval", "--payload", '{"approved": true}', db=served)
    eventually(
        lambda: show(run_id, served)["run"]["status"] == "waiting", "the run to wait for other-sig"
    )
    ok("signal", run_id, "other-sig", "--payload", '{"ok": "yes"}', db=served)
    waited = vrb("trigger", "my-workflow", "--run-id", run_id, "--wait", db=served)
    assert waited.code == 0, waited.err
    assert json.loads(waited.out.splitlines()[1]) == {"approved": True, "ok": "yes"}


def test_runs_list_filters_by_workflow_and_status(served: str) -> None:
    completed = trigger_wait(served, "order-processing", [ORDER]).out.split()[0]
    failed = rejected(served)

    def listed(*options: str) -> list[dict[str, Any]]:
        document = ok("runs", "list", *options, "--limit", "1000", "--json", db=served).json()
        assert list(document) == ["runs", "next_cursor"]
        assert document["next_cursor"] is None
        for run in document["runs"]:
            assert set(run) == RUN_KEYS
        runs: list[dict[str, Any]] = document["runs"]
        return runs

    orders = listed("--workflow", "order-processing")
    assert completed in [run["run_id"] for run in orders]
    assert {run["workflow_name"] for run in orders} == {"order-processing"}
    failures = listed("--status", "failed")
    assert failed in [run["run_id"] for run in failures]
    assert completed not in [run["run_id"] for run in failures]
    assert {run["status"] for run in failures} == {"failed"}
    both = listed("--workflow", "approval-workflow", "--status", "failed")
    assert failed in [run["run_id"] for run in both]
    assert listed("--workflow", "order-processing", "--status", "failed") == []
    assert listed("--workflow", "no-such-workflow") == []
    # Newest first, and --limit pages with a cursor.
    everything = listed()
    first = ok("runs", "list", "--limit", "1", "--json", db=served).json()
    assert [run["run_id"] for run in first["runs"]] == [everything[0]["run_id"]]
    assert first["next_cursor"] is not None
    second = ok(
        "runs", "list", "--limit", "1", "--cursor", first["next_cursor"], "--json", db=served
    ).json()
    assert [run["run_id"] for run in second["runs"]] == [everything[1]["run_id"]]


def test_runs_list_text_is_aligned_columns(served: str) -> None:
    ok("trigger", "order-processing", "--args", json.dumps([ORDER]), db=served)
    failed = rejected(served)
    result = ok("runs", "list", "--limit", "1", db=served)
    header, row = result.out.splitlines()
    assert header.split() == [
        "RUN",
        "ID",
        "WORKFLOW",
        "STATUS",
        "CREATED",
        "UPDATED",
        "RESULT",
        "/",
        "ERROR",
    ]
    assert row.startswith(f"{failed}  approval-workflow  failed  ")
    assert row.index("failed") == header.index("STATUS")
    assert re.search(
        r"  StepFailed: step 'await-approval' failed: ValueError: Request REQ-\d+ rejected$", row
    )
    assert result.err.startswith("vrb: more runs: add --cursor ")


def test_runs_show_prints_status_result_and_a_history_table(served: str) -> None:
    run_id = trigger_wait(served, "order-processing", [ORDER]).out.split()[0]
    result = ok("runs", "show", run_id, db=served)
    assert "\x1b" not in result.out
    assert not re.search("[\u2500-\u257f]", result.out), "box drawing in non-TTY output"
    head, table = result.out.split("\n\n")
    fields = dict(line.split(None, 1) for line in head.splitlines())
    assert fields["run"] == run_id
    assert fields["workflow"] == "order-processing"
    assert fields["status"] == "completed"
    assert fields["result"] == '{"status": "completed", "orderId": "A1"}'
    assert re.fullmatch("[0-9a-f]{64}", fields["graph"])
    rows = table.splitlines()
    assert rows[0].split() == ["SEQ", "TYPE", "KEY", "PAYLOAD", "TIME"]
    assert int(fields["events"]) == len(rows) - 1
    cells = [re.split(r"\s{2,}", row.strip()) for row in rows[1:]]
    assert [int(cell[0]) for cell in cells] == list(range(1, len(rows)))
    assert cells[0][:3] == ["1", "run_created", "-"]
    assert cells[0][3] == 'input [{"id": "A1", "items": [{"price": 2.5, "quantity": 2}]}]'
    by_type = {(cell[1], cell[3].split()[0]): cell for cell in cells if len(cell) == 5}
    validated = by_type[("step_completed", "validate-order")]
    assert validated[3] == 'validate-order -> {"valid": true, "total": 5.0}'
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", validated[4])
    assert cells[-1][1] == "run_completed"
    assert cells[-1][3] == 'result {"status": "completed", "orderId": "A1"}'


def test_runs_show_of_a_failed_run_prints_its_error(served: str) -> None:
    run_id = trigger_wait(served, "saga-with-rollbacks", ["u5", True]).out.split()[0]
    result = ok("runs", "show", run_id, db=served)
    fields = dict(line.split(None, 1) for line in result.out.split("\n\n")[0].splitlines())
    assert fields["status"] == "failed"
    assert (
        fields["error"]
        == "StepFailed: step 'book-car' failed: RuntimeError: Car rental service unavailable!"
    )
    assert "result" not in fields
    rollbacks = re.findall(r"^ *\d+  rollback_completed  n\d+ +(book-\w+) -> ", result.out, re.M)
    assert rollbacks == ["book-hotel", "book-flight"]
    assert "book-car attempt 3: RuntimeError: Car rental service unavailable!" in result.out


def test_runs_history_json_lists_every_event_in_order(served: str) -> None:
    run_id = trigger_wait(served, "order-processing", [ORDER]).out.split()[0]
    document = ok("runs", "history", run_id, "--json", db=served).json()
    assert list(document) == ["run_id", "events", "next_after"]
    assert document["next_after"] is None  # one page holds the whole run
    assert document["run_id"] == run_id
    events = document["events"]
    for event in events:
        assert list(event) == ["seq", "type", "key", "payload", "at"]
        assert event["at"].endswith("Z")
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run_created"
    assert events[0]["payload"] == {"workflow": "order-processing", "input": [ORDER]}
    assert events[-1] == {**events[-1], "type": "run_completed", "key": None}
    steps = [e["payload"]["step"] for e in events if e["type"] == "step_completed"]
    assert steps == ["validate-order", "reserve-inventory", "process-payment", "confirm-order"]
    text = ok("runs", "history", run_id, db=served).out.splitlines()
    assert text[0].split() == ["SEQ", "TYPE", "KEY", "PAYLOAD", "TIME"]
    assert len(text) == len(events) + 1


def test_stats_count_the_runs_of_a_workflow(served: str) -> None:
    def stats() -> dict[str, Any]:
        document: dict[str, Any] = ok(
            "stats", "--workflow", "order-processing", "--json", db=served
        ).json()
        return document

    before = stats()
    for _ in range(2):
        assert trigger_wait(served, "order-processing", [ORDER]).code == 0
    after = stats()
    assert list(after) == [
        "workflow_name",
        "total_runs",
        "success_rate",
        "avg_duration_ms",
        "by_status",
    ]
    assert after["workflow_name"] == "order-processing"
    assert after["total_runs"] == before["total_runs"] + 2
    assert after["by_status"]["completed"] == before["by_status"]["completed"] + 2
    assert list(after["by_status"]) == STATUSES
    assert sum(after["by_status"].values()) == after["total_runs"]
    ended = sum(after["by_status"][status] for status in ("completed", "failed", "cancelled"))
    assert after["success_rate"] == pytest.approx(after["by_status"]["completed"] / ended)
    assert after["avg_duration_ms"] > 0
    text = ok("stats", "--workflow", "order-processing", db=served).out
    head, table = text.split("\n\n")
    fields = dict(re.split(r"\s{2,}", line) for line in head.splitlines())
    assert fields["workflow"] == "order-processing"
    assert fields["total runs"] == str(after["total_runs"])
    assert fields["success rate"] == f"{after['success_rate'] * 100:.1f}%"
    assert fields["avg duration"] == f"{after['avg_duration_ms']:.1f} ms"
    rows = [line.split() for line in table.splitlines()]
    assert rows[0] == ["STATUS", "RUNS"]
    assert [row[0] for row in rows[1:]] == STATUSES


# --------------------------------------------------------------------------- without a worker


def test_cancel_ends_a_run_no_worker_started_at_once(db: str) -> None:
    run_id = ok("trigger", "no-such-workflow", db=db).out.strip()
    cancelled = ok("runs", "cancel", run_id, db=db)
    assert cancelled.out.splitlines() == [
        f"run {run_id} cancelled: no worker had started it, so there was nothing to stop "
        "or compensate"
    ]
    assert cancelled.err == ""
    document = show(run_id, db)
    assert document["run"]["status"] == "cancelled"
    assert document["run"]["error"] == {"type": "Cancelled", "message": "cancellation requested"}
    assert [event["type"] for event in document["history"]] == ["run_created", "run_cancelled"]
    waited = vrb("trigger", "no-such-workflow", "--run-id", run_id, "--wait", db=db)
    assert waited.code == 1
    assert waited.err.splitlines()[-1] == (
        f"vrb: error: run {run_id} ended cancelled: Cancelled: cancellation requested"
    )
    other = ok("trigger", "no-such-workflow", db=db).out.strip()
    assert ok("runs", "cancel", other, "--json", db=db).json()["status"] == "cancelled"
    assert_one_line_error(
        vrb("runs", "cancel", run_id, db=db), 2, f"run {run_id} already ended (cancelled)"
    )


def test_stats_of_a_database_without_finished_runs(db: str) -> None:
    ok("trigger", "order-processing", "--args", json.dumps([ORDER]), db=db)
    ok("trigger", "saga-with-rollbacks", "--args", '["u1"]', db=db)
    document = ok("stats", "--json", db=db).json()
    assert document == {
        "workflow_name": None,
        "total_runs": 2,
        "success_rate": None,
        "avg_duration_ms": None,
        "by_status": {status: 2 if status == "pending" else 0 for status in STATUSES},
    }
    only = ok("stats", "--workflow", "saga-with-rollbacks", "--json", db=db).json()
    assert only["total_runs"] == 1
    text = ok("stats", db=db).out
    assert "success rate  -" in text
    assert "avg duration  -" in text
    assert "total runs    2" in text


def test_trigger_prints_only_the_run_id_and_is_idempotent_by_run_id(db: str) -> None:
    first = ok(
        "trigger", "order-processing", "--run-id", "order-7", "--args", json.dumps([ORDER]), db=db
    )
    assert first.out == "order-7\n"
    assert first.err == ""
    again = ok("trigger", "order-processing", "--run-id", "order-7", "--json", db=db)
    assert again.json() == {
        "run_id": "order-7",
        "workflow_name": "order-processing",
        "created": False,
    }
    runs = ok("runs", "list", "--json", db=db).json()["runs"]
    assert [run["run_id"] for run in runs] == ["order-7"]
    assert runs[0]["status"] == "pending"
    assert runs[0]["graph_hash"] is None


def test_the_database_comes_from_db_then_the_environment_then_vrb_db(tmp_path: Path) -> None:
    ok("trigger", "order-processing", "--run-id", "default", cwd=tmp_path)
    assert (tmp_path / "vrb.db").is_file()
    env_db = tmp_path / "env.db"
    env = _env(VRB_DATABASE_URL=f"sqlite:///{env_db}")
    ok("trigger", "order-processing", "--run-id", "from-env", cwd=tmp_path, env=env)
    flag_db = f"sqlite:///{tmp_path / 'flag.db'}"
    ok("trigger", "order-processing", "--run-id", "from-flag", db=flag_db, cwd=tmp_path, env=env)

    def ids(*args: str, **kwargs: Any) -> list[str]:
        return [
            run["run_id"]
            for run in ok("runs", "list", "--json", *args, cwd=tmp_path, **kwargs).json()["runs"]
        ]

    assert ids() == ["default"]
    assert ids(env=env) == ["from-env"]
    assert ids(db=flag_db, env=env) == ["from-flag"]


def test_wait_that_times_out_exits_1(db: str) -> None:
    result = vrb(
        "trigger",
        "order-processing",
        "--args",
        json.dumps([ORDER]),
        "--wait",
        "--timeout",
        "0.2",
        db=db,
    )
    line = assert_one_line_error(
        result, 1, "is still pending after 0.2s; is a worker serving its workflow?"
    )
    (run_id,) = result.out.splitlines()
    assert f"run {run_id} " in line


def test_ctrl_c_while_waiting_exits_130(db: str, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [*CLI, "trigger", "order-processing", "--wait", "--db", db],
            cwd=REPO,
            env=_env(),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    # The run id is printed before the wait starts.
    eventually(lambda: out.read_text().strip(), "the run id")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130
    assert err == "vrb: interrupted\n"


BAD_INPUT = [
    pytest.param(
        ["trigger", "w", "--args", '[{"id": 1,}]'],
        "--args is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 11 (character 11)",
        id="args-json",
    ),
    pytest.param(
        ["trigger", "w", "--args", "[1,\n 2"],
        "--args is not valid JSON: Expecting ',' delimiter at line 2 column 3",
        id="args-json-multiline",
    ),
    pytest.param(
        ["trigger", "w", "--args", "5"],
        "args of workflow 'w' must be a list of positional arguments or a dict",
        id="args-scalar",
    ),
    pytest.param(
        ["trigger", "w", "--timeout", "3"], "--timeout goes with --wait", id="timeout-without-wait"
    ),
    pytest.param(
        ["trigger", "w", "--wait", "--timeout", "-1"],
        "argument --timeout: expected a positive number of seconds, got '-1'",
        id="timeout-negative",
    ),
    pytest.param(
        ["signal", "no-such-run", "go", "--payload", "{'a': 1}"],
        "--payload is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2 (character 2)",
        id="payload-json",
    ),
    pytest.param(
        ["signal", "no-such-run", "go"], "no run with id 'no-such-run'", id="signal-unknown-run"
    ),
    pytest.param(
        ["runs", "show", "no-such-run"], "no run with id 'no-such-run'", id="show-unknown-run"
    ),
    pytest.param(
        ["runs", "history", "no-such-run"], "no run with id 'no-such-run'", id="history-unknown-run"
    ),
    pytest.param(
        ["runs", "cancel", "no-such-run"], "no run with id 'no-such-run'", id="cancel-unknown-run"
    ),
    pytest.param(
        ["runs", "list", "--status", "done"],
        "argument --status: invalid choice: 'done'",
        id="list-status",
    ),
    pytest.param(
        ["runs", "list", "--limit", "0"],
        "argument --limit: expected a positive integer, got '0'",
        id="list-limit-zero",
    ),
    pytest.param(
        ["runs", "list", "--limit", "5000"],
        "limit must be an int from 1 to 1000, got 5000",
        id="list-limit-large",
    ),
    pytest.param(["runs", "list", "--cursor", "garbage"], "cursor", id="list-cursor"),
    pytest.param(
        ["runs"], "the following arguments are required: COMMAND", id="runs-without-command"
    ),
    pytest.param(["launch"], "argument COMMAND: invalid choice: 'launch'", id="unknown-command"),
    pytest.param(
        ["signal", "run-1"], "the following arguments are required: NAME", id="signal-missing-name"
    ),
    pytest.param(["stats", "--verbose"], "unrecognized arguments: --verbose", id="unknown-option"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_error_line_and_exit_2(db: str, args: list[str], message: str) -> None:
    # The store comes from the environment, so --db does not disturb the arguments under test.
    result = vrb(*args, env=_env(VRB_DATABASE_URL=db))
    assert_one_line_error(result, 2, message)
    assert result.out == ""


@pytest.mark.parametrize(
    ("args", "option", "example"),
    [
        pytest.param(["trigger", "w", "--args", "[1"], "--args", """'[{"id": "A1"}]'""", id="args"),
        pytest.param(
            ["signal", "r", "s", "--payload", "[1"],
            "--payload",
            """'{"approved": true}'""",
            id="payload",
        ),
    ],
)
def test_bad_json_hint_shows_the_option_that_was_given(
    db: str, args: list[str], option: str, example: str
) -> None:
    result = vrb(*args, env=_env(VRB_DATABASE_URL=db))
    line = assert_one_line_error(
        result, 2, f"{option} is not valid JSON", f"e.g. {option} {example}"
    )
    other = "--payload" if option == "--args" else "--args"
    assert other not in line


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["runs", "show", "no-such-run"], id="unknown-run"),
        pytest.param(["signal", "r", "s", "--payload", "[1"], id="bad-json"),
        pytest.param(["runs", "list", "--limit", "0"], id="bad-option-value"),
        pytest.param(["stats", "--verbose"], id="unknown-option"),
        pytest.param(["worker", "README.md"], id="worker-not-python"),
        pytest.param(["trigger", "w", "--db", "mysql://x"], id="bad-database"),
    ],
)
def test_json_mode_errors_leave_stdout_empty_and_stderr_one_line(db: str, args: list[str]) -> None:
    # A script parsing stdout as JSON sees nothing rather than half a document.
    result = vrb(*args, "--json", env=_env(VRB_DATABASE_URL=db))
    assert_one_line_error(result, 2)
    assert result.out == ""


def test_json_mode_failed_wait_prints_one_document_and_one_error_line(db: str) -> None:
    result = vrb("trigger", "order-processing", "--wait", "--timeout", "0.2", "--json", db=db)
    line = assert_one_line_error(result, 1, "is still pending after 0.2s")
    document = result.json()  # the whole of stdout is one JSON document
    assert document["status"] == "pending"
    assert f"run {document['run_id']} " in line


def test_a_trigger_reusing_a_run_id_of_another_workflow_is_bad_input(db: str) -> None:
    ok("trigger", "order-processing", "--run-id", "shared-id", db=db)
    result = vrb("trigger", "saga-with-rollbacks", "--run-id", "shared-id", db=db)
    assert_one_line_error(
        result, 2, "run id 'shared-id' already belongs to a run of workflow 'order-processing'"
    )


# Each URL with a different command: every command opens its store the same way.
BAD_DATABASES = [
    pytest.param(
        ["runs", "list"],
        "mysql://localhost/x",
        "unsupported store URL 'mysql://localhost/x'",
        id="scheme",
    ),
    pytest.param(["stats"], "vrb.db", "has no scheme", id="no-scheme"),
    pytest.param(["trigger", "w"], "sqlite://", "write sqlite:///relative/path.db", id="slashes"),
    pytest.param(
        ["runs", "show", "r"],
        "sqlite:///x.db?journal=off",
        "unknown option journal='off'",
        id="option",
    ),
    pytest.param(
        ["trigger", "w"],
        "sqlite:////no/such/directory/vrb.db",
        "cannot open SQLite database '/no/such/directory/vrb.db'",
        id="sqlite-directory",
    ),
    pytest.param(["signal", "r", "s"], "memory://", "lives inside one process", id="memory"),
    pytest.param(
        ["runs", "list"],
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=5",
        "cannot connect to PostgreSQL",
        id="postgres-unreachable",
    ),
    pytest.param(
        ["stats"],
        "postgresql://user:secret@127.0.0.1:1/none?connect_timeout=5",
        "cannot connect to PostgreSQL at postgresql://user@127.0.0.1:1/none",
        id="postgres-password-hidden",
    ),
]


@pytest.mark.parametrize(("command", "url", "message"), BAD_DATABASES)
def test_a_bad_or_unreachable_database_is_exit_2(
    tmp_path: Path, command: list[str], url: str, message: str
) -> None:
    result = vrb(*command, db=url, cwd=tmp_path)
    assert_one_line_error(result, 2, message)
    assert "secret" not in result.err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_database_in_the_environment_is_exit_2(tmp_path: Path) -> None:
    result = vrb("runs", "list", cwd=tmp_path, env=_env(VRB_DATABASE_URL="nope://x"))
    assert_one_line_error(result, 2, "unsupported store URL 'nope://x'")


# --------------------------------------------------------------------------- the worker command


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("modules", "options", "message"),
    [
        pytest.param(
            ["examples.no_such_module"],
            [],
            "cannot import workflow module 'examples.no_such_module': no such module",
            id="module",
        ),
        pytest.param(
            ["examples/no_such_file.py"],
            [],
            "workflow module file 'examples/no_such_file.py' does not exist",
            id="file",
        ),
        pytest.param(
            ["docs/index.md"],
            [],
            "workflow module file 'docs/index.md' is not a Python file",
            id="file-not-python",
        ),
        pytest.param(
            ["README.md"],
            [],
            "workflow module file 'README.md' is not a Python file",
            id="file-not-python-in-cwd",
        ),
        pytest.param(
            ["examples/"], [], "workflow module 'examples/' is a directory", id="directory"
        ),
        pytest.param(
            ["examples.order_processing"], ["--workflow", "nope"], "'nope'", id="unknown-workflow"
        ),
        pytest.param(
            ["runtime.durations"],
            [],
            "modules runtime.durations register no workflow",
            id="no-workflows",
        ),
        pytest.param(
            ["examples/broken/wall_clock.py"],
            [],
            "fix it (vrb-compile check",
            id="nondeterministic",
        ),
        pytest.param(
            ["examples.order_processing"],
            ["--concurrency", "0"],
            "argument --concurrency: must be an int from 1 to 10000, got '0'",
            id="concurrency",
        ),
        pytest.param(
            ["examples.order_processing"],
            ["--lease-timeout", "1e12"],
            "argument --lease-timeout: must be from 0.01 to 86400 seconds (1 day), got '1e12'",
            id="lease-timeout",
        ),
        pytest.param(
            ["examples.order_processing"],
            ["--graphs", "/no/such/graphs"],
            "graph directory /no/such/graphs: No such file or directory",
            id="graphs",
        ),
        pytest.param(
            ["examples.order_processing"],
            ["--db", "memory://"],
            "lives inside one process",
            id="memory-db",
        ),
    ],
)
def test_worker_bad_input_is_exit_2_before_serving(
    db: str, modules: list[str], options: list[str], message: str
) -> None:
    result = vrb("worker", *modules, *options, *(["--db", db] if "--db" not in options else []))
    assert_one_line_error(result, 2, message)
    assert result.out == ""


def test_worker_reports_a_module_that_fails_to_import(db: str, tmp_path: Path) -> None:
    broken = _write(tmp_path / "pkg_cli_broken" / "flows.py", "def oops(:\n    pass\n")
    _write(tmp_path / "pkg_cli_broken" / "__init__.py", "")
    result = vrb("worker", str(broken), db=db)
    assert_one_line_error(
        result,
        2,
        "importing workflow module 'pkg_cli_broken.flows' failed: SyntaxError",
        f"{broken}:1",
    )
    raising = _write(tmp_path / "raising_flows.py", "raise RuntimeError('no config')\n")
    result = vrb("worker", "raising_flows", db=db, cwd=tmp_path)
    assert_one_line_error(
        result, 2, "importing workflow module 'raising_flows' failed: RuntimeError: no config"
    )
    assert raising.exists()


def test_worker_drains_the_step_in_flight_on_sigterm_and_exits_0(db: str, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.mkdir()
    worker = WorkerProcess(tmp_path / "w1", db, "tests.cli.flows", options=("--json",))
    worker.wait_serving(1)
    announced = json.loads(worker.output().splitlines()[0])
    assert list(announced) == [
        "worker_id",
        "db",
        "concurrency",
        "graphs_seconds",
        "signed_graphs",
        "workflows",
    ]
    assert announced["db"] == db
    assert announced["concurrency"] == 5
    (flow,) = announced["workflows"]
    assert flow["name"] == "cli-hold"
    assert flow["module"] == "tests.cli.flows"
    assert re.fullmatch("[0-9a-f]{64}", flow["graph_hash"])

    run_id = ok("trigger", "cli-hold", "--args", json.dumps([str(hold)]), db=db).out.strip()
    worker.wait_for(lambda: (hold / "started").exists(), "the step to start")
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for(lambda: "SIGTERM received" in worker.errors(), "the worker to take the signal")
    (hold / "release").write_text("go")
    assert worker.stop(None) == 0, worker.errors()
    assert "Traceback" not in worker.errors()
    assert worker.errors().rstrip().endswith("stopped")

    # The step in flight finished and was recorded; the run was given back before the next one.
    document = show(run_id, db)
    types = [(event["type"], event["payload"].get("step")) for event in document["history"]]
    assert ("step_completed", "hold") in types
    assert ("step_started", "after-hold") not in types
    assert document["run"]["status"] in ("pending", "waiting")

    # Another worker finishes it without running the held step again.
    second = WorkerProcess(tmp_path / "w2", db, "tests/cli/flows.py")
    assert second.wait_serving(1)[0].startswith(
        f"serving cli-hold (graph {flow['graph_hash'][:12]}, tests.cli.flows)"
    )
    waited = vrb("trigger", "cli-hold", "--run-id", run_id, "--wait", db=db)
    assert waited.out.splitlines()[1] == '{"after": true}'
    assert second.stop() == 0
    assert (hold / "calls.txt").read_text() == "hold\n"


def _console_script() -> str:
    script = shutil.which("vrb", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the vrb console script is not installed (pip install -e .)")
    return script


def test_the_console_script_worker_imports_from_the_cwd_and_stops_on_ctrl_c_with_130(
    db: str, tmp_path: Path
) -> None:
    # The console script's sys.path starts at its bin directory: the worker must add the
    # cwd itself, as `python -m` does, for `examples.order_processing` to import.
    worker = WorkerProcess(
        tmp_path / "w", db, "examples.order_processing", program=(_console_script(),)
    )
    (line,) = worker.wait_serving(1)
    assert re.fullmatch(
        r"serving order-processing \(graph [0-9a-f]{12}, examples.order_processing\)", line
    )
    assert worker.stop(signal.SIGINT) == 130
    assert "SIGINT received" in worker.errors()
    assert "Traceback" not in worker.errors()


# --------------------------------------------------------------------------- terminals and entry points


def _in_terminal(args: list[str], env: dict[str, str], status: int = 0) -> str:
    """Run ``vrb`` with stdout and stderr on a pseudo-terminal; what it wrote there."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([*CLI, *args], cwd=REPO, env=env, stdout=secondary, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=DEADLINE) == status
    return b"".join(chunks).decode()


def test_a_terminal_shows_a_spinner_while_waiting(db: str) -> None:
    env = _env(TERM="xterm-256color", COLUMNS="120")
    args = ["trigger", "order-processing", "--wait", "--timeout", "1", "--db", db]
    text = _in_terminal(args, env, status=1)
    assert "waiting for a worker..." in text
    assert "is still pending after 1s" in text


def test_a_terminal_gets_a_rich_table_and_no_color_removes_colours(db: str) -> None:
    ok("trigger", "order-processing", "--run-id", "tty-run", db=db)
    base = _env(TERM="xterm-256color", COLUMNS="160")
    args = ["runs", "list", "--db", db]
    coloured = _in_terminal(args, base)
    assert "tty-run" in coloured
    assert "\x1b[" in coloured
    assert re.search("[\u2500-\u257f]", coloured), "no table rule drawn"
    plain = _in_terminal(args, {**base, "NO_COLOR": "1"})
    assert "tty-run" in plain
    assert not re.search(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;)[0-9;]*m", plain), repr(plain)
    # The same command into a pipe: no escape codes at all.
    piped = ok(*args).out
    assert "\x1b" not in piped
    assert piped.splitlines()[1].startswith("tty-run  order-processing  pending  ")


_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _screen(text: str) -> list[str]:
    """The lines a terminal shows: escape codes and carriage returns removed."""
    return [_ESCAPES.sub("", line).rstrip("\r") for line in text.split("\n")]


@pytest.fixture(scope="module")
def finished_order(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A SQLite store and the 32-character id of an order-processing run that completed."""
    directory = tmp_path_factory.mktemp("narrow")
    db = f"sqlite:///{directory / 'vrb.db'}"
    worker = WorkerProcess(directory / "worker", db, "examples.order_processing")
    worker.wait_serving(1)
    try:
        waited = trigger_wait(db, "order-processing", [ORDER])
        assert waited.code == 0, waited.err
    finally:
        assert worker.stop() == 0, worker.errors()
    run_id = waited.out.splitlines()[0]
    assert RUN_ID.fullmatch(run_id)
    return db, run_id


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_a_normal_terminal_history_table_cuts_only_the_payload(
    finished_order: tuple[str, str], columns: int
) -> None:
    db, run_id = finished_order
    env = _env(TERM="xterm-256color", COLUMNS=str(columns))
    screen = _screen(_in_terminal(["runs", "show", run_id, "--db", db], env))
    assert max(len(line) for line in screen) <= columns, "\n".join(screen)
    assert f"run       {run_id}" in screen
    events = show(run_id, db)["history"]
    rows = [line for line in screen if re.match(r"^\s*\d+\s", line)]
    # One line per event: seq, type, key and time whole, never folded onto a second line.
    assert len(rows) == len(events), "\n".join(screen)
    for row, event in zip(rows, events, strict=True):
        assert re.fullmatch(
            rf"\s*{event['seq']}\s+{event['type']}\s+{event['key'] or '-'}\s+.*\S\s+{_TIMESTAMP}\s*",
            row,
        ), row
    # The reservation's output does not fit in the payload column: it ends in an ellipsis.
    reserved = next(row for row in rows if "reserve-inventory ->" in row)
    assert "\u2026" in reserved


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_a_normal_terminal_run_list_keeps_the_run_id_on_one_line(
    finished_order: tuple[str, str], columns: int
) -> None:
    db, run_id = finished_order
    env = _env(TERM="xterm-256color", COLUMNS=str(columns))
    screen = _screen(_in_terminal(["runs", "list", "--db", db], env))
    assert max(len(line) for line in screen) <= columns, "\n".join(screen)
    (row,) = [line for line in screen if "order-processing" in line]
    assert row.split()[:3] == [run_id, "order-processing", "completed"]
    assert row.rstrip().endswith("\u2026") or row.rstrip().endswith("}")
    # The times make way for the result in a terminal too narrow for both.
    header = next(line for line in screen if "RUN ID" in line)
    assert ("CREATED" in header) == (columns >= 120)
    assert "UPDATED" not in header


def test_column_fitting_drops_optional_columns_right_to_left_and_never_cuts_the_others() -> None:
    from runtime.cli.render import Column, fit_columns

    columns = [
        Column("ID"),
        Column("A", optional=True),
        Column("B", optional=True),
        Column("W", wide=True),
    ]
    natural = [32, 24, 24, 60]

    def frame(count: int) -> int:
        return 3 * count - 1

    assert fit_columns(columns, natural, 200, frame) == [(0, 32), (1, 24), (2, 24), (3, 60)]
    assert fit_columns(columns, natural, 110, frame) == [(0, 32), (1, 24), (3, 46)]
    assert fit_columns(columns, natural, 60, frame) == [(0, 32), (3, 23)]
    # Narrower than the fixed columns: they keep their width and the terminal wraps.
    assert fit_columns(columns, natural, 30, frame) == [(0, 32), (3, 8)]


def test_the_vrb_console_script_runs_the_same_program(db: str) -> None:
    script = _console_script()
    done = subprocess.run(
        [script, "runs", "list", "--json", "--db", db],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"runs": [], "next_cursor": None}
    version = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=DEADLINE, check=False
    )
    assert version.returncode == 0
    assert re.fullmatch(r"vrb \d+\.\d+\.\d+\S*\n", version.stdout)


def test_help_names_every_command() -> None:
    result = ok("--help")
    for command in ("worker", "trigger", "signal", "runs", "stats"):
        assert command in result.out
    runs = ok("runs", "--help").out
    for command in ("list", "show", "history", "cancel"):
        assert command in runs


def test_the_cli_package_exports_are_pinned() -> None:
    import runtime.cli as cli

    assert sorted(cli.__all__) == ["build_parser", "main"]
    for name in cli.__all__:
        assert hasattr(cli, name), name


def test_worker_serves_graphs_built_by_vrb_compile(db: str, tmp_path: Path) -> None:
    graphs = tmp_path / "graphs"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrb_compile",
            "build",
            "examples/order_processing.py",
            "--out",
            str(graphs),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    built = json.loads((graphs / "manifest.json").read_text())["workflows"]["order-processing"]
    worker = WorkerProcess(
        tmp_path / "w", db, "examples.order_processing", options=("--graphs", str(graphs), "--json")
    )
    worker.wait_serving(1)
    (served,) = json.loads(worker.output().splitlines()[0])["workflows"]
    assert served == {
        "name": "order-processing",
        "graph_hash": built["hash"],
        "module": "examples.order_processing",
    }
    result = trigger_wait(db, "order-processing", [ORDER], "--json")
    assert result.code == 0, result.err
    assert result.json()["result"] == {"status": "completed", "orderId": "A1"}
    assert show(result.json()["run_id"], db)["run"]["graph_hash"] == built["hash"]
    assert worker.stop() == 0
