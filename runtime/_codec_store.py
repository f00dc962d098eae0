"""The one place a payload codec is applied: a store wrapper between the runtime and the store.

:class:`CodecStore` wraps any :class:`~runtime.stores.Store`. On the way in it
encodes the user values of every call - a run's input (``create_run``), the
JSON fields and errors of appended events, the result and error of a
``RunUpdate``, a signal's payload - and on the way out it decodes them in every
record, event and signal it returns. The backends never see plaintext, and
nothing else in the runtime knows a codec is there.

Decisions
---------
* **Without a codec** (``codec=None``), the wrapper is a worker's guard: it
  encodes nothing, and refuses to hand an envelope to the worker, which would
  otherwise run a workflow on ciphertext and store what it made of it in
  plaintext.
* **A run a worker cannot decode** is given back untouched, as a run pinned to a
  graph version the worker lacks is: a claim whose input, result or error does
  not decode is released, due again after ``decline_delay`` seconds, and logged
  once per run; a history or signal that does not decode stops the execution
  the same way (:class:`~runtime.errors.CodecError` in the worker). Nothing is
  failed or compensated for want of a key.
* **Tools** (``keep_undecodable=True``, what the ``vrb`` command uses) get such
  a value as its envelope instead of an error, and :attr:`undecodable` says why,
  so one run under a dropped key never stops ``vrb runs list``.
* **A repeated append** (the worker repeats one whose outcome a lost connection
  hid) reuses the envelopes of the first try: a fresh nonce would make it look
  like a different append to a store that recognises repeats by their contents.
* **Plaintext the store itself writes** (the error of a run cancelled before it
  started, :data:`~runtime.stores.base.CANCELLED_ERROR`) is engine text, taken
  as it is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ._json_values import ensure_json, json_size
from .codec import CodecContext, PayloadCodec, describe, is_encoded
from .errors import CodecError, CorruptValueError, PayloadTooLarge, shown
from .events import ErrorInfo, Event, EventDraft, Payload
from .stores._checks import check_run_args, check_signal_args
from .stores.base import (
    CANCELLED_ERROR,
    AppendResult,
    Claim,
    Lease,
    Renewal,
    RunPage,
    RunRecord,
    RunStatus,
    RunUpdate,
    Signal,
    Store,
    WorkflowStats,
)

__all__ = ["CodecStore"]

log = logging.getLogger("runtime.codec")

_LABELS = {("run_created", "input"): "input", ("signal_received", "payload"): "signal"}
"""Event fields stored from the same envelope as a run's or a signal's own value."""

_MAX_UNSETTLED = 1024


def _label(event_type: str, field: str) -> str:
    return _LABELS.get((event_type, field)) or f"{event_type}.{field}"


def _no_codec(value: Any, context: CodecContext) -> CodecError:
    return CodecError(
        f"{context.describe()} is encoded ({describe(value)}) and this worker has no payload "
        "codec; start it with Worker(..., codec=...) or vrb worker --codec MODULE:OBJECT",
        context.describe(),
    )


_USER_VALUES: dict[str, tuple[tuple[str, ...], bool]] = {
    kind.TYPE: (kind.JSON_FIELDS, "error" in kind.model_fields)
    for kind in Payload.__subclasses__()
    if kind.JSON_FIELDS or "error" in kind.model_fields
}
"""The user-value fields of each event type, and whether it holds an error."""


def _refuse_encoded(run_id: str, event: Event) -> None:
    """What a guard does with an event: raise if it holds an envelope."""
    fields = _USER_VALUES.get(event.type)
    if fields is None:
        return
    payload = event.payload
    for name in fields[0]:
        value = getattr(payload, name)
        if type(value) is dict and is_encoded(value):
            raise _no_codec(value, CodecContext(run_id, _label(event.type, name), event.key))
    if fields[1]:
        error = getattr(payload, "error", None)
        if error is not None and error.encoded is not None:
            context = CodecContext(run_id, _label(event.type, "error"), event.key)
            raise _no_codec(error.encoded, context)


class CodecStore:
    """A :class:`~runtime.stores.Store` that encodes user values on their way in, decodes them out.

    Args:
        store: The store to wrap.
        codec: The codec, or ``None`` for a worker's guard (see the module docstring).
        keep_undecodable: Return a value that does not decode as its envelope
            (and note why in :attr:`undecodable`) instead of raising.
        decline_delay: Seconds before a claimed run that does not decode is due again.
    """

    def __init__(
        self,
        store: Store,
        codec: PayloadCodec | None,
        *,
        keep_undecodable: bool = False,
        decline_delay: float = 5.0,
    ) -> None:
        self._store = store
        self._codec = codec
        self._keep = keep_undecodable
        self.decline_delay = decline_delay
        self.undecodable: list[CodecError] = []
        """With ``keep_undecodable``: the errors of the values returned undecoded, in order."""
        self._declined: set[str] = set()
        self._unsettled: dict[tuple[str, str, int], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}

    @property
    def inner(self) -> Store:
        """The wrapped store."""
        return self._store

    @property
    def codec(self) -> PayloadCodec | None:
        """The codec (``None`` for a guard)."""
        return self._codec

    def __getattr__(self, name: str) -> Any:
        # What is not part of the protocol (a backend's own attributes) is the backend's.
        return getattr(self._store, name)

    # ------------------------------------------------------------------ values

    def _check_size(self, value: Any, what: str) -> None:
        """A value bound for the codec within the store's ``max_payload_bytes``, as plaintext.

        The bound is on the value, not on its envelope (which the store lets
        through up to twice the bound): the same value is refused with a codec
        or without.
        """
        limits = getattr(self._store, "limits", None)
        bound = None if limits is None else limits.max_payload_bytes
        if self._codec is not None and bound is not None:
            size = json_size(value)
            if size > bound:
                raise PayloadTooLarge(what, size, bound)

    async def _encode(self, value: Any, context: CodecContext) -> Any:
        if self._codec is None:
            return value
        envelope = await self._codec.encode(value, context)
        if not is_encoded(envelope):
            raise CodecError(
                f"codec {type(self._codec).__name__} encoded {context.describe()} as a "
                f"{type(envelope).__name__}, not an envelope (a dict with a str "
                "'$vrb_codec' member); fix the codec",
                context.describe(),
            )
        ensure_json(envelope, f"the envelope of {context.describe()}")
        return envelope

    async def _decode(self, value: Any, context: CodecContext) -> Any:
        try:
            if self._codec is None:
                if is_encoded(value):
                    raise _no_codec(value, context)
                return value
            return await self._codec.decode(value, context)
        except CodecError as error:
            if not self._keep:
                raise
            self.undecodable.append(error)
            return value

    async def _encode_error(self, error: ErrorInfo, context: CodecContext) -> ErrorInfo:
        if self._codec is None:
            return error
        secret: dict[str, Any] = {"message": error.message}
        if error.args is not None:
            secret["args"] = error.args
        if error.attrs is not None:
            secret["attrs"] = error.attrs
        envelope = await self._encode(secret, context)
        return ErrorInfo(
            type=error.type,
            message=describe(envelope),
            module=error.module,
            qualname=error.qualname,
            encoded=envelope,
        )

    async def _decode_error(self, error: ErrorInfo, context: CodecContext) -> ErrorInfo:
        if error.encoded is None:
            if error != CANCELLED_ERROR:
                await self._decode(error.model_dump(include={"message", "args", "attrs"}), context)
            return error
        secret = await self._decode(error.encoded, context)
        if secret is error.encoded:  # kept undecoded: the placeholder message stays
            return error
        try:
            if not isinstance(secret, dict) or set(secret) - {"message", "args", "attrs"}:
                raise ValueError("not an error's message and details")
            return ErrorInfo(
                type=error.type,
                module=error.module,
                qualname=error.qualname,
                message=secret["message"],
                args=secret.get("args"),
                attrs=secret.get("attrs"),
            )
        except (KeyError, ValueError, ValidationError):
            failure = CorruptValueError(
                f"{context.describe()} decoded to something that is not an error's message "
                "and details; it was not written by vrb-workflows",
                context.describe(),
            )
            if not self._keep:
                raise failure from None
            self.undecodable.append(failure)
            return error

    async def _decode_record(self, record: RunRecord) -> RunRecord:
        run_id = record.run_id
        changes: dict[str, Any] = {
            "input": await self._decode(record.input, CodecContext(run_id, "input"))
        }
        if record.status == "completed":
            changes["result"] = await self._decode(record.result, CodecContext(run_id, "result"))
        if record.error is not None:
            changes["error"] = await self._decode_error(record.error, CodecContext(run_id, "error"))
        if all(value is getattr(record, name) for name, value in changes.items()):
            return record
        return dataclasses.replace(record, **changes)

    async def _decode_event(self, run_id: str, event: Event) -> Event:
        payload = event.payload
        changes = await self._payload_changes(run_id, payload, event.key, decode=True)
        if not changes:
            return event
        return event.model_copy(update={"payload": payload.model_copy(update=changes)})

    async def _payload_changes(
        self, run_id: str, payload: Payload, key: str | None, *, decode: bool
    ) -> dict[str, Any]:
        # Only what changed: a guard (no codec) copies nothing on the replay path.
        changes: dict[str, Any] = {}
        for name in payload.JSON_FIELDS:
            context = CodecContext(run_id, _label(payload.TYPE, name), key)
            value = getattr(payload, name)
            new = await (self._decode if decode else self._encode)(value, context)
            if new is not value:
                changes[name] = new
        error = getattr(payload, "error", None)
        if isinstance(error, ErrorInfo):
            context = CodecContext(run_id, _label(payload.TYPE, "error"), key)
            transform = self._decode_error if decode else self._encode_error
            new_error = await transform(error, context)
            if new_error is not error:
                changes["error"] = new_error
        return changes

    async def _encode_draft(self, run_id: str, draft: EventDraft) -> EventDraft:
        if self._codec is None:
            return draft
        changes = await self._payload_changes(run_id, draft.payload, draft.key, decode=False)
        if not changes:
            return draft
        return EventDraft(draft.payload.model_copy(update=changes), draft.key, at=draft.at)

    async def _encode_update(self, run_id: str, update: RunUpdate | None) -> RunUpdate | None:
        if update is None or self._codec is None:
            return update
        changes: dict[str, Any] = {}
        if update.status == "completed":
            changes["result"] = await self._encode(update.result, CodecContext(run_id, "result"))
        if update.error is not None:
            changes["error"] = await self._encode_error(update.error, CodecContext(run_id, "error"))
        return dataclasses.replace(update, **changes) if changes else update

    async def _decode_signal(self, signal: Signal) -> Signal:
        payload = await self._decode(signal.payload, CodecContext(signal.run_id, "signal"))
        return dataclasses.replace(signal, payload=payload)

    # ------------------------------------------------------------------ the protocol

    async def create_run(
        self, run_id: str, workflow_name: str, input: Any, *, graph_hash: str | None = None
    ) -> tuple[RunRecord, bool]:
        """See :meth:`runtime.stores.Store.create_run`; ``input`` is stored encoded."""
        check_run_args(run_id, workflow_name, input)
        self._check_size(input, f"the input of workflow {shown(workflow_name)}")
        encoded = await self._encode(input, CodecContext(run_id, "input"))
        record, created = await self._store.create_run(
            run_id, workflow_name, encoded, graph_hash=graph_hash
        )
        if created:
            return dataclasses.replace(record, input=input), True
        return await self._decode_record(record), False

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.get_run`."""
        return await self._decode_record(await self._store.get_run(run_id))

    async def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """See :meth:`runtime.stores.Store.list_runs`."""
        page = await self._store.list_runs(
            workflow_name=workflow_name, status=status, limit=limit, cursor=cursor
        )
        runs = [await self._decode_record(run) for run in page.runs]
        return RunPage(runs, page.next_cursor)

    async def workflow_stats(self, workflow_name: str | None = None) -> WorkflowStats:
        """See :meth:`runtime.stores.Store.workflow_stats`."""
        return await self._store.workflow_stats(workflow_name)

    async def claim(
        self,
        worker_id: str,
        *,
        workflow_names: Sequence[str] | None = None,
        lease_timeout: float = 30.0,
        limit: int = 1,
        exclude: Sequence[str] = (),
    ) -> list[Claim]:
        """See :meth:`runtime.stores.Store.claim`; a run that does not decode is given back."""
        claims = await self._store.claim(
            worker_id,
            workflow_names=workflow_names,
            lease_timeout=lease_timeout,
            limit=limit,
            exclude=exclude,
        )
        served: list[Claim] = []
        for claim in claims:
            try:
                run = await self._decode_record(claim.run)
            except CodecError as error:
                await self._decline(claim, error)
                continue
            served.append(dataclasses.replace(claim, run=run))
        return served

    async def _decline(self, claim: Claim, error: CodecError) -> None:
        run_id = claim.run.run_id
        due = claim.run.updated_at + timedelta(seconds=self.decline_delay)
        if run_id not in self._declined:
            self._declined.add(run_id)
            log.error(
                "run %s: %s; leaving it for a worker that can decode it (due again every %gs)",
                run_id,
                error,
                self.decline_delay,
            )
        try:
            await self._store.release(claim.lease, wake_at=due)
        except Exception as failure:  # its lease lapses and another worker takes it
            log.warning("run %s: could not give it back: %s", run_id, failure)

    async def renew_lease(self, lease: Lease) -> Renewal:
        """See :meth:`runtime.stores.Store.renew_lease`."""
        return await self._store.renew_lease(lease)

    async def quarantine(self, lease: Lease) -> None:
        """See :meth:`runtime.stores.Store.quarantine`."""
        await self._store.quarantine(lease)

    async def release(
        self,
        lease: Lease,
        *,
        wake_at: datetime | None = None,
        wait_signals: Sequence[str] = (),
    ) -> None:
        """See :meth:`runtime.stores.Store.release`."""
        await self._store.release(lease, wake_at=wake_at, wait_signals=wait_signals)

    async def append(
        self,
        lease: Lease,
        events: Sequence[EventDraft],
        *,
        update: RunUpdate | None = None,
        consume_signals: Sequence[int] = (),
    ) -> AppendResult:
        """See :meth:`runtime.stores.Store.append`; the events' user values are stored encoded."""
        if self._codec is None:
            return await self._store.append(
                lease, events, update=update, consume_signals=consume_signals
            )
        held = (lease.run_id, lease.worker_id, lease.epoch)
        asked = (tuple(events), update, tuple(consume_signals))
        earlier = self._unsettled.pop(held, None)
        if earlier is not None and earlier[0] == asked:
            drafts, encoded_update = earlier[1]
        else:
            drafts = tuple([await self._encode_draft(lease.run_id, draft) for draft in events])
            encoded_update = await self._encode_update(lease.run_id, update)
        try:
            return await self._store.append(
                lease, drafts, update=encoded_update, consume_signals=consume_signals
            )
        except Exception:
            self._unsettled[held] = (asked, (drafts, encoded_update))
            if len(self._unsettled) > _MAX_UNSETTLED:  # callers that never repeated
                del self._unsettled[next(iter(self._unsettled))]
            raise

    async def history(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """See :meth:`runtime.stores.Store.history`."""
        events = await self._store.history(run_id, after_seq=after_seq, limit=limit)
        if self._codec is None:
            # A guard changes nothing: one synchronous pass (replay reads long histories).
            for event in events:
                _refuse_encoded(run_id, event)
            return events
        return [await self._decode_event(run_id, event) for event in events]

    async def send_signal(self, run_id: str, name: str, payload: Any = None) -> Signal:
        """See :meth:`runtime.stores.Store.send_signal`; ``payload`` is stored encoded."""
        check_signal_args(name, payload, run_id)
        self._check_size(payload, f"the payload of signal {shown(name)}")
        encoded = await self._encode(payload, CodecContext(run_id, "signal"))
        signal = await self._store.send_signal(run_id, name, encoded)
        return dataclasses.replace(signal, payload=payload)

    async def next_signal(self, run_id: str, name: str) -> Signal | None:
        """See :meth:`runtime.stores.Store.next_signal`."""
        signal = await self._store.next_signal(run_id, name)
        return None if signal is None else await self._decode_signal(signal)

    async def request_cancel(self, run_id: str) -> RunRecord:
        """See :meth:`runtime.stores.Store.request_cancel`."""
        return await self._decode_record(await self._store.request_cancel(run_id))

    async def wait_for_work(self, timeout: float) -> None:
        """See :meth:`runtime.stores.Store.wait_for_work`."""
        await self._store.wait_for_work(timeout)

    async def close(self) -> None:
        """See :meth:`runtime.stores.Store.close`."""
        await self._store.close()
