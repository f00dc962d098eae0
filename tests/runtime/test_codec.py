"""The payload codec (issue 15): AES-GCM envelopes, rotation, refusals, and the store boundary.

Every user value a run holds - input, step outputs, signal payloads, rollback
outputs, error messages and details, the result - is encoded on its way into
the store and decoded on its way out; engine metadata stays readable. These
tests pin the codec itself (round trips over generated JSON values, envelope
shape, rotation, tampering, plaintext refusal, configuration errors) and the
wrapper the client and workers go through (what the store holds, repeats,
workers that lack a key or a codec).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic_core import to_json

from runtime import (
    AesGcmCodec,
    Client,
    CodecContext,
    CodecError,
    ConfigurationError,
    CorruptValueError,
    MissingKeyError,
    PayloadCodec,
    VrbError,
    Worker,
)
from runtime._codec_store import CodecStore
from runtime.codec import MARKER, describe, is_encoded, load_codec
from runtime.events import ErrorInfo, EventDraft, NotJSONError, StepCompletedPayload
from runtime.stores import MemoryStore, open_store
from runtime.stores.base import Store
from tests.strategies import json_values

from . import codec_flows as flows
from .conftest import FAST

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
K3 = bytes(range(64, 96))
HERE = CodecContext("run-1", "input")


def codec(*ids: str, **options: Any) -> AesGcmCodec:
    """A codec holding the test keys named, newest first."""
    keys = {"k1": K1, "k2": K2, "k3": K3}
    return AesGcmCodec([(key_id, keys[key_id]) for key_id in ids], **options)


def same(left: Any, right: Any) -> bool:
    """Equal as JSON documents: 1 and 1.0, or -0.0 and 0.0, are told apart."""
    return bool(to_json(left) == to_json(right))


# --------------------------------------------------------------------------- the codec


@settings(max_examples=200)
@given(value=json_values(), compress=..., run_id=..., key=...)
def test_any_json_value_round_trips(value: Any, compress: bool, run_id: str, key: str) -> None:
    aes = codec("k1", compress=compress)
    context = CodecContext(run_id or "r", "step_completed.output", key or None)
    envelope = aes.seal(value, context)
    assert is_encoded(envelope)
    assert same(aes.open(envelope, context), value)
    # What a store does to it: JSON text and back.
    assert same(aes.open(json.loads(json.dumps(envelope)), context), value)


def test_the_envelope_names_its_scheme_and_key_and_each_value_gets_a_fresh_nonce() -> None:
    aes = codec("k2", "k1")
    first, second = aes.seal({"card": "4111"}, HERE), aes.seal({"card": "4111"}, HERE)
    assert set(first) == {MARKER, "key", "nonce", "data"}
    assert first[MARKER] == "aes-256-gcm/1"
    assert first["key"] == "k2"  # the newest key encrypts
    assert len(base64.b64decode(first["nonce"])) == 12
    assert first["nonce"] != second["nonce"]
    assert first["data"] != second["data"]  # equal values are not linkable
    assert "4111" not in json.dumps(first)
    assert describe(first) == "<encrypted: key k2>"


async def _async_round_trip(aes: PayloadCodec) -> Any:
    return await aes.decode(await aes.encode([1, "two"], HERE), HERE)


def test_the_async_protocol_methods_round_trip() -> None:
    aes = codec("k1")
    assert isinstance(aes, PayloadCodec)
    assert asyncio.run(_async_round_trip(aes)) == [1, "two"]


def test_compression_shrinks_repetitive_values_and_leaves_small_ones_alone() -> None:
    value = {"rows": [{"name": "same text", "n": 1}] * 200}
    packed = codec("k1", compress=True).seal(value, HERE)
    plain = codec("k1").seal(value, HERE)
    assert len(packed["data"]) < len(plain["data"]) / 10
    # Compression is inside the ciphertext: any codec with the key reads either.
    assert codec("k1").open(packed, HERE) == value
    small = codec("k1", compress=True).seal("hi", HERE)
    assert len(base64.b64decode(small["data"])) == 1 + len(b'"hi"') + 16


# --------------------------------------------------------------------------- rotation


def test_rotation_old_keys_decrypt_the_newest_encrypts_a_dropped_key_is_named() -> None:
    old = codec("k1").seal({"card": "4111"}, HERE)
    rotated = codec("k2", "k1")
    assert rotated.open(old, HERE) == {"card": "4111"}
    assert rotated.seal("new", HERE)["key"] == "k2"
    with pytest.raises(MissingKeyError) as caught:
        codec("k3", "k2").open(old, HERE)
    error = caught.value
    assert isinstance(error, VrbError)
    assert isinstance(error, LookupError)
    assert (error.key_id, error.held) == ("k1", ("k3", "k2"))
    assert str(error) == (
        "the input of run run-1 is encrypted with key 'k1', which this codec does not hold "
        "(it holds 'k3', 'k2'); add key 'k1' to the codec's keys, after the newest: a key "
        "must stay until no stored value uses it"
    )
    assert "\n" not in str(error)


# --------------------------------------------------------------------------- refusals


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: {**e, "data": _flip(e["data"])}, "failed authentication"),
        (lambda e: {**e, "nonce": _flip(e["nonce"])}, "failed authentication"),
        (lambda e: {**e, "key": "k2"}, "failed authentication"),
        (lambda e: {**e, "data": "not base64!"}, "malformed nonce or ciphertext"),
        (lambda e: {**e, "nonce": base64.b64encode(b"short").decode()}, "malformed nonce"),
        (lambda e: {**e, "extra": 1}, "not a well-formed aes-256-gcm/1 envelope"),
        (lambda e: {k: v for k, v in e.items() if k != "nonce"}, "not a well-formed"),
        (lambda e: {**e, MARKER: "rot13/1"}, "was encoded by 'rot13/1'"),
    ],
    ids=["data", "nonce", "key-id", "base64", "nonce-length", "extra", "missing", "scheme"],
)
def test_an_altered_envelope_is_refused_with_a_clear_error(change: Any, expected: str) -> None:
    both = codec("k1", "k2")
    envelope = codec("k1").seal({"card": "4111"}, HERE)
    with pytest.raises(CorruptValueError) as caught:
        both.open(change(envelope), HERE)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("the input of run run-1")
    # Never a raw cryptography exception, nor one chained for a traceback to show.
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(
    "elsewhere",
    [
        CodecContext("run-2", "input"),
        CodecContext("run-1", "result"),
        CodecContext("run-1", "input", "n1"),
    ],
    ids=["other-run", "other-field", "other-key"],
)
def test_an_envelope_moved_to_another_run_or_field_does_not_decode(
    elsewhere: CodecContext,
) -> None:
    envelope = codec("k1").seal({"approved": False}, HERE)
    with pytest.raises(CorruptValueError, match="moved from another run or field"):
        codec("k1").open(envelope, elsewhere)


def test_plaintext_is_refused_unless_allowed() -> None:
    with pytest.raises(CodecError, match="stored unencrypted and this codec refuses plaintext"):
        codec("k1").open({"approved": True}, HERE)
    assert codec("k1", allow_plaintext=True).open({"approved": True}, HERE) == {"approved": True}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "at least one key"),
        ([("k1", b"short")], "key 'k1' must be 32 bytes"),
        ([("k1", "a" * 32)], "key 'k1' is a str; pass its 32 raw bytes"),
        ([("bad id!", K1)], "key id 'bad id!' is not 1 to 64 characters"),
        ([("k1", K1), ("k1", K2)], "key id 'k1' is given twice"),
        (["k1"], "are (key id, 32-byte key) pairs"),
    ],
)
def test_bad_keys_are_configuration_errors(keys: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AesGcmCodec(keys)


def test_key_material_never_shows_in_repr() -> None:
    aes = AesGcmCodec({"k2": K2, "k1": K1}, compress=True)
    assert repr(aes) == "AesGcmCodec(keys=['k2', 'k1'], compress=True, allow_plaintext=False)"
    assert aes.key_ids == ("k2", "k1")
    assert len(AesGcmCodec.generate_key()) == 32


def test_from_environ_reads_keys_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ",".join(f"{i}={base64.b64encode(k).decode()}" for i, k in (("k2", K2), ("k1", K1)))
    monkeypatch.setenv("VRB_CODEC_KEYS", text)
    aes = AesGcmCodec.from_environ()
    assert aes.key_ids == ("k2", "k1")
    assert aes.open(codec("k1").seal(7, HERE), HERE) == 7
    monkeypatch.setenv("VRB_CODEC_KEYS", "k1=" + "%" * 44)
    with pytest.raises(ConfigurationError, match="the key of 'k1' is not base64"):
        AesGcmCodec.from_environ()
    monkeypatch.delenv("VRB_CODEC_KEYS")
    with pytest.raises(ConfigurationError, match="VRB_CODEC_KEYS is not set"):
        AesGcmCodec.from_environ()


ENV_CODEC = AesGcmCodec({"k1": K1})


@pytest.mark.parametrize(
    "spec", [f"{__name__}:ENV_CODEC", f"{__name__}:_factory", f"{__name__}:Holder.make"]
)
def test_load_codec_takes_an_instance_or_a_zero_argument_factory(spec: str) -> None:
    loaded = load_codec(spec)
    assert isinstance(loaded, AesGcmCodec)
    assert loaded.key_ids == ("k1",)


def _factory() -> AesGcmCodec:
    return ENV_CODEC


class Holder:
    """A factory reached through a dotted path."""

    @staticmethod
    def make() -> AesGcmCodec:
        return ENV_CODEC


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-colon", "is not MODULE:OBJECT"),
        ("tests.nowhere:codec", "cannot import module 'tests.nowhere'"),
        (f"{__name__}:missing", "has no 'missing'"),
        (f"{__name__}:K1", "is a bytes, not a codec or a factory of one"),
        (f"{__name__}:same", "calling it failed: TypeError"),
        (f"{__name__}:codec", "needs at least one key"),
        ("runtime.codec:MARKER", "is a str, not a codec"),
    ],
)
def test_load_codec_refuses_bad_specs_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_codec(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- the store boundary


def _raw_text(values: list[Any]) -> str:
    return json.dumps(values, default=lambda o: o.model_dump(mode="json"))


async def _everything_raw(store: Store, run_id: str) -> str:
    run = await store.get_run(run_id)
    events = await store.history(run_id)
    return _raw_text(
        [run.input, run.result, None if run.error is None else run.error.model_dump(), events]
    )


def test_client_values_are_stored_encoded_and_read_back_decoded() -> None:
    async def main() -> None:
        raw = MemoryStore()
        client = Client(raw, codec=codec("k1"))
        handle = await client.workflow.trigger("codec-payment", [flows.SECRET], run_id="r1")
        await client.workflow.send_signal("r1", "approve", {"by": flows.SECRET})
        assert handle.created
        assert (await client.workflow.get_run("r1")).workflow_name == "codec-payment"
        events = await client.workflow.history("r1")
        assert events[0].payload.input == [flows.SECRET]  # type: ignore[union-attr]
        assert events[1].payload.payload == {"by": flows.SECRET}  # type: ignore[union-attr]
        assert (await raw.get_run("r1")).input["key"] == "k1"
        assert flows.SECRET not in await _everything_raw(raw, "r1")
        signal = await raw.next_signal("r1", "approve")
        assert signal is not None
        assert is_encoded(signal.payload)
        # A second trigger with the run id reads the stored input back.
        again = await client.store.create_run("r1", "codec-payment", ["other"])
        assert again[0].input == [flows.SECRET]
        assert not again[1]

    asyncio.run(main())


@pytest.mark.parametrize("with_codec", [True, False], ids=["codec", "no-codec"])
def test_a_user_value_holding_the_envelope_marker_is_refused_at_the_door(
    with_codec: bool,
) -> None:
    # Taken for an envelope, it would read as "encrypted" in every tool and a worker
    # without a codec would give its run back for ever.
    async def main() -> None:
        raw = MemoryStore()
        client = Client(raw, codec=codec("k1") if with_codec else None)
        fake = {MARKER: "aes-256-gcm/1", "key": "k9"}
        with pytest.raises(NotJSONError, match=r"member '\$vrb_codec' is reserved"):
            await client.workflow.trigger("codec-payment", fake, run_id="r1")
        await client.workflow.trigger("codec-payment", [1], run_id="r1")
        with pytest.raises(NotJSONError, match=r"rename the member"):
            await client.workflow.send_signal("r1", "approve", fake)
        # Nested deeper, it is plain data: only a top-level member marks an envelope.
        await client.workflow.send_signal("r1", "approve", {"inner": fake})
        await client.close()

    asyncio.run(main())


@settings(max_examples=50)
@given(value=json_values(max_leaves=20))
def test_any_json_value_round_trips_through_the_store_boundary(value: Any) -> None:
    async def main() -> None:
        raw = MemoryStore()
        store = CodecStore(raw, codec("k1", compress=True))
        await store.create_run("r1", "w", [value])
        await store.send_signal("r1", "s", value)
        assert same((await store.get_run("r1")).input, [value])
        signal = await store.next_signal("r1", "s")
        assert signal is not None
        assert same(signal.payload, value)
        events = await store.history("r1")
        assert same(events[1].payload.payload, value)  # type: ignore[union-attr]
        assert is_encoded((await raw.get_run("r1")).input)

    asyncio.run(main())


def test_an_error_keeps_its_type_and_class_readable_and_hides_the_rest() -> None:
    async def main() -> None:
        raw = MemoryStore()
        store = CodecStore(raw, codec("k1"))
        await store.create_run("r1", "w", [])
        (claim,) = await store.claim("w1")
        failure = ErrorInfo.from_exception(flows.CardDeclined(f"card {flows.SECRET}", flows.SECRET))
        draft = EventDraft(StepCompletedPayload(step="s", output=flows.SECRET, attempt=1), "n1")
        from runtime.events import StepFailedPayload
        from runtime.stores.base import RunUpdate

        failed = EventDraft(StepFailedPayload(step="s", attempt=1, error=failure), "n2")
        await store.append(
            claim.lease, [draft, failed], update=RunUpdate(status="failed", error=failure)
        )
        stored = (await raw.get_run("r1")).error
        assert stored is not None
        assert stored.encoded is not None
        assert (stored.type, stored.module, stored.qualname) == (
            "CardDeclined",
            flows.__name__,
            "CardDeclined",
        )
        assert (stored.message, stored.args, stored.attrs) == ("<encrypted: key k1>", None, None)
        assert stored.brief() == {"type": "CardDeclined", "message": "<encrypted: key k1>"}
        assert flows.SECRET not in await _everything_raw(raw, "r1")
        assert (await store.get_run("r1")).error == failure
        assert (await store.history("r1"))[-1].payload.error == failure  # type: ignore[union-attr]

    asyncio.run(main())


class _FlakyAppends:
    """A store whose first append commits nothing and raises, like a lost connection."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append(self, lease: Any, events: Any, **kwargs: Any) -> Any:
        self.sent.append([draft.payload_json for draft in events])
        if len(self.sent) == 1:
            raise ConnectionError("connection lost before the answer")
        return await self.store.append(lease, events, **kwargs)


