"""The sync facade closes cleanly: at interpreter exit, and as a context manager (issue 14, item 8).

A script that used ``Client(url).sync`` on PostgreSQL and never called
``close()`` used to print about twenty lines of "Task was destroyed but it is
pending" as the interpreter exited.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime import Client
from runtime.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from runtime import Client

    client = Client(sys.argv[1])
    handle = client.sync.workflow.trigger("wf", [1], run_id="script-1")
    print(client.sync.workflow.get_run(handle.run_id).status)
    print(len(client.sync.workflow.history(handle.run_id)))
    """
)


def _run_script(url: str, script: str = SCRIPT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", script, url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_a_script_that_never_closes_its_sync_client_exits_quietly(store_url: str) -> None:
    done = _run_script(store_url)
    assert (done.returncode, done.stdout.split()) == (0, ["pending", "1"]), done.stderr
    assert "Task was destroyed" not in done.stderr
    assert "pending!" not in done.stderr
    assert done.stderr == ""


def test_a_sync_client_dropped_mid_script_closes_its_store(store_url: str) -> None:
    script = SCRIPT + textwrap.dedent(
        """
        import gc
        del client, handle
        gc.collect()
        again = Client(sys.argv[1])
        again.sync.workflow.trigger("wf", [2], run_id="script-2")
        print(again.sync.workflow.get_run("script-2").status)
        """
    )
    done = _run_script(store_url, script)
    assert (done.returncode, done.stdout.split()) == (0, ["pending", "1", "pending"]), done.stderr
    assert done.stderr == ""


def test_with_client_sync_closes_the_store_and_refuses_later_calls(store_url: str) -> None:
    client = Client(store_url)
    with client.sync as sync:
        assert sync is client.sync
        handle = sync.workflow.trigger("wf", [1], run_id="with-1")
        assert sync.workflow.get_run(handle.run_id).status == "pending"
    with pytest.raises(ConfigurationError) as caught:
        client.sync.workflow.get_run("with-1")
    assert str(caught.value) == (
        "this sync client is closed; make a new Client to talk to the store again"
    )
    client.sync.close()  # a second close does nothing


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL whose data outlives the client that wrote it."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'vrb.db'}"


def test_what_a_closed_sync_client_wrote_a_new_client_reads(durable_url: str) -> None:
    with Client(durable_url).sync as sync:
        sync.workflow.trigger("wf", {"n": 1}, run_id="again-1")
    with Client(durable_url).sync as sync:
        assert sync.workflow.get_run("again-1").status == "pending"
        assert sync.workflow_stats.get().total_runs == 1
