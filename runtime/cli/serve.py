"""``vrb worker MODULE...``: import workflow modules and serve their workflows until stopped.

The first SIGTERM or SIGINT (Ctrl-C) stops claiming runs; steps in flight
finish and their runs are given back at the next checkpoint, due at once for
another worker; then the process exits (0 after SIGTERM, 130 after Ctrl-C). A
second signal quits at once: runs still executing are left to their leases,
which lapse so another worker recovers them. The worker acts on a signal before
it says so on stderr, and a stderr it cannot write to (a supervisor's log pipe
that died) is silenced, never a reason not to stop.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from vrb_compile.ir.signing import GraphKeyError
from vrb_compile.terminal import inert_json

from ..errors import shown
from ..graphs import GraphKey, GraphLibrary
from ..sdk import registered_workflows
from ..stores._redact import url_secrets
from ..worker import DEFAULT_MAX_EVENTS, Worker
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    UsageError,
    add_common_options,
    display_url,
    open_client,
    path_text,
    positive_int,
    store_url,
    worker_count,
    worker_seconds,
)
from ._stderr import InertFormatter, StderrHandler, note
from .render import Output

__all__ = ["add_worker_command", "import_workflow_module"]

_LOG_LEVELS = ("debug", "info", "warning", "error")


def _module_name_of(path: Path) -> tuple[str, Path]:
    """The dotted name of a ``.py`` file and the directory to import it from.

    Packages (directories with ``__init__.py``) above the file are part of the
    name, as ``python -m`` would see them from the first directory that is not a
    package, so the module's graph names code every worker can import.
    """
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    root = path.parent
    while (root / "__init__.py").is_file() and root.parent != root:
        parts.insert(0, root.name)
        root = root.parent
    if not parts:
        raise UsageError(f"{path}: cannot tell which module this file is")
    return ".".join(parts), root


def import_workflow_module(spec: str) -> str:
    """Import a workflow module given by dotted name or by a ``.py`` path; return its name.

    Raises:
        UsageError: It does not exist or raised while being imported.
    """
    name = spec
    if "\x00" in spec:
        raise UsageError(f"workflow module {shown(spec)} cannot hold a NUL character")
    path = Path(spec)
    looks_like_path = spec.endswith(".py") or os.sep in spec or "/" in spec
    # Imported as a dotted name, `out.txt` or `flows/` would be reported as a
    # missing module, which sends the user looking in the wrong place.
    if path.is_file() and path.suffix != ".py":
        raise UsageError(
            f"workflow module file {spec!r} is not a Python file; pass a .py file or a module name"
        )
    if looks_like_path and path.is_dir():
        raise UsageError(
            f"workflow module {spec!r} is a directory; pass the .py files that define "
            "workflows, or a module name (examples.order_processing)"
        )
    if looks_like_path:
        if not path.is_file():
            raise UsageError(f"workflow module file {spec!r} does not exist")
        name, root = _module_name_of(path)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            raise UsageError(
                f"cannot import workflow module {name!r}: no such module from {os.getcwd()}; "
                "run vrb worker from the directory that holds it, or pass the path of its .py file"
            ) from None
        raise UsageError(
            f"importing workflow module {name!r} failed: {error}; is a dependency missing?"
        ) from None
    except Exception as error:
        where = ""
        if isinstance(error, SyntaxError) and error.filename:
            where = f" ({error.filename}:{error.lineno})"
        raise UsageError(
            f"importing workflow module {name!r} failed: {type(error).__name__}: "
            f"{' '.join(str(error).split())}{where}"
        ) from None
    return name


def _configure_logging(level: str, url: str) -> None:
    handler = StderrHandler()
    line = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(InertFormatter(line, secrets=url_secrets(url)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


async def run_worker(args: argparse.Namespace) -> int:
    """Serve workflows until SIGTERM/SIGINT; the exit status."""
    # Like `python -m`: modules in the current directory are importable.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    url = store_url(args)
    modules = [import_workflow_module(spec) for spec in args.modules]
    names: list[str] = list(dict.fromkeys(args.workflows or []))
    if not names and not registered_workflows():
        raise UsageError(
            f"modules {', '.join(modules)} register no workflow; define one with "
            "workflow(...).run(fn) or @workflow(...)"
        )
    _configure_logging(args.log_level, url)
    library = GraphLibrary(args.graphs, key=_graph_key(args.graph_key_file))
    # Load (compile or read) the graphs before opening the store: a broken
    # workflow is reported at once, with one line, and nothing is claimed.
    served = library.load(names)
    client = open_client(args)
    try:
        worker = Worker(
            client,
            library,
            poll_interval=args.poll_interval,
            max_concurrency=args.concurrency,
            lease_timeout=args.lease_timeout,
            heartbeat_interval=min(30.0, args.lease_timeout / 3),
            default_max_events=args.default_max_events,
        )
        _announce(Output(args.json), worker, library, served, url)
        return await _serve(worker, served)
    finally:
        await client.close()


def _graph_key(path: str | None) -> GraphKey | None:
    try:
        return GraphKey.resolve(path)
    except GraphKeyError as error:
        raise UsageError(str(error)) from None


def _announce(
    out: Output, worker: Worker, library: GraphLibrary, served: list[str], url: str
) -> None:
    graphs = {name: library.latest(name) for name in served}
    if out.json_mode:
        out.line(
            _one_json(
                {
                    "worker_id": worker.worker_id,
                    "db": display_url(url),
                    "concurrency": worker.max_concurrency,
                    "graphs_seconds": round(library.load_seconds, 3),
                    "signed_graphs": library.key is not None,
                    "workflows": [
                        {"name": name, "graph_hash": graph.hash, "module": graph.source.module}
                        for name, graph in graphs.items()
                    ],
                }
            )
        )
    else:
        for name, graph in graphs.items():
            out.line(f"serving {name} (graph {graph.hash[:12]}, {graph.source.module})")
    proof = "compiled" if library.directory is None else "proven against their modules"
    signed = f", signatures checked with key {library.key.key_id}" if library.key else ""
    note(
        f"vrb: worker {worker.worker_id} on {display_url(url)}, concurrency "
        f"{worker.max_concurrency}; graphs {proof} in {library.load_seconds:.2f} s{signed}; "
        "SIGTERM or Ctrl-C stops it after the steps in flight"
    )


def _one_json(data: Any) -> str:
    import json

    return inert_json(json.dumps(data, ensure_ascii=False))


async def _serve(worker: Worker, names: list[str]) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(worker.start(*names))
    received: list[int] = []
    stopping: list[asyncio.Future[None]] = []

    def on_signal(signum: int) -> None:
        # Act first, report after: the report may fail (a closed stderr pipe), the stop may not.
        received.append(signum)
        if len(received) == 1:
            stopping.append(asyncio.ensure_future(worker.stop()))
            note(
                f"vrb: {signal.Signals(signum).name} received: stopping after the steps in "
                "flight (send it again to quit at once)"
            )
        else:
            task.cancel()
            note("vrb: quitting at once; runs in flight resume when their leases lapse")

    signums = (signal.SIGTERM, signal.SIGINT)
    for signum in signums:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await task
    except asyncio.CancelledError:
        if len(received) < 2:
            raise
        return EXIT_INTERRUPTED
    finally:
        for signum in signums:
            loop.remove_signal_handler(signum)
    note(f"vrb: worker {worker.worker_id} stopped")
    if received and received[0] == signal.SIGINT:
        return EXIT_INTERRUPTED
    return EXIT_OK


def add_worker_command(subparsers: argparse._SubParsersAction[Parser]) -> None:
    """Add ``worker`` to the ``vrb`` parser."""
    description = "import workflow modules and serve their workflows until SIGTERM or Ctrl-C"
    parser = subparsers.add_parser("worker", help=description, description=description)
    parser.set_defaults(handler=run_worker)
    parser.add_argument(
        "modules",
        metavar="MODULE",
        nargs="+",
        help="a module (examples.order_processing) or a .py file defining workflows",
    )
    parser.add_argument(
        "--workflow",
        dest="workflows",
        metavar="NAME",
        action="append",
        help="serve only this workflow (repeat for several; default: every registered one)",
    )
    parser.add_argument(
        "--graphs",
        metavar="DIR",
        type=path_text,
        help="load graphs built by `vrb-compile build` from DIR (default: compile in-process)",
    )
    parser.add_argument(
        "--graph-key-file",
        metavar="FILE",
        type=path_text,
        help="run only graphs signed with the key in FILE (default: the key in $VRB_GRAPH_KEY, "
        "if set; without a key, the graph directory is trusted as the code is)",
    )
    parser.add_argument(
        "--concurrency",
        metavar="N",
        type=worker_count("max_concurrency"),
        default=5,
        help="runs executed at once (default 5, at most 10000)",
    )
    parser.add_argument(
        "--poll-interval",
        metavar="S",
        type=worker_seconds("poll_interval"),
        default=1.0,
        help="seconds between polls when idle (default 1; 0.01 to 3600)",
    )
    parser.add_argument(
        "--lease-timeout",
        metavar="S",
        type=worker_seconds("lease_timeout"),
        default=30.0,
        help="seconds a claim lasts without a heartbeat (default 30; 0.01 to 86400)",
    )
    parser.add_argument(
        "--default-max-events",
        metavar="N",
        type=positive_int,
        default=DEFAULT_MAX_EVENTS,
        help="stop (fail) a run of a workflow without max_events at N events "
        f"(default {DEFAULT_MAX_EVENTS})",
    )
    parser.add_argument(
        "--log-level", choices=_LOG_LEVELS, default="info", help="stderr logging (default info)"
    )
    add_common_options(parser)
