"""The client: trigger runs, send signals, query runs and their histories, cancel.

``Client(url)`` opens the store lazily by URL (``sqlite:///vrb.db`` by default,
overridable by ``VRB_DATABASE_URL``) or wraps a store given to it. Its async API
lives under ``client.workflow`` and ``client.workflow_stats``; ``client.sync``
offers the same calls for scripts, run on a private event loop thread.

Run input is a JSON list of positional arguments (``trigger(name, [order])``) or
a JSON object of keyword arguments; the graph version is pinned by the run's
first claim, so triggering needs no graphs.

Every method checks its arguments at the door, the way the stores do
(:mod:`runtime.stores._checks`), and raises only :class:`~runtime.errors.VrbError`
subclasses: :class:`~runtime.errors.ConfigurationError` (also a ``ValueError``)
for an argument of the wrong type or out of range - an id breaking the
identifier rule (:mod:`runtime._identifiers`: 1 to 255 characters, no control
character or lone surrogate), a bad cursor, a negative timeout;
:class:`~runtime.events.NotJSONError` (also a ``TypeError``) for a value that is
not JSON; :class:`~runtime.errors.PayloadTooLarge` and
:class:`~runtime.errors.TooManySignals` (``ValueError`` s) for the store's
bounds; :class:`~runtime.errors.RunNotFound`, :class:`~runtime.errors.RunFinished`,
:class:`~runtime.errors.WorkflowFailed` and store errors as each method says.
``result`` raises the builtin ``TimeoutError`` when its wait runs out, and a
call with unknown or missing parameters the builtin ``TypeError``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import uuid
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ._codec_store import CodecStore
from ._identifiers import check_identifier
from ._json_values import ensure_user_json
from .codec import PayloadCodec
from .errors import ConfigurationError, WorkflowFailed, shown
from .events import Event
from .stores import open_store
from .stores.base import RunRecord, RunStatus, Store, WorkflowStats

__all__ = ["Client", "RunHandle", "RunInfo", "RunList", "SyncClient"]

T = TypeVar("T")


@dataclass(frozen=True)
class RunInfo:
    """A run as the client reports it.

    Attributes:
        run_id: The run's id.
        workflow_name: The workflow it runs.
        status: ``pending``, ``running``, ``waiting``, ``completed``, ``failed`` or ``cancelled``.
        result: The return value of a completed run.
        error: ``{"type", "message"}`` of a failed (or cancelled) run, else ``None``.
        graph_hash: The graph version it is pinned to (``None`` before its first claim).
        created_at: When it was triggered.
        updated_at: When it last changed.
        last_seq: The seq of its last event, which is also its number of events
            (page through them with :meth:`WorkflowAPI.history`).
    """

    run_id: str
    workflow_name: str
    status: RunStatus
    result: Any
    error: dict[str, str] | None
    graph_hash: str | None
    created_at: datetime
    updated_at: datetime
    last_seq: int = 0

    @classmethod
    def from_record(cls, record: RunRecord) -> RunInfo:
        """Build from the store's record."""
        return cls(
            run_id=record.run_id,
            workflow_name=record.workflow_name,
            status=record.status,
            result=record.result,
            error=None if record.error is None else record.error.brief(),
            graph_hash=record.graph_hash,
            created_at=record.created_at,
            updated_at=record.updated_at,
            last_seq=record.last_seq,
        )


@dataclass(frozen=True)
class RunList:
    """One page of runs, newest first.

    Attributes:
        items: The runs.
        next_cursor: Pass as ``cursor`` for the next page; ``None`` on the last.
    """

    items: list[RunInfo]
    next_cursor: str | None


@dataclass(frozen=True)
class RunHandle:
    """What :meth:`WorkflowAPI.trigger` returns.

    Attributes:
        run_id: The run's id.
        workflow_name: The workflow.
        created: ``False`` when a run with this id already existed (idempotent trigger).
    """

    run_id: str
    workflow_name: str
    created: bool


