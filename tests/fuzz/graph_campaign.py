"""A counted campaign over mutated graph files: ``python -m tests.fuzz.graph_campaign [N [LOG]]``.

For N mutants (fixed seed, so two runs see the same files) it counts how many the
loader refused with one line, how many broke the loader (any other exception, or
a message of several lines), how many loaded, and of those how many then failed
their run inside the engine (see :func:`tests.fuzz.graph_runs.internal_fault`),
printing a few examples of each. The fuzz tests assert the same properties on a
smaller budget; this is what the issue's before/after numbers come from.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import tests.integrity.flows  # noqa: F401 - registers the workflow its mutants run
from vrb_compile.errors import GraphLoadError
from vrb_compile.ir.loader import parse_graph
from vrb_compile.ir.models import Graph

from .graph_mutations import FLOW, base_graph, mutants, text_edits, with_hash
from .graph_runs import internal_fault, run_pinned


def campaign(count: int, log: list[str] | None = None) -> dict[str, Any]:
    """Run ``count`` mutants through the loader and, when one loads, through a pinned run.

    Args:
        count: How many mutants.
        log: Gets one line per file (what became of it), to compare two campaigns.
    """
    tally: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    base = Graph.model_validate(base_graph())

    def note(kind: str, detail: str) -> None:
        tally[kind] += 1
        if log is not None:
            log.append(f"{tally['files']}\t{kind}\t{' '.join(detail.split())[:500]}")
        shown = examples.setdefault(kind, [])
        if len(shown) < 5:
            shown.append(detail[:300])

    json_cases = st.one_of(mutants(), mutants(runnable=True)).map(lambda m: ("json", m))
    text_cases = text_edits().map(lambda t: ("text", t))

    @seed(16)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(json_cases, json_cases, json_cases, text_cases))
    def one(case: tuple[str, Any]) -> None:
        kind, payload = case
        if kind == "json":
            data, ops = payload
            data, _ = with_hash(data)
            try:
                text: str | bytes = json.dumps(data)
            except (ValueError, RecursionError):
                note("unserialisable", repr(ops))
                return
            what = repr(ops)
        else:
            what, text = payload
        tally["files"] += 1
        try:
            graph = parse_graph(text, origin="fuzz.graph.json")
        except GraphLoadError as error:
            if "\n" in str(error):
                note("loader: several lines", f"{what}: {error!r}")
            else:
                reason = str(error).partition(": ")[2]
                stage = reason.split(" (")[0].split(":")[0][:40]
                tally[f"refused: {stage}"] += 1
                note("refused", str(error))
            return
        except BaseException as error:  # what the campaign counts
            tally["loader: internal error"] += 1
            note(f"loader: {type(error).__name__}", f"{type(error).__name__}: {error} <- {what}")
            return
        tally["loaded"] += 1
        if graph.workflow.name != FLOW:
            tally["loaded, not runnable here"] += 1  # a golden graph: its steps are not imported
            return
        outcome = run_pinned(graph, base)
        tally[f"run {outcome.status}"] += 1
        note(f"ran: {outcome.status}", f"{outcome.error} <- {what}")
        fault = internal_fault(outcome)
        if fault is not None:
            tally["loaded, then failed internally"] += 1
            note(f"internal: {fault.split(':')[0][:60]}", f"{fault} <- {what}")

    one()
    return {"counts": dict(sorted(tally.items())), "examples": examples}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    log: list[str] | None = [] if len(sys.argv) > 2 else None
    print(json.dumps(campaign(count, log), indent=2))
    if log is not None:
        Path(sys.argv[2]).write_text("\n".join(log) + "\n", errors="backslashreplace")


if __name__ == "__main__":
    main()
