"""Fuzzing the ``vrb`` command line: whatever the argv, exit 0, 1 or 2 with one clear line, and a whole store.

Generated command lines (:func:`tests.fuzz.cli_strategies.vrb_argv`) cover
every command and option with hostile values: bytes that are not UTF-8, lone
surrogates, JSON nested 60,000 deep or holding 5,000-digit ints, tampered
cursors, store URLs with bad ports or ``%00``, durations of ``1e-300`` and
``1e12``. They run in this process through :func:`runtime.cli.main` against a
SQLite store seeded with runs in every state (done, failed, waiting, pending);
``vrb worker`` runs up to serving (its options checked, the worker built and
announced) and is then told to stop. Each invocation must exit 0, 1 or 2 (130
is for interrupts, which the fuzz sends none of), print no traceback, say what
went wrong in exactly one ``vrb: error:`` line, and leave the store whole:
every run's seqs 1..n, every event of the runs it touched readable.

A few command lines run as real processes, so the bytes reach ``vrb`` the way a
shell hands them over.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runtime import Client, Worker
from runtime.graphs import GraphLibrary
from tests.fuzz import cli_flows
from tests.fuzz.cli_strategies import FLOWS_MODULE, SEEDED, vrb_argv
from tests.fuzz.vrb_harness import assert_consistent, assert_well_behaved, run_vrb
from tests.properties import budget

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # seconds before a subprocess is declared hung (a safety net, not a measurement)


async def _seed(url: str) -> None:
    """Runs in every state: done, failed, waiting for a signal, and pending (no worker serves it)."""
    client = Client(url)
    try:
        for run_id, name in SEEDED.items():
            await client.workflow.trigger(
                name, None if name == "fuzz-wait" else [run_id], run_id=run_id
            )
        library = GraphLibrary()
        worker = Worker(client, library, poll_interval=0.05, lease_timeout=10)
        serving = asyncio.create_task(worker.start("fuzz-echo", "fuzz-fail", "fuzz-wait"))
        try:
            for run_id, wanted in (("seed-done", "completed"), ("seed-failed", "failed")):
                await asyncio.wait_for(_until(client, run_id, wanted), DEADLINE)
            await asyncio.wait_for(_until(client, "seed-waiting", "waiting"), DEADLINE)
        finally:
            await worker.stop()
            await serving
    finally:
        await client.close()


async def _until(client: Client, run_id: str, status: str) -> None:
    while (await client.workflow.get_run(run_id)).status != status:
        await asyncio.sleep(0.02)


# The examples share the fixture's directory and store on purpose: what one command
# wrote, the next reads, and the store must stay whole across all of them.
_SHARED = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store holding the :data:`SEEDED` runs; the fuzz's commands all share it."""
    assert cli_flows.fuzz_echo is not None  # imported: its workflows are registered
    path = tmp_path_factory.mktemp("vrb-fuzz") / "seeded.db"
    asyncio.run(_seed(f"sqlite:///{path}"))
    return path