class WorkflowAPI:
    """``client.workflow``: runs, signals, results, histories."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _max_bytes(self) -> int | None:
        # The store's bound, checked here too: a value refused before it is encoded
        # costs one serialisation, not three (the store checks it again, as stored).
        limits = getattr(self._client.store, "limits", None)
        return getattr(limits, "max_payload_bytes", None)

    async def trigger(self, name: str, args: Any = None, *, run_id: str | None = None) -> RunHandle:
        """Start a run of workflow ``name``.

        Args:
            name: The registered workflow name.
            args: A list of positional arguments or a dict of keyword arguments
                (JSON values only); ``None`` for none.
            run_id: Caller-chosen id; triggering again with it returns the existing run.

        Raises:
            NotJSONError: ``args`` holds something that is not JSON; nothing is stored.
            PayloadTooLarge: ``args`` is over the store's ``max_payload_bytes``.
            ConfigurationError: ``args`` is neither a list nor a dict, or ``name``
                or ``run_id`` breaks the identifier rule.
            RunIdConflict: ``run_id`` belongs to a run of another workflow.
        """
        check_identifier(name, "workflow name")
        if run_id is not None:
            check_identifier(run_id, "run id")
        if args is None:
            args = []
        if not isinstance(args, list | dict):
            raise ConfigurationError(
                f"args of workflow {shown(name)} must be a list of positional arguments or a dict "
                f"of keyword arguments, not {type(args).__name__}; write [value] for one argument"
            )
        ensure_user_json(args, f"args of workflow {shown(name)}", max_bytes=self._max_bytes())
        record, created = await self._client.store.create_run(
            uuid.uuid4().hex if run_id is None else run_id, name, args
        )
        return RunHandle(record.run_id, record.workflow_name, created)

    async def send_signal(self, run_id: str, name: str, payload: Any = None) -> None:
        """Deliver a signal; it is buffered durably until the run takes it (FIFO per name).

        Raises:
            RunNotFound: No such run.
            RunFinished: The run has ended.
            NotJSONError: ``payload`` is not JSON, or holds the member that marks an
                encoded payload (``$vrb_codec``) at its top level.
            PayloadTooLarge: ``payload`` is over the store's ``max_payload_bytes``.
            TooManySignals: The run already holds ``max_buffered_signals`` signals
                it has not taken.
            ConfigurationError: ``run_id`` or ``name`` breaks the identifier rule.
        """
        check_identifier(run_id, "run id")
        check_identifier(name, "signal name")
        ensure_user_json(payload, f"payload of signal {shown(name)}", max_bytes=self._max_bytes())
        await self._client.store.send_signal(run_id, name, payload)

    async def get_run(self, run_id: str) -> RunInfo:
        """The run's current state.

        Raises:
            RunNotFound: No such run.
            ConfigurationError: ``run_id`` breaks the identifier rule.
        """
        check_identifier(run_id, "run id")
        return RunInfo.from_record(await self._client.store.get_run(run_id))

    async def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunList:
        """Runs newest first, filtered by workflow and status.

        Raises:
            ConfigurationError: An unknown status, a limit outside 1..1000, a
                workflow name breaking the identifier rule, or a cursor that is
                not a ``next_cursor`` this method returned.
        """
        page = await self._client.store.list_runs(
            workflow_name=workflow_name, status=status, limit=limit, cursor=cursor
        )
        return RunList([RunInfo.from_record(run) for run in page.runs], page.next_cursor)

    async def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait for the run to end and return its result.

        Raises:
            WorkflowFailed: The run ended ``failed`` or ``cancelled``.
            TimeoutError: It had not ended after ``timeout`` seconds.
            RunNotFound: No such run.
            ConfigurationError: ``run_id`` breaks the identifier rule, or
                ``timeout`` is not ``None`` or a number of seconds >= 0.
        """
        check_identifier(run_id, "run id")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout < 0
        ):
            raise ConfigurationError(
                f"timeout must be None or a number of seconds >= 0, got {shown(timeout)}"
            )
        delay = 0.02
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            record = await self._client.store.get_run(run_id)
            if record.status == "completed":
                return record.result
            if record.status in ("failed", "cancelled"):
                error = None if record.error is None else record.error.brief()
                raise WorkflowFailed(run_id, record.status, error)
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(
                    f"run {run_id} is still {record.status} after {timeout:g}s; "
                    "is a worker serving its workflow?"
                )
            pause = delay if deadline is None else min(delay, max(deadline - loop.time(), 0))
            await asyncio.sleep(pause)
            delay = min(delay * 1.5, 0.5)

    async def history(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The run's events in order (``seq``, ``type``, ``key``, ``payload``, ``at``).

        A long run is read page by page: pass the ``seq`` of the last event of a
        page as the next ``after_seq``; a page shorter than ``limit`` is the last::

            after = 0
            while page := await client.workflow.history(run_id, after_seq=after, limit=500):
                ...
                after = page[-1].seq

        Args:
            run_id: The run.
            after_seq: Only events with a greater ``seq`` (0: from the first).
            limit: At most this many events; ``None`` for all of them.

        Raises:
            RunNotFound: No such run.
            ConfigurationError: ``run_id`` breaks the identifier rule, ``after_seq``
                is not an int >= 0 or ``limit`` neither ``None`` nor an int >= 1.
        """
        check_identifier(run_id, "run id")
        return await self._client.store.history(run_id, after_seq=after_seq, limit=limit)

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel the run: it stops at its next checkpoint, compensates, ends ``cancelled``.

        A run no worker has started yet (``pending``: say its workflow name is
        mistyped, or no worker runs) has no checkpoint to reach and nothing to
        compensate: it ends ``cancelled`` at once, and the returned run says so.

        Returns:
            The run: ``cancelled`` if it ended at once, else still live with the
            request recorded.

        Raises:
            RunNotFound: No such run.
            RunFinished: The run has ended.
            ConfigurationError: ``run_id`` breaks the identifier rule.
        """
        check_identifier(run_id, "run id")
        return RunInfo.from_record(await self._client.store.request_cancel(run_id))


class StatsAPI:
    """``client.workflow_stats``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def get(self, workflow_name: str | None = None) -> WorkflowStats:
        """``total_runs``, ``success_rate``, ``avg_duration_ms``, ``by_status``.

        Raises:
            ConfigurationError: ``workflow_name`` breaks the identifier rule.
        """
        return await self._client.store.workflow_stats(workflow_name)


class Client:
    """Talks to a store: trigger runs, send signals, query, cancel.

    Args:
        url_or_store: A store URL (``memory://``, ``sqlite:///path.db`` ...), an
            open store, or ``None`` for ``VRB_DATABASE_URL`` / ``sqlite:///vrb.db``.
        codec: Encodes (encrypts) run inputs, results, step outputs, signal
            payloads and error messages before they reach the store, and decodes
            them on the way out (:mod:`runtime.codec`); workers built on this
            client use it too. ``None``: values are stored as they are.

    Raises:
        ConfigurationError: The URL is malformed or names an unknown backend, or
            ``codec`` is not a codec.
    """

    def __init__(
        self, url_or_store: str | Store | None = None, *, codec: PayloadCodec | None = None
    ) -> None:
        if codec is not None and (not isinstance(codec, PayloadCodec) or isinstance(codec, type)):
            raise ConfigurationError(
                "codec must be a payload codec (async encode and decode), not a "
                f"{type(codec).__name__}; see runtime.codec.AesGcmCodec"
            )
        store = (
            open_store(url_or_store)
            if url_or_store is None or isinstance(url_or_store, str)
            else url_or_store
        )
        self._store: Store = store
        if isinstance(store, CodecStore):  # already wrapped (the vrb command's readers)
            if codec is not None:
                raise ConfigurationError("give the codec once: the store given already has one")
            codec, store = store.codec, store.inner
        elif codec is not None:
            self._store = CodecStore(store, codec)
        self._raw_store = store
        """The store without the codec: what a worker wraps with its own."""
        self._codec = codec
        self.workflow = WorkflowAPI(self)
        self.workflow_stats = StatsAPI(self)
        self._sync: SyncClient | None = None

    @property
    def store(self) -> Store:
        """The store this client talks to (through its codec, when it has one)."""
        return self._store

    @property
    def codec(self) -> PayloadCodec | None:
        """The payload codec, or ``None``."""
        return self._codec

    @property
    def sync(self) -> SyncClient:
        """The blocking facade for scripts (``client.sync.workflow.trigger(...)``)."""
        if self._sync is None:
            self._sync = SyncClient(self)
        return self._sync

    async def close(self) -> None:
        """Close the store."""
        await self._store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class _Loop:
    """A private event loop on a daemon thread, for :class:`SyncClient`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True, name="vrb-sync")
        self.closed = False
        self._closing = threading.Lock()
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)  # this thread's own: asyncio.gather looks it up
        try:
            self.loop.run_forever()
        finally:
            # What asyncio.run does on its way out: tasks still pending (the
            # PostgreSQL pool's workers and guard) are cancelled and allowed to
            # finish, or they are destroyed with the loop, each one printing
            # "Task was destroyed but it is pending".
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def run(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        if self.closed:
            raise ConfigurationError(
                "this sync client is closed; make a new Client to talk to the store again"
            )
        return asyncio.run_coroutine_threadsafe(function(*args, **kwargs), self.loop).result()

    def shutdown(self, store: Store, *, quietly: bool) -> None:
        """Close ``store`` on the loop, then stop the loop and its thread. Idempotent.

        ``quietly`` (at exit, or when the client is collected) bounds the wait
        and swallows the store's errors instead of raising them.
        """
        with self._closing:  # close() and the finalizer may race from two threads
            if self.closed:
                return
            self.closed = True
        if threading.current_thread() is self.thread:
            # Collected on the loop's own thread (the cyclic GC runs anywhere):
            # it cannot wait for itself, so the loop stops once the store is closed.
            task = self.loop.create_task(store.close())
            task.add_done_callback(lambda _: self.loop.stop())
            return
        try:
            future = asyncio.run_coroutine_threadsafe(store.close(), self.loop)
            future.result(timeout=_EXIT_TIMEOUT if quietly else None)
        except Exception:
            if not quietly:
                raise
            # At exit or when collected, a store that cannot close cleanly (its
            # server gone) must neither hang the process nor print a traceback.
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=_EXIT_TIMEOUT)


