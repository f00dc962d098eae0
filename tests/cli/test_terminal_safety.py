"""What ``vrb`` prints of stored data is inert: no control character or bidi override reaches the terminal.

Runs of :mod:`tests.cli.hostile_flows` hold, in their signal payload, input,
step output, result and error message, ESC with a colour sequence, the C1 CSI,
a carriage return, a bell and the bidi override and isolate (U+202E, U+2066),
and in their run id, workflow name, step key and signal name the bidi
characters (the identifier rule refuses control characters in names: an id
holding one is refused with one inert error line). A real ``vrb worker`` runs them
on SQLite; then every command that prints them (``runs list|show|history``,
``stats``, ``trigger``, ``signal``, ``runs cancel``, their errors, and the
worker's own lines) prints them in text and in JSON. No output may hold such a
character raw; text shows each as its escape (``\\x1b``, ``\\u202e``), and JSON
documents stay valid and give back the stored strings exactly.

Waits poll a condition with a generous deadline that only guards against a
hang; no test asserts how long anything took.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.render import Column, Output
from tests.cli.hostile_flows import HOSTILE, HOSTILE_NAME, SIGNAL, STEP, WORKFLOW

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "runtime.cli"]
DEADLINE = 90.0  # seconds before a wait is declared hung (a safety net, not a measurement)

RUN_FAILS = "run-fails-" + HOSTILE_NAME
RUN_COMPLETES = "run-completes-" + HOSTILE_NAME
SHOWN = ("\\x1b[31mRED", "\\x9b2J", "\\r", "\\x07", "\\u202e", "\\u2066")
"""How the hostile text reads in text output: every character visible as its escape."""
NAME_SHOWN = "\\u202eRTL\\u2066"
"""How a hostile name reads in text output."""


def raw_controls(text: str) -> list[str]:
    """The characters of ``text`` that act on a terminal or hide text (line breaks aside)."""
    return [
        char
        for char in text
        if char != "\n" and unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")
    ]


@dataclass
class Printed:
    """A finished ``vrb`` process."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def inert(self) -> Printed:
        """Require that nothing it printed holds a raw control character; itself."""
        assert not raw_controls(self.out), (self.args, self.out)
        assert not raw_controls(self.err), (self.args, self.err)
        assert "Traceback" not in self.err, self.err
        return self

    def shows_the_escapes(self, shown: tuple[str, ...] = SHOWN) -> Printed:
        """Require the hostile text shown, each character as its escape; itself."""
        for escape in shown:
            assert escape in self.out + self.err, (escape, self.args, self.out, self.err)
        return self

    def document(self) -> Any:
        """The JSON document it printed (valid JSON, or this fails)."""
        return json.loads(self.out)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VRB_DATABASE_URL", "NO_COLOR")}


def _vrb(db: str, *args: str) -> Printed:
    done = subprocess.run(
        [*CLI, *args, "--db", db],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    return Printed(args, done.returncode, done.stdout, done.stderr)


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def _status(db: str, run_id: str) -> str:
    status: str = _vrb(db, "runs", "show", run_id, "--json").document()["run"]["status"]
    return status


@dataclass
class Hostile:
    """The store the hostile runs ran in, and what the worker printed while running them."""

    db: str
    worker_out: str
    worker_err: str


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    """One run that fails and one that completes, each after a hostile signal, run by a worker."""
    folder = tmp_path_factory.mktemp("hostile")
    db = f"sqlite:///{folder / 'vrb.db'}"
    out, err = folder / "worker.out", folder / "worker.err"
    command = [*CLI, "worker", "tests.cli.hostile_flows", "--db", db, "--poll-interval", "0.05"]
    with out.open("w") as stdout, err.open("w") as stderr:
        worker = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=stdout, stderr=stderr)
    try:
        for run_id, fail in ((RUN_FAILS, True), (RUN_COMPLETES, False)):
            args = json.dumps([HOSTILE, fail])
            _vrb(db, "trigger", WORKFLOW, "--run-id", run_id, "--args", args).inert()
        for run_id in (RUN_FAILS, RUN_COMPLETES):
            _eventually(lambda run_id=run_id: _status(db, run_id) == "waiting", f"{run_id!r} waits")
            payload = json.dumps({"p": HOSTILE})
            _vrb(db, "signal", run_id, SIGNAL, "--payload", payload).inert()
        _eventually(lambda: _status(db, RUN_FAILS) == "failed", "the failing run to fail")
        _eventually(lambda: _status(db, RUN_COMPLETES) == "completed", "the other to complete")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=DEADLINE)
        finally:
            if worker.poll() is None:
                worker.kill()
    return Hostile(db, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- text


# A completed run's values are shown as JSON, whose escapes are \u001b, \u009b...
JSON_SHOWN = ("\\u001b[31mRED", "\\u009b2J", "\\u0007", NAME_SHOWN)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("runs", "list"), SHOWN),
        (("runs", "show", RUN_FAILS), SHOWN),
        (("runs", "show", RUN_COMPLETES), JSON_SHOWN),
        (("runs", "history", RUN_FAILS), SHOWN),
        (("runs", "history", RUN_COMPLETES), JSON_SHOWN),
        (("stats", "--workflow", WORKFLOW), (NAME_SHOWN,)),
    ],
    ids=[
        "runs-list",
        "show-failed",
        "show-completed",
        "history-failed",
        "history-completed",
        "stats",
    ],
)
def test_text_output_shows_stored_controls_as_escapes(
    hostile: Hostile, args: tuple[str, ...], shown: tuple[str, ...]
) -> None:
    printed = _vrb(hostile.db, *args).inert()
    assert printed.code == 0, printed.err
    printed.shows_the_escapes(shown)


