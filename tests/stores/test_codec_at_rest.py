"""Encryption at rest (issue 15): a store written through the codec holds no plaintext of a secret.

The workflows of :mod:`tests.runtime.codec_flows` put one marked secret in
every kind of user value: a run's input, a step output, a signal payload, a
rollback output, a step's retry and failure errors (message, args and
attributes), a run's error, a result. After they ran through a client and a
worker with an :class:`~runtime.AesGcmCodec`, the raw bytes of the SQLite
database (its WAL and shared-memory files included) and every row of every
PostgreSQL table are searched for it. The same runs without the codec are the
control: there, the search finds it. Also here: the ``vrb`` command without the
codec shows encrypted values as such, and with it shows the values; and the
store conformance suite passes through the codec boundary.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime import AesGcmCodec, Client, CodecContext, Worker
from runtime._codec_store import CodecStore
from runtime.cli import main as vrb
from runtime.stores import MemoryStore, SQLiteStore, Store
from runtime.stores.base import Clock
from runtime.testing import CONFORMANCE_CHECKS, StoreHarness, run_check
from tests.runtime import codec_flows as flows

KEY = bytes(range(1, 33))
FAST = {"poll_interval": 0.05, "heartbeat_interval": 0.2, "lease_timeout": 2.0, "retry_delay": 0.1}
SECRET = flows.SECRET.encode()


def make_codec() -> AesGcmCodec:
    """The test codec (a zero-argument factory, as ``--codec`` takes)."""
    return AesGcmCodec({"k1": KEY})


async def run_everything(client: Client) -> None:
    """A paid run (signal, retries, compensation, result) and a failed one, to their ends."""
    flows.CALLS.clear()
    await client.workflow.trigger("codec-payment", [flows.SECRET], run_id="paid")
    await client.workflow.trigger("codec-doomed", {"card": flows.SECRET}, run_id="doomed")
    worker = Worker(client, flows.library(), **FAST)
    await worker.run_until_idle("codec-payment", "codec-doomed", timeout=30)
    await client.workflow.send_signal("paid", "approve", {"by": "ops", "card": flows.SECRET})
    await worker.run_until_idle("codec-payment", "codec-doomed", timeout=30)
    paid = await client.workflow.result("paid", timeout=10)
    assert paid == {
        "token": {"token": f"tok-{flows.SECRET}"},
        "approval": {"by": "ops", "card": flows.SECRET},
        "failed": "codec-charge",
    }
    doomed = await client.workflow.get_run("doomed")
    assert doomed.status == "failed"
    assert doomed.error is not None
    assert flows.SECRET in doomed.error["message"]  # decoded for the client that has the key
    # The two runs interleave: their steps, in any order.
    assert sorted(flows.CALLS) == ["charge"] * 4 + ["forget", "tokenize"]
    types = [event.type for event in await client.workflow.history("paid")]
    for kind in ("signal_consumed", "step_retrying", "step_failed", "rollback_completed"):
        assert kind in types


def sqlite_bytes(path: Path) -> bytes:
    """The database file and every file SQLite keeps beside it (WAL, shared memory, journal)."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.mark.parametrize("encrypted", [True, False], ids=["codec", "control"])
def test_a_sqlite_file_written_with_the_codec_holds_no_plaintext(
    tmp_path: Path, encrypted: bool
) -> None:
    path = tmp_path / "vrb.db"
    seen: list[bytes] = []

    async def main() -> None:
        client = Client(f"sqlite:///{path}", codec=make_codec() if encrypted else None)
        await run_everything(client)
        assert (path.parent / (path.name + "-wal")).exists()
        seen.append(sqlite_bytes(path))  # the WAL still holds the commits
        await client.close()
        seen.append(sqlite_bytes(path))

    asyncio.run(main())
    for data in seen:
        assert (SECRET in data) is not encrypted
    if encrypted:
        assert b"$vrb_codec" in seen[0]
        # What operators need stays readable: names, error types, statuses.
        for readable in (b"codec-payment", b"codec-charge", b"CardDeclined", b"StepFailed"):
            assert readable in seen[-1]