@pytest.fixture
def in_tmp(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seeded store's directory as the working directory and ``VRB_DATABASE_URL``; the worker never serves.

    ``vrb worker`` checks its options, builds its worker and announces it; the
    serving loop is replaced by one that returns at once (the fuzz checks the
    door, not the serving, which tests/test_vrb_cli.py runs for real).
    """

    async def serve_nothing(worker: Worker, names: list[str]) -> int:
        return 0

    monkeypatch.chdir(seeded.parent)
    monkeypatch.setenv("VRB_DATABASE_URL", f"sqlite:///{seeded}")
    monkeypatch.delenv("VRB_CODEC", raising=False)
    monkeypatch.delenv("VRB_GRAPH_KEY", raising=False)
    monkeypatch.delenv("VRB_DEBUG", raising=False)
    monkeypatch.setattr("runtime.cli.serve._serve", serve_nothing)
    return seeded


def _newest(path: Path, count: int = 3) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT ?", (count,)
        ).fetchall()
    return [row[0] for row in rows]


_DB = "sqlite:///{db}"


def _cursor(body: str) -> str:
    """A cursor in the format list_runs writes, holding ``body``."""
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


# The classes of issue 16, pinned so every run of the suite tries them.
_PINNED = [
    ["runs", "show", "\udcff", "--db", _DB],
    ["trigger", "fuzz-echo", "--args", '["\\ud800"]', "--db", _DB],
    ["trigger", "fuzz-echo", "--args", "[" * 900 + "]" * 900, "--db", _DB],
    ["trigger", "fuzz-echo", "--args", "[" * 60_000 + "]" * 60_000, "--db", _DB],
    ["signal", "seed-waiting", "go", "--payload", "9" * 5000, "--db", _DB],
    ["runs", "list", "--cursor", _cursor("[" * 60_000 + "]" * 60_000), "--db", _DB],
    ["runs", "list", "--cursor", _cursor('[253402300800000000, "r"]'), "--db", _DB],
    ["runs", "list", "--cursor", _cursor('[99999999999999999999999, "r"]'), "--db", _DB],
    ["runs", "list", "--cursor", _cursor("[" + "9" * 5000 + ', "r"]'), "--db", _DB],
    ["runs", "list", "--db", "postgresql://u@127.0.0.1:99999/vrb_no_such_db"],
    ["runs", "list", "--db", "postgresql://u@127.0.0.1:abc/vrb_no_such_db"],
    ["runs", "list", "--db", "postgresql://u@[::1/vrb_no_such_db"],
    ["runs", "list", "--db", "sqlite:///a%00b.db"],
    ["runs", "list", "--db", "sqlite:///a.db?busy_timeout=" + "9" * 5000],
    ["worker", FLOWS_MODULE, "--workflow", "fuzz-echo", "--lease-timeout", "1e12", "--db", _DB],
    ["worker", FLOWS_MODULE, "--workflow", "fuzz-echo", "--lease-timeout", "1e-300", "--db", _DB],
    ["worker", FLOWS_MODULE, "--workflow", "fuzz-echo", "--poll-interval", "1e-300", "--db", _DB],
    ["worker", FLOWS_MODULE, "--workflow", "fuzz-echo", "--concurrency", "9" * 19, "--db", _DB],
]


@pytest.mark.parametrize("argv", _PINNED, ids=range(len(_PINNED)))
def test_each_known_bad_input_is_one_line_and_exit_2(in_tmp: Path, argv: list[str]) -> None:
    outcome = run_vrb([arg.replace(_DB, f"sqlite:///{in_tmp}") for arg in argv])
    assert_well_behaved(outcome)
    assert outcome.status == 2, outcome.err
    assert_consistent(in_tmp, [*SEEDED, *_newest(in_tmp)])


@settings(max_examples=budget("fuzz_vrb_argv"), suppress_health_check=_SHARED)
@given(data=st.data())
@example(data=None)
def test_any_command_line_exits_0_1_or_2_with_one_line_and_keeps_the_store_whole(
    in_tmp: Path, data: st.DataObject | None
) -> None:
    if data is None:  # the plain case: the fixture's store as is
        argv = ["runs", "list", "--db", f"sqlite:///{in_tmp}"]
    else:
        argv = data.draw(vrb_argv(f"sqlite:///{in_tmp}", str(in_tmp.parent)), label="argv")
    outcome = run_vrb(argv)
    assert_well_behaved(outcome)
    assert_consistent(in_tmp, [*SEEDED, *_newest(in_tmp)])


# --------------------------------------------------------------------------- real processes


def _vrb_process(args: list[bytes], cwd: Path, db: Path) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VRB_")}
    environment["VRB_DATABASE_URL"] = f"sqlite:///{db}"
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"runtime.cli", *args],
        cwd=cwd,
        env={**environment, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=DEADLINE,
        check=False,
    )


_BYTES_ARGV = [
    # A run id, a workflow name, a signal name, a JSON payload and a store path
    # holding bytes that are not UTF-8, as a shell passes $'\xff'.
    [b"runs", b"show", b"seed-\xff\xfe"],
    [b"trigger", b"fuzz-\x9becho", b"--run-id", b"r\xc3"],
    [b"signal", b"seed-waiting", b"g\xed\xa0\x80", b"--payload", b'"\xed\xa0\x80"'],
    [b"runs", b"list", b"--db", b"sqlite:///\xff.db"],
    [b"worker", FLOWS_MODULE.encode(), b"--workflow", b"fuzz-echo", b"--lease-timeout", b"1e12"],
]


@pytest.mark.parametrize("args", _BYTES_ARGV, ids=range(len(_BYTES_ARGV)))
def test_a_real_process_given_bytes_that_are_not_utf8_exits_2_with_one_line(
    seeded: Path, args: list[bytes]
) -> None:
    done = _vrb_process(args, seeded.parent, seeded)
    err = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == 2, (args, err)
    assert err.count("\n") == 1, (args, err)
    assert err.startswith("vrb: error: "), (args, err)
    assert b"Traceback" not in done.stderr
    assert_consistent(seeded, [*SEEDED, *_newest(seeded)])