def test_the_history_shows_every_hostile_field(hostile: Hostile) -> None:
    text = _vrb(hostile.db, "runs", "history", RUN_FAILS).inert().out
    # The step's name (its key), the signal's name and payload, the error: all visible.
    assert "t-hostile-step-" + NAME_SHOWN in text
    assert "t-hostile-signal-" + NAME_SHOWN in text
    assert 'input ["\\u001b[31mRED\\u009b2J\\rCR\\u0007\\u202eRTL\\u2066", true]' in text
    assert '{"p": "\\u001b[31mRE' in text  # the signal's payload, as JSON (cut to fit)
    assert "NonRetryableError: \\x1b[31mRED\\x9b2J\\rCR" in text


def test_the_worker_printed_names_and_run_ids_inert(hostile: Hostile) -> None:
    printed = Printed(("worker",), 0, hostile.worker_out, hostile.worker_err).inert()
    assert "serving t-hostile-" + NAME_SHOWN in printed.out
    assert "run run-fails-" + NAME_SHOWN in printed.err  # its log line for the run's end


# --------------------------------------------------------------------------- JSON


def test_json_documents_are_inert_and_give_the_stored_strings_back(hostile: Hostile) -> None:
    show = _vrb(hostile.db, "runs", "show", RUN_FAILS, "--json").inert().document()
    assert show["run"]["run_id"] == RUN_FAILS
    assert show["run"]["workflow_name"] == WORKFLOW
    assert show["run"]["error"]["message"].endswith(HOSTILE)
    keys = {event["payload"].get("step") for event in show["history"]}
    assert STEP in keys
    received = [event for event in show["history"] if event["type"] == "signal_received"]
    assert received[0]["payload"]["name"] == SIGNAL
    assert received[0]["payload"]["payload"] == {"p": HOSTILE}

    completed = _vrb(hostile.db, "runs", "show", RUN_COMPLETES, "--json").inert().document()
    assert completed["run"]["result"] == {
        "echoed": {"echo": HOSTILE},
        "signal": {"p": HOSTILE},
        "text": HOSTILE,
    }
    listed = _vrb(hostile.db, "runs", "list", "--json").inert().document()
    assert {run["run_id"] for run in listed["runs"]} >= {RUN_FAILS, RUN_COMPLETES}
    history = _vrb(hostile.db, "runs", "history", RUN_COMPLETES, "--json").inert().document()
    assert history["run_id"] == RUN_COMPLETES
    stats = _vrb(hostile.db, "stats", "--workflow", WORKFLOW, "--json").inert().document()
    assert stats["workflow_name"] == WORKFLOW
    assert stats["total_runs"] >= 2


def test_json_escapes_the_characters_json_dumps_leaves_raw(hostile: Hostile) -> None:
    text = _vrb(hostile.db, "runs", "show", RUN_FAILS, "--json").inert().out
    # C1 controls and bidi characters: \u escapes, as ensure_ascii would write them.
    assert "\\u009b" in text
    assert "\\u202e" in text
    assert "\\u2066" in text