def test_a_repeated_append_sends_the_same_envelopes() -> None:
    """A store recognises a repeat by its contents (PostgreSQL's token): no fresh nonce."""

    async def main() -> None:
        flaky = _FlakyAppends(MemoryStore())
        store = CodecStore(flaky, codec("k1"))  # type: ignore[arg-type]
        await store.create_run("r1", "w", [])
        (claim,) = await store.claim("w1")
        batch = [EventDraft(StepCompletedPayload(step="s", output={"n": 1}, attempt=1), "n1")]
        with pytest.raises(ConnectionError):
            await store.append(claim.lease, batch)
        await store.append(claim.lease, batch)
        other = [EventDraft(StepCompletedPayload(step="s", output={"n": 1}, attempt=1), "n2")]
        await store.append(claim.lease, other)
        assert flaky.sent[0] == flaky.sent[1]
        assert (
            json.loads(flaky.sent[2][0])["output"]["nonce"]
            != json.loads(flaky.sent[0][0])["output"]["nonce"]
        )

    asyncio.run(main())


class _NotAnEnvelope:
    async def encode(self, value: Any, context: CodecContext) -> Any:
        return {"nothing": "marked"}

    async def decode(self, value: Any, context: CodecContext) -> Any:
        return value


def test_a_codec_that_returns_no_envelope_is_refused_before_anything_is_stored() -> None:
    async def main() -> None:
        raw = MemoryStore()
        client = Client(raw, codec=_NotAnEnvelope())
        with pytest.raises(CodecError, match="not an envelope"):
            await client.workflow.trigger("w", [], run_id="r1")
        assert (await raw.list_runs()).runs == []

    asyncio.run(main())
    with pytest.raises(ConfigurationError, match="codec must be a payload codec"):
        Client("memory://", codec=object())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- workers