_EXIT_TIMEOUT = 10.0
"""Seconds a sync client closing at exit (or when collected) waits for its store."""


class _SyncProxy:
    def __init__(self, target: Any, loop: _Loop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(method, *args, **kwargs)

        call.__doc__ = method.__doc__
        return call


class SyncClient:
    """Blocking versions of ``client.workflow`` and ``client.workflow_stats``.

    The calls run on a private event loop in a daemon thread, so they work from
    plain scripts; do not use the same store from another event loop meanwhile.
    ``with client.sync as sync:`` closes the store at the end of the block;
    without it, the store is closed when the client is collected or when the
    interpreter exits, whichever comes first, so a script need not call
    :meth:`close` itself.
    """

    def __init__(self, client: Client) -> None:
        self._loop = _Loop()
        self.workflow: Any = _SyncProxy(client.workflow, self._loop)
        self.workflow_stats: Any = _SyncProxy(client.workflow_stats, self._loop)
        # The finalizer holds the loop and the store, never the client, so a
        # client that is dropped is still collected (and closed then).
        self._store = client.store
        self._finalizer = weakref.finalize(
            self, _Loop.shutdown, self._loop, client.store, quietly=True
        )

    def close(self) -> None:
        """Close the store and stop the private loop; later calls raise. Idempotent.

        Raises:
            StoreError: The store failed to close (its server is gone, say).
        """
        self._finalizer.detach()
        self._loop.shutdown(self._store, quietly=False)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