def postgres_rows(server: str, schema: str) -> str:
    """Every row of every table in the schema, as PostgreSQL renders it."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        assert {"runs", "events", "signals"} <= set(tables)
        rows = [
            str(row[0])
            for table in tables
            for row in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t')
        ]
    return "\n".join(rows)


@pytest.mark.parametrize("encrypted", [True, False], ids=["codec", "control"])
def test_postgres_rows_written_with_the_codec_hold_no_plaintext(
    postgres_server: str, postgres_schema: str, postgres_url: str, encrypted: bool
) -> None:
    async def main() -> None:
        client = Client(postgres_url, codec=make_codec() if encrypted else None)
        try:
            await run_everything(client)
        finally:
            await client.close()

    asyncio.run(main())
    rows = postgres_rows(postgres_server, postgres_schema)
    assert (flows.SECRET in rows) is not encrypted
    if encrypted:
        assert "$vrb_codec" in rows
        assert "CardDeclined" in rows


# --------------------------------------------------------------------------- the vrb command


def _vrb(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = vrb(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_vrb_shows_encrypted_values_as_such_without_the_codec_and_the_values_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vrb.db"

    async def main() -> None:
        client = Client(f"sqlite:///{path}", codec=make_codec())
        await run_everything(client)
        await client.close()

    asyncio.run(main())
    db = ("--db", f"sqlite:///{path}")
    for argv in (
        ("runs", "show", "paid"),
        ("runs", "show", "doomed"),
        ("runs", "history", "paid"),
        ("runs", "list"),
    ):
        status, out, err = _vrb(capsys, *argv, *db)
        assert status == 0, err
        assert "<encrypted: key k1>" in out
        assert flows.SECRET not in out + err
        status, out, err = _vrb(capsys, *argv, *db, "--json")
        assert status == 0
        assert "$vrb_codec" in out
        assert flows.SECRET not in out
    status, out, _ = _vrb(capsys, "runs", "show", "doomed", *db)
    assert "error     StepFailed: <encrypted: key k1>" in out

    spec = f"{__name__}:make_codec"
    status, out, err = _vrb(capsys, "runs", "show", "paid", *db, "--codec", spec)
    assert status == 0
    assert err == ""
    assert f"tok-{flows.SECRET}" in out
    assert "<encrypted" not in out
    status, out, _ = _vrb(capsys, "runs", "show", "doomed", *db, "--codec", spec)
    assert f"card {flows.SECRET} declined" in out
    # VRB_CODEC names it too; a trigger through it stores the input encrypted.
    monkeypatch.setenv("VRB_CODEC", spec)
    status, out, err = _vrb(capsys, "trigger", "codec-doomed", "--args", '["4000-SECOND"]', *db)
    assert status == 0, err
    status, out, _ = _vrb(capsys, "runs", "list", *db)
    assert "4000-SECOND" not in sqlite_bytes(path).decode("latin-1")


def test_vrb_with_a_codec_lacking_the_key_shows_the_value_encrypted_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vrb.db"

    async def main() -> None:
        client = Client(f"sqlite:///{path}", codec=make_codec())
        await client.workflow.trigger("codec-doomed", [flows.SECRET], run_id="r1")
        await client.close()

    asyncio.run(main())
    other = base64.b64encode(bytes(32)).decode()
    monkeypatch.setenv("VRB_CODEC_KEYS", f"k2={other}")
    status, out, err = _vrb(
        capsys,
        "runs",
        "history",
        "r1",
        "--db",
        f"sqlite:///{path}",
        "--codec",
        "runtime.codec:AesGcmCodec.from_environ",
    )
    assert status == 0
    assert "input <encrypted: key k1>" in out
    assert err == (
        "vrb: shown encrypted: the input of run r1 is encrypted with key 'k1', which this "
        "codec does not hold (it holds 'k2'); add key 'k1' to the codec's keys, after the "
        "newest: a key must stay until no stored value uses it\n"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "vrb: error: codec 'nocolon' is not MODULE:OBJECT"),
        ("tests.nowhere:codec", "vrb: error: codec 'tests.nowhere:codec': cannot import module"),
        ("runtime.codec:AesGcmCodec.from_environ", "vrb: error: codec "),
        ("", "vrb: error: --codec needs MODULE:OBJECT"),
    ],
)
def test_a_bad_codec_spec_is_one_error_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    message: str,
) -> None:
    monkeypatch.delenv("VRB_CODEC_KEYS", raising=False)
    db = f"sqlite:///{tmp_path / 'vrb.db'}"
    status, out, err = _vrb(capsys, "runs", "list", "--db", db, "--codec", spec)
    assert status == 2
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1


# --------------------------------------------------------------------------- conformance


def _codec_harness(backend: str, tmp_path: Path) -> StoreHarness:
    aes = make_codec()
    if backend == "memory":
        shared: list[MemoryStore] = []

        def memory(clock: Clock) -> Store:
            if not shared:
                shared.append(MemoryStore(clock=clock))
            return CodecStore(shared[0], aes)  # type: ignore[return-value]

        return StoreHarness(memory)
    path = tmp_path / "conformance.db"
    factory: Callable[[Clock], Store] = lambda clock: CodecStore(  # type: ignore[assignment,return-value]  # noqa: E731
        SQLiteStore(path, clock=clock), aes
    )
    return StoreHarness(factory)


@pytest.mark.parametrize(
    ("backend", "check"),
    [
        pytest.param(b, check, id=f"{b}-{check.__name__.removeprefix('check_')}")
        for b in ("memory", "sqlite")
        for check in CONFORMANCE_CHECKS
        if not getattr(check, "requires_url", False)
    ],
)
def test_the_codec_boundary_keeps_the_store_contract(
    backend: str, check: Any, tmp_path: Path
) -> None:
    run_check(check, _codec_harness(backend, tmp_path))


def test_envelopes_are_json_the_stores_take_back() -> None:
    envelope = make_codec().seal({"a": [1, 2.5, None]}, CodecContext("r", "input"))
    assert json.loads(json.dumps(envelope)) == envelope