# --------------------------------------------------------------------------- commands that write


def test_trigger_signal_and_cancel_print_hostile_names_inert(hostile: Hostile) -> None:
    run_id = "run-pending-" + HOSTILE_NAME
    args = json.dumps([HOSTILE, False])
    printed = _vrb(hostile.db, "trigger", WORKFLOW, "--run-id", run_id, "--args", args).inert()
    assert printed.code == 0, printed.err
    assert printed.out == "run-pending-" + NAME_SHOWN + "\n"
    again = _vrb(
        hostile.db, "trigger", WORKFLOW, "--run-id", run_id, "--args", args, "--json"
    ).inert()
    assert again.document() == {"run_id": run_id, "workflow_name": WORKFLOW, "created": False}
    assert "already exists" in again.err  # the note names the run, inert
    sent = _vrb(hostile.db, "signal", run_id, SIGNAL, "--payload", json.dumps(HOSTILE)).inert()
    assert sent.code == 0, sent.err
    sent.shows_the_escapes((NAME_SHOWN,))
    sent_json = _vrb(hostile.db, "signal", run_id, SIGNAL, "--json").inert()
    assert sent_json.document()["signal"] == SIGNAL
    cancelled = _vrb(hostile.db, "runs", "cancel", run_id).inert()
    assert cancelled.code == 0, cancelled.err
    assert "run-pending-" + NAME_SHOWN in cancelled.out
    again_cancelled = _vrb(hostile.db, "runs", "cancel", run_id, "--json").inert()
    assert again_cancelled.code == 2  # it already ended: one error line naming it
    assert "run-pending-" + NAME_SHOWN in again_cancelled.err


def test_a_wait_that_runs_out_names_the_run_inert(hostile: Hostile) -> None:
    run_id = "run-waited-" + HOSTILE_NAME
    args = json.dumps([HOSTILE, False])
    printed = _vrb(
        hostile.db,
        "trigger",
        WORKFLOW,
        "--run-id",
        run_id,
        "--args",
        args,
        "--wait",
        "--timeout",
        "0.2",
    ).inert()
    assert printed.code == 1
    assert printed.err.startswith("vrb: error: ")
    assert "run-waited-" + NAME_SHOWN in printed.err


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args",
    [
        ("runs", "show", "unknown-" + HOSTILE),
        ("runs", "history", "unknown-" + HOSTILE),
        ("signal", RUN_COMPLETES, SIGNAL),
        ("signal", "unknown-" + HOSTILE, SIGNAL, "--json"),
        ("runs", "list", "--cursor", HOSTILE),
        ("runs", "list", "--status", HOSTILE),
        ("runs", "list", "--limit", HOSTILE),
        ("stats", HOSTILE),
        ("trigger", WORKFLOW, "--run-id", "run-" + HOSTILE),
    ],
    ids=[
        "unknown-run",
        "unknown-history",
        "signal-ended",
        "signal-unknown",
        "bad-cursor",
        "bad-choice",
        "bad-number",
        "extra-argument",
        "control-in-run-id",
    ],
)
def test_error_lines_quote_hostile_input_inert(hostile: Hostile, args: tuple[str, ...]) -> None:
    printed = _vrb(hostile.db, *args).inert()
    assert printed.code != 0
    lines = printed.err.splitlines()
    assert len(lines) == 1, printed.err
    assert lines[0].startswith("vrb: error: "), lines[0]
    marks = ("\\x1b[31mRED", "\\\\x1b[31mRED", NAME_SHOWN)
    assert any(mark in lines[0] for mark in marks), lines[0]


# --------------------------------------------------------------------------- a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tables_drawn_for_a_terminal_hold_no_hostile_sequence() -> None:
    """In a terminal, rich draws the table (and may colour it): the data's sequences stay escaped."""
    stream = _Terminal()
    out = Output(json_mode=False, stream=stream)
    out.table([Column("RUN ID"), Column("STATUS", status=True)], [[RUN_FAILS, "failed"]])
    out.fields([("error", HOSTILE)])
    text = stream.getvalue()
    for hostile_char in ("\x9b", "\r", "\x07", "\u202e", "\u2066"):
        assert hostile_char not in text
    assert "\x1b[31mRED" not in text
    assert "\\x1b[31mRED" in text
