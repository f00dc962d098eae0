"""Client commands: ``trigger``, ``signal``, ``runs list|show|history|cancel``, ``stats``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from vrb_compile.terminal import inert

from .._codec_store import CodecStore
from ..client import Client, RunInfo
from ..errors import WorkflowFailed
from ..events import Event
from ..stores.base import RUN_STATUSES
from ._common import (
    EXIT_OK,
    CommandError,
    Parser,
    UsageError,
    add_common_options,
    open_client,
    parse_json_option,
    positive_float,
    positive_int,
)
from ._stderr import note
from .render import (
    Column,
    Output,
    compact_json,
    error_text,
    event_doc,
    payload_summary,
    run_doc,
    short_time,
    stats_doc,
)

__all__ = ["add_run_commands"]


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[Client]:
    client = open_client(args, reader=True)
    try:
        yield client
    finally:
        await client.close()
        _note_undecodable(client)


def _note_undecodable(client: Client) -> None:
    """Say why values were shown encrypted although a codec was given (a key it lacks)."""
    store = client.store
    if not isinstance(store, CodecStore) or not store.undecodable:
        return
    reasons = list(dict.fromkeys(str(error) for error in store.undecodable))
    for reason in reasons[:3]:
        _note(f"shown encrypted: {reason}")
    if len(reasons) > 3:
        _note(f"... and {len(reasons) - 3} more values the codec could not decode")


# --------------------------------------------------------------------------- trigger


async def run_trigger(args: argparse.Namespace) -> int:
    """``vrb trigger NAME [--args JSON] [--run-id ID] [--wait] [--timeout S]``."""
    out = Output(args.json)
    workflow_args = parse_json_option(args.args, "--args")
    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout goes with --wait (see 'vrb trigger --help')")
    async with _client(args) as client:
        handle = await client.workflow.trigger(args.name, workflow_args, run_id=args.run_id)
        if not handle.created:
            _note(
                f"run {handle.run_id} already exists (workflow {handle.workflow_name}); "
                "it was not triggered again"
            )
        doc: dict[str, Any] = {
            "run_id": handle.run_id,
            "workflow_name": handle.workflow_name,
            "created": handle.created,
        }
        if not args.wait:
            if args.json:
                out.document(doc)
            else:
                out.line(handle.run_id)
            return EXIT_OK
        if not args.json:
            out.line(handle.run_id)
        failure: str | None = None
        try:
            async with _progress(args, handle.run_id) as update:
                await _wait(client, handle.run_id, args.timeout, update)
        except TimeoutError as error:
            failure = str(error)
        except WorkflowFailed:
            pass  # reported from the run's record below
        run = await client.workflow.get_run(handle.run_id)
        doc.update(status=run.status, result=run.result, error=run.error)
        if args.json:
            out.document(doc)
        elif run.status == "completed":
            out.line(compact_json(run.result))
        if failure is None and run.status != "completed":
            failure = f"run {run.run_id} ended {run.status}: {error_text(run.error)}".rstrip(": ")
        if failure is not None:
            raise CommandError(failure)
        return EXIT_OK


async def _wait(
    client: Client, run_id: str, timeout: float | None, update: Callable[[str], None]
) -> Any:
    result = asyncio.ensure_future(client.workflow.result(run_id, timeout=timeout))
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=0.5)
            if done:
                return result.result()
            update((await client.workflow.get_run(run_id)).status)
    finally:
        result.cancel()


@contextlib.asynccontextmanager
async def _progress(args: argparse.Namespace, run_id: str) -> AsyncIterator[Callable[[str], None]]:
    """A spinner on stderr while waiting, when stderr is a terminal (and not --json)."""
    if args.json or not sys.stderr.isatty():
        yield lambda status: None
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stderr, highlight=False)
    shown = escape(inert(run_id))  # the user's --run-id: neither escape sequences nor markup
    with console.status(f"run {shown}: waiting for a worker...") as status:
        yield lambda text: status.update(f"run {shown}: {escape(inert(text))}")


def _note(text: str) -> None:
    note(f"vrb: {text}")


# --------------------------------------------------------------------------- signal


async def run_signal(args: argparse.Namespace) -> int:
    """``vrb signal RUN NAME [--payload JSON]``."""
    out = Output(args.json)
    payload = parse_json_option(args.payload, "--payload")
    async with _client(args) as client:
        await client.workflow.send_signal(args.run_id, args.signal, payload)
    if args.json:
        out.document({"run_id": args.run_id, "signal": args.signal, "payload": payload})
    else:
        out.line(f"sent signal {args.signal} to run {args.run_id}")
    return EXIT_OK


# --------------------------------------------------------------------------- runs


_RUN_COLUMNS = [
    Column("RUN ID"),
    Column("WORKFLOW"),
    Column("STATUS", status=True),
    # Two timestamps and a 32-character id leave no room for the result in a
    # terminal under about 150 columns: the times make way (`runs show` has them).
    Column("CREATED", optional=True),
    Column("UPDATED", optional=True),
    Column("RESULT / ERROR", wide=True),
]


def _outcome(run: RunInfo, limit: int = 100) -> str:
    if run.status == "completed":
        return compact_json(run.result, limit)
    text = error_text(run.error)
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def run_list(args: argparse.Namespace) -> int:
    """``vrb runs list [--workflow W] [--status S] [--limit N] [--cursor C]``."""
    out = Output(args.json)
    async with _client(args) as client:
        page = await client.workflow.list_runs(
            workflow_name=args.workflow, status=args.status, limit=args.limit, cursor=args.cursor
        )
    if args.json:
        out.document(
            {"runs": [run_doc(run) for run in page.items], "next_cursor": page.next_cursor}
        )
        return EXIT_OK
    if not page.items:
        _note("no runs match")
        return EXIT_OK
    out.table(
        _RUN_COLUMNS,
        [
            [
                run.run_id,
                run.workflow_name,
                run.status,
                short_time(run.created_at),
                short_time(run.updated_at),
                _outcome(run),
            ]
            for run in page.items
        ],
    )
    if page.next_cursor is not None:
        _note(f"more runs: add --cursor {page.next_cursor}")
    return EXIT_OK


_EVENT_COLUMNS = [
    Column("SEQ", justify="right"),
    Column("TYPE"),
    Column("KEY"),
    Column("PAYLOAD", wide=True),
    Column("TIME"),
]


def _history_table(out: Output, events: list[Event]) -> None:
    out.table(
        _EVENT_COLUMNS,
        [
            [
                str(event.seq),
                event.type,
                event.key or "-",
                payload_summary(event.type, event.payload.model_dump(mode="json")),
                short_time(event.at),
            ]
            for event in events
        ],
    )


async def run_show(args: argparse.Namespace) -> int:
    """``vrb runs show RUN [--limit N]``: status, result or error, and the last N events."""
    out = Output(args.json)
    async with _client(args) as client:
        run = await client.workflow.get_run(args.run_id)
        # The end of a long run is what explains it; one page, however long the run.
        after = max(run.last_seq - args.limit, 0)
        events = await client.workflow.history(args.run_id, after_seq=after, limit=args.limit)
    if events and events[0].seq > 1:
        _note(
            f"showing events {events[0].seq} to {events[-1].seq} of {run.last_seq}; page "
            f"through the others with vrb runs history {args.run_id} --after SEQ"
        )
    if args.json:
        out.document(
            {
                "run": run_doc(run),
                "events": run.last_seq,
                "history": [event_doc(event) for event in events],
            }
        )
        return EXIT_OK
    pairs = [
        ("run", run.run_id),
        ("workflow", run.workflow_name),
        ("status", run.status),
    ]
    if run.status == "completed":
        pairs.append(("result", compact_json(run.result)))
    elif run.error is not None:
        pairs.append(("error", error_text(run.error)))
    pairs += [
        ("graph", run.graph_hash or "-"),
        ("created", short_time(run.created_at)),
        ("updated", short_time(run.updated_at)),
        ("events", str(run.last_seq)),
    ]
    out.fields(pairs)
    out.line()
    _history_table(out, events)
    return EXIT_OK


async def run_history(args: argparse.Namespace) -> int:
    """``vrb runs history RUN [--after SEQ] [--limit N]``: one page of the run's events."""
    out = Output(args.json)
    async with _client(args) as client:
        # One more than asked: whether another page follows, without counting.
        events = await client.workflow.history(
            args.run_id, after_seq=args.after, limit=min(args.limit, 2**62) + 1
        )
    more = len(events) > args.limit
    events = events[: args.limit]
    next_after = events[-1].seq if more else None
    if args.json:
        out.document(
            {
                "run_id": args.run_id,
                "events": [event_doc(event) for event in events],
                "next_after": next_after,
            }
        )
    else:
        _history_table(out, events)
    if next_after is not None:
        _note(f"more events: add --after {next_after}")
    return EXIT_OK