async def serve(client: Client, aes: PayloadCodec | None = None, **options: Any) -> Worker:
    """Serve the codec flows until nothing is due; the worker."""
    worker = Worker(client, flows.library(), codec=aes, **{**FAST, **options})
    await worker.run_until_idle("codec-payment", "codec-doomed", timeout=20)
    return worker


@pytest.fixture(params=["memory", "sqlite"])
def raw_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An in-process and an on-disk store."""
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'vrb.db'}"


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    flows.CALLS.clear()


def test_a_run_under_an_old_key_finishes_after_rotation_and_new_values_use_the_new_key(
    raw_url: str,
) -> None:
    async def main() -> None:
        raw = open_store(raw_url)
        old = Client(raw, codec=codec("k1"))
        await old.workflow.trigger("codec-payment", [flows.SECRET], run_id="r1")
        await serve(old)  # runs to the signal wait under k1
        rotated = Client(raw, codec=codec("k2", "k1"))
        await rotated.workflow.send_signal("r1", "approve", {"by": "ops"})
        await serve(rotated)
        result = await rotated.workflow.result("r1", timeout=5)
        assert result == {
            "token": {"token": f"tok-{flows.SECRET}"},
            "approval": {"by": "ops"},
            "failed": "codec-charge",
        }
        keys = {e.type: _key_of(e) for e in await raw.history("r1")}
        assert keys["run_created"] == "k1"
        assert keys["step_completed"] == "k1"
        assert keys["signal_received"] == "k2"
        assert keys["run_completed"] == "k2"
        assert keys["rollback_completed"] == "k2"
        assert keys["step_failed"] == "k2"
        assert (await raw.get_run("r1")).result["key"] == "k2"
        assert flows.SECRET not in await _everything_raw(raw, "r1")
        # k1 dropped: what it encrypted is gone for good, and the error says which key.
        dropped = Client(raw, codec=codec("k2"))
        with pytest.raises(MissingKeyError, match="encrypted with key 'k1'"):
            await dropped.workflow.history("r1")
        await raw.close()

    asyncio.run(main())


def _key_of(event: Any) -> str | None:
    payload = event.payload
    for name in ("input", "output", "payload", "result"):
        value = getattr(payload, name, None)
        if is_encoded(value):
            return str(value["key"])
    error = getattr(payload, "error", None)
    if error is not None and error.encoded is not None:
        return str(error.encoded["key"])
    return None


def test_a_worker_lacking_the_key_leaves_the_run_untouched_for_one_that_has_it(
    raw_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        raw = open_store(raw_url)
        client = Client(raw, codec=codec("k1"))
        await client.workflow.trigger("codec-doomed", [flows.SECRET], run_id="r1")
        for lacking in (codec("k2"), None):  # another key only; no codec at all
            await asyncio.sleep(FAST["retry_delay"])  # due again after a decline
            worker = await serve(Client(raw), lacking)
            assert worker.outcomes == []
            run = await raw.get_run("r1")
            assert run.status == "waiting"
            assert run.recoveries == 0
            assert [e.type for e in await raw.history("r1")] == ["run_created"]
            assert flows.CALLS == []
        await asyncio.sleep(FAST["retry_delay"])
        await serve(client)
        assert (await client.workflow.get_run("r1")).error == {
            "type": "StepFailed",
            "message": f"step 'codec-charge' failed: CardDeclined: ('card {flows.SECRET} "
            f"declined', '{flows.SECRET}')",
        }
        assert flows.CALLS == ["charge", "charge"]
        await raw.close()

    with caplog.at_level(logging.ERROR, logger="runtime.codec"):
        asyncio.run(main())
    messages = [record.getMessage() for record in caplog.records]
    assert any("encrypted with key 'k1', which this codec does not hold" in m for m in messages)
    assert any("this worker has no payload codec" in m for m in messages)


class _SignalAfterHistory:
    """A store on which a plaintext signal arrives just after a worker read the history."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def history(self, run_id: str, **kwargs: Any) -> Any:
        events = await self.store.history(run_id, **kwargs)
        if self.armed:
            self.armed = False
            # From a client without the codec: plaintext, which the worker's codec refuses.
            await self.store.send_signal(run_id, "approve", {"by": "forged"})
        return events