def _seq(text: str) -> int:
    """An argparse type: a seq, an integer from 0 (``--after 0``: from the first event)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"expected an event seq (an integer >= 0), got {text!r}")
    return value


async def run_cancel(args: argparse.Namespace) -> int:
    """``vrb runs cancel RUN``: cancel the run (at once if no worker has started it)."""
    out = Output(args.json)
    async with _client(args) as client:
        run = await client.workflow.cancel(args.run_id)
    if args.json:
        out.document(run_doc(run))
    elif run.status == "cancelled":
        out.line(
            f"run {run.run_id} cancelled: no worker had started it, so there was nothing "
            "to stop or compensate"
        )
    else:
        out.line(
            f"cancellation requested for run {run.run_id} ({run.status}); a worker stops it "
            "at its next checkpoint, compensates, and ends it cancelled"
        )
    return EXIT_OK


# --------------------------------------------------------------------------- stats


async def run_stats(args: argparse.Namespace) -> int:
    """``vrb stats [--workflow W]``: totals, success rate, mean duration, runs by status."""
    out = Output(args.json)
    async with _client(args) as client:
        stats = await client.workflow_stats.get(args.workflow)
    if args.json:
        out.document(stats_doc(stats, args.workflow))
        return EXIT_OK
    rate = "-" if stats.success_rate is None else f"{stats.success_rate * 100:.1f}%"
    mean = "-" if stats.avg_duration_ms is None else f"{stats.avg_duration_ms:.1f} ms"
    out.fields(
        [
            ("workflow", args.workflow or "(all)"),
            ("total runs", str(stats.total_runs)),
            ("success rate", rate),
            ("avg duration", mean),
        ]
    )
    out.line()
    out.table(
        [Column("STATUS", status=True), Column("RUNS", justify="right")],
        [[status, str(stats.by_status.get(status, 0))] for status in RUN_STATUSES],
    )
    return EXIT_OK


# --------------------------------------------------------------------------- parsers


def _command(
    subparsers: argparse._SubParsersAction[Parser],
    name: str,
    handler: Callable[[argparse.Namespace], Any],
    help_text: str,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def add_run_commands(subparsers: argparse._SubParsersAction[Parser]) -> None:
    """Add ``trigger``, ``signal``, ``runs`` and ``stats`` to the ``vrb`` parser."""
    trigger = _command(subparsers, "trigger", run_trigger, "start a run of a workflow")
    trigger.add_argument("name", metavar="NAME", help="the workflow's registered name")
    trigger.add_argument(
        "--args",
        metavar="JSON",
        help='a JSON list of positional arguments or object of keyword arguments, e.g. \'[{"id": "A1"}]\'',
    )
    trigger.add_argument(
        "--run-id", metavar="ID", help="choose the run id (triggering it again is a no-op)"
    )
    trigger.add_argument(
        "--wait",
        action="store_true",
        help="wait for the run to end and print its result (exit 1 if it fails)",
    )
    trigger.add_argument(
        "--timeout", metavar="S", type=positive_float, help="with --wait: give up after S seconds"
    )
    add_common_options(trigger)

    signal = _command(subparsers, "signal", run_signal, "send a signal to a run")
    signal.add_argument("run_id", metavar="RUN", help="the run's id")
    signal.add_argument("signal", metavar="NAME", help="the signal's name")
    signal.add_argument("--payload", metavar="JSON", help="the signal's JSON payload")
    add_common_options(signal)

    runs = subparsers.add_parser(
        "runs", help="list, inspect and cancel runs", description="list, inspect and cancel runs"
    )
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="COMMAND", parser_class=Parser)
    runs_commands.required = True
    listing = _command(runs_commands, "list", run_list, "list runs, newest first")
    listing.add_argument("--workflow", metavar="W", help="only runs of this workflow")
    listing.add_argument("--status", choices=RUN_STATUSES, help="only runs with this status")
    listing.add_argument(
        "--limit", metavar="N", type=positive_int, default=20, help="at most N runs (default 20)"
    )
    listing.add_argument(
        "--cursor", metavar="C", help="the next page, as printed by a previous list"
    )
    add_common_options(listing)
    for name, handler, help_text in (
        ("show", run_show, "a run's status, result or error, and its last events"),
        ("history", run_history, "a run's events in order, a page at a time"),
        ("cancel", run_cancel, "cancel a run: it compensates and ends cancelled"),
    ):
        command = _command(runs_commands, name, handler, help_text)
        command.add_argument("run_id", metavar="RUN", help="the run's id")
        if name == "show":
            command.add_argument(
                "--limit",
                metavar="N",
                type=positive_int,
                default=100,
                help="show the last N events (default 100)",
            )
        if name == "history":
            command.add_argument(
                "--after",
                metavar="SEQ",
                type=_seq,
                default=0,
                help="only events after this seq (default 0: from the first)",
            )
            command.add_argument(
                "--limit",
                metavar="N",
                type=positive_int,
                default=1000,
                help="at most N events (default 1000); a note says the --after of the next page",
            )
        add_common_options(command)

    stats = _command(subparsers, "stats", run_stats, "run counts, success rate and durations")
    stats.add_argument("--workflow", metavar="W", help="only runs of this workflow")
    add_common_options(stats)