def test_a_value_the_worker_cannot_decode_gives_the_run_back_untouched(
    raw_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """In the history at claim time, or in a signal taken while the run executes."""

    async def main() -> None:
        raw = open_store(raw_url)
        proxy = _SignalAfterHistory(raw)
        client = Client(proxy, codec=codec("k1"))  # type: ignore[arg-type]
        await client.workflow.trigger("codec-payment", [flows.SECRET], run_id="r1")
        proxy.armed = True  # the signal comes while the first claim executes
        worker = await serve(client)
        assert worker.outcomes == [("r1", "waiting")]
        assert "signal_consumed" not in [e.type for e in await raw.history("r1")]
        # The next claim finds it in the history: given back before anything runs.
        await asyncio.sleep(FAST["retry_delay"])
        worker = await serve(client)
        assert worker.outcomes == [("r1", "undecodable")]
        assert (await raw.get_run("r1")).status == "waiting"
        assert flows.CALLS == ["tokenize"]
        await asyncio.sleep(FAST["retry_delay"])
        await serve(client, codec("k1", allow_plaintext=True))
        result = await client.workflow.result("r1", timeout=5)
        assert result["approval"] == {"by": "forged"}
        await raw.close()

    with caplog.at_level(logging.ERROR, logger="runtime.worker"):
        asyncio.run(main())
    refusals = [r.getMessage() for r in caplog.records if "refuses plaintext" in r.getMessage()]
    assert len(refusals) == 2
    assert all("given back, due again in 0.1s" in message for message in refusals)


def test_worker_codec_defaults_to_the_clients_and_can_be_its_own() -> None:
    aes = codec("k1")
    client = Client("memory://", codec=aes)
    assert Worker(client, flows.library()).codec is aes
    other = codec("k2", "k1")
    worker = Worker(client, flows.library(), codec=other)
    assert worker.codec is other
    assert isinstance(worker.store, CodecStore)
    assert worker.store.codec is other
    assert dataclasses.is_dataclass(CodecContext)
