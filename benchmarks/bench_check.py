"""Benchmark: ``vrb-compile check`` against a bare LibCST parse of the same files.

Generates a realistic workflow package (steps modules, workflows in all three
styles with module-local helpers, pure utility modules, and a few genuine
diagnostics), then prints, as the median of ``--repeat`` runs:

* ``parse``: ``libcst.parse_module`` of every file (the floor the issue measures against);
* ``check cold, jobs=1`` and ``check cold, jobs=default``: ``check_paths`` without a cache;
* ``check warm``: ``check_paths`` again over unchanged files, with the cache filled;

and the ratios to the parse. Each measurement runs in a fresh interpreter and
times only the work itself (not the interpreter start or the imports), so no
in-memory state carries over from one run to the next.

Usage::

    python benchmarks/bench_check.py                    # >= 20,000 lines, median of 3
    python benchmarks/bench_check.py --lines 500 --repeat 1 --keep /tmp/pkg
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

PACKAGE = "benchpkg"

# --------------------------------------------------------------------------- generator

STEPS_HEADER = '''\
"""Steps of domain {k}: these do the I/O, so their bodies are never restricted."""

from __future__ import annotations

import json
import time
from typing import Any

from runtime import StepContext, step

_STORE: dict[str, Any] = {{}}
'''

STEP_BLOCK = """

@step("d{k}-validate-{j}", retries=2, timeout="30s")
async def validate_{j}(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    if not payload.get("items"):
        raise ValueError("empty payload")
    total = sum(item["price"] * item["qty"] for item in payload["items"])
    _STORE[str(payload["id"])] = {{"total": total, "at": started}}
    return {{"ok": True, "total": total, "raw": json.dumps(payload, sort_keys=True)}}


async def _charge_{j}(order: dict[str, Any]) -> dict[str, Any]:
    key = f"charge-{{order['id']}}-{j}"
    _STORE[key] = order.get("amount", 0)
    return {{"id": key, "amount": order.get("amount", 0)}}


async def _refund_{j}(error: BaseException, output: dict[str, Any]) -> None:
    _STORE.pop(output["id"], None)


charge_{j} = step("d{k}-charge-{j}", _charge_{j}, retries=3, rollback_fn=_refund_{j})


@step("d{k}-ship-{j}")
def ship_{j}(line: dict[str, Any]) -> dict[str, Any]:
    with open("/dev/null", "w") as sink:
        sink.write(json.dumps(line))
    return {{"sku": line["sku"], "shipped": True}}


@step("d{k}-poll-{j}", retries=5)
async def poll_{j}(charge_id: str) -> dict[str, Any]:
    return {{"id": charge_id, "done": charge_id in _STORE}}


@step("d{k}-approve-{j}")
async def approve_{j}(ctx: StepContext, request: dict[str, Any]) -> dict[str, Any]:
    decision = await ctx.wait_for_signal("approve-d{k}-{j}")
    _STORE[f"approval-{{request['id']}}"] = decision
    return {{"approved": bool(decision.get("ok"))}}
"""

PURE_HEADER = '''\
"""Pure pricing code of domain {k}: no workflow, no step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Price{k}:
    amount: float
    currency: str = "EUR"
    tags: tuple[str, ...] = field(default=())

    def scaled(self, factor: float) -> Price{k}:
        return Price{k}(round(self.amount * factor, 2), self.currency, self.tags)
'''

PURE_BLOCK = '''

def apply_discount_{j}(total: float, rate: float) -> float:
    """Discount of rate on total, rounded to cents, never more than the total."""
    if rate <= 0:
        return 0.0
    discount = round(total * min(rate, 1.0), 2)
    return min(discount, total)


def tiered_{j}(quantity: int, tiers: dict[int, float] | None = None) -> float:
    table = tiers or {{1: 1.0, 10: 0.95, 100: 0.9, 1000: 0.85}}
    factor = 1.0
    for threshold in sorted(table):
        if quantity >= threshold:
            factor = table[threshold]
    return factor


def normalise_{j}(values: list[float]) -> list[float]:
    if not values:
        return []
    top = max(values)
    low = min(values)
    span = (top - low) or 1.0
    return [round((value - low) / span, 4) for value in values]


def score_{j}(metrics: dict[str, Any]) -> float:
    weights = {{"speed": 0.5, "quality": 0.3, "cost": 0.2}}
    total = 0.0
    for key, weight in weights.items():
        total += weight * float(metrics.get(key, 0))
    return math.sqrt(total) if total > 0 else 0.0
'''

FLOWS_HEADER = '''\
"""Workflows of area {m}: functional, decorator and class style."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from runtime import Step, StepFailed, Workflow, WorkflowContext, workflow

from . import pure_{k:03d} as pricing
from .pure_{k:03d} import apply_discount_0 as apply_discount
from .steps_{k:03d} import approve_0, charge_1, poll_2, ship_3, validate_0
from .steps_{k:03d} import charge_4 as pay_again


def _order_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in order["items"] if line["qty"] > 0]


async def _pay_all(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for order in orders:
        paid = await pay_again(order)
        results.append(paid)
    return results
'''

FLOW_FUNCTIONAL = """

async def flow_{m}_{w}(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    checked = await validate_0(order)
    total = checked["total"]
    if total > 100:
        discount = apply_discount(total, 0.1)
    elif total > 50:
        discount = pricing.apply_discount_1(total, 0.05)
    else:
        discount = 0.0
    lines = _order_lines(order)
    try:
        paid = await charge_1({{**order, "amount": total - discount}})
    except StepFailed:
        return {{"status": "failed", "order": order["id"]}}
    shipped = await asyncio.gather(*(ship_3(line) for line in lines))
    for _attempt in range(3):
        status = await poll_2(paid["id"])
        if status["done"]:
            break
        await ctx.sleep("5s")
    extra = await _pay_all(order.get("children", []))
    summary = json.dumps({{"total": total, "n": len(lines)}}, sort_keys=True)
    return {{"status": "ok", "summary": summary, "shipped": len(shipped), "extra": len(extra)}}


workflow("flow-{m}-{w}", max_events=500, execution_timeout="1h").run(flow_{m}_{w})
"""

FLOW_DECORATOR = """

@workflow("approval-{m}-{w}", max_events=200)
async def approval_{m}_{w}(ctx: WorkflowContext, request: dict[str, Any]) -> dict[str, Any]:
    decision = await approve_0(request)
    if not decision["approved"]:
        return {{"status": "rejected", "id": request["id"]}}
    answer = await ctx.wait_for_signal("confirm-{m}-{w}", timeout="2d")
    scores = pricing.normalise_2([float(x) for x in request.get("scores", [])])
    ranked = sorted(scores, reverse=True)
    best = ranked[0] if ranked else 0.0
    attempts = 0
    while attempts < 3 and not answer.get("final"):
        answer = await ctx.wait_for_signal("confirm-{m}-{w}")
        attempts += 1
    results = await ctx.parallel([lambda: charge_1(request), lambda: poll_2(request["id"])])
    return {{"status": "approved", "best": best, "results": results, "at": ctx.now().isoformat()}}
"""

FLOW_CLASS = """

@Workflow("class-{m}-{w}", max_events=300)
class Booking{m}x{w}:
    @Step("class-reserve-{m}-{w}", retries=2)
    async def reserve(self, trip: dict[str, Any]) -> dict[str, Any]:
        return {{"seat": f"{{trip['flight']}}-1A", "at": time.time()}}

    @Step("class-ticket-{m}-{w}")
    async def ticket(self, trip: dict[str, Any], seat: dict[str, Any]) -> dict[str, Any]:
        return {{"ticket": f"T-{{trip['id']}}-{{seat['seat']}}"}}

    async def run(self, ctx: WorkflowContext, trip: dict[str, Any]) -> dict[str, Any]:
        seat = await self.reserve(trip)
        ticket = await self.ticket(trip, seat)
        legs = [leg for leg in trip.get("legs", []) if leg.get("active")]
        count = len(legs)
        label = "multi" if count > 1 else "single"
        return {{"status": "booked", "kind": label, **seat, **ticket}}
"""

# Genuine findings, one in every tenth workflow module.
FLOW_BROKEN = """

@workflow("broken-{m}")
async def broken_{m}(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    checked = await validate_0(order)
    for sku in set(order.get("skus", [])):
        await ship_3({{"sku": sku}})
    return {{"checked": checked, "started": started}}
"""


def _write(path: Path, text: str) -> int:
    path.write_text(text, encoding="utf-8")
    return text.count("\n")


def generate(root: Path, lines: int, *, broken: bool = True) -> tuple[list[Path], int]:
    """Write the package under ``root``; returns its files and their total line count.

    ``broken=False`` leaves out the planted findings (a package that builds).
    """
    package = root / PACKAGE
    package.mkdir(parents=True)
    files = [package / "__init__.py"]
    total = _write(files[0], '"""Generated benchmark package."""\n')
    k = 0
    while total < lines:
        steps = STEPS_HEADER.format(k=k) + "".join(STEP_BLOCK.format(k=k, j=j) for j in range(6))
        pure = PURE_HEADER.format(k=k) + "".join(PURE_BLOCK.format(j=j) for j in range(6))
        flows = FLOWS_HEADER.format(m=k, k=k)
        for w in range(3):
            flows += FLOW_FUNCTIONAL.format(m=k, w=w)
            flows += FLOW_DECORATOR.format(m=k, w=w)
            flows += FLOW_CLASS.format(m=k, w=w)
        if broken and k % 10 == 9:
            flows += FLOW_BROKEN.format(m=k)
        for name, text in (
            (f"steps_{k:03d}", steps),
            (f"pure_{k:03d}", pure),
            (f"flows_{k:03d}", flows),
        ):
            path = package / f"{name}.py"
            total += _write(path, text)
            files.append(path)
        k += 1
    return files, total


# --------------------------------------------------------------------------- measurement

_MEASURE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    kind, root, jobs, cache = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    files = sorted((root / "{package}").rglob("*.py"))
    if kind == "parse":
        import libcst
        texts = [f.read_text(encoding="utf-8") for f in files]
        start = time.perf_counter()
        for text in texts:
            libcst.parse_module(text)
        elapsed = time.perf_counter() - start
        print(json.dumps({{"seconds": elapsed}}))
    else:
        from vrb_compile.api import CheckConfig, check_paths
        config = CheckConfig(
            cache_dir=Path(cache) if cache != "-" else None,
            jobs=None if jobs == "default" else int(jobs),
        )
        start = time.perf_counter()
        result = check_paths([root / "{package}"], config, cwd=root)
        elapsed = time.perf_counter() - start
        codes = sorted({{d.code for d in result.diagnostics}})
        print(json.dumps({{"seconds": elapsed, "files": result.files,
                          "workflows": result.workflows, "diagnostics": len(result.diagnostics),
                          "codes": codes}}))
    """
).format(package=PACKAGE)


def _measure(kind: str, root: Path, jobs: str = "default", cache: str = "-") -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, kind, str(root), jobs, cache],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench_check: the {kind} measurement failed:\n{proc.stderr}")
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _median(kind: str, root: Path, repeat: int, **kwargs: str) -> tuple[float, dict[str, object]]:
    runs = [_measure(kind, root, **kwargs) for _ in range(repeat)]
    seconds = [float(str(run["seconds"])) for run in runs]
    return statistics.median(seconds), runs[-1]


def run(lines: int, repeat: int, keep: Path | None) -> dict[str, float]:
    """Generate the package, measure, print the table; returns the medians by label."""
    workdir = Path(tempfile.mkdtemp(prefix="vrb-bench-")) if keep is None else keep
    if keep is not None and keep.exists():
        shutil.rmtree(keep)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        files, total = generate(workdir, lines)
        print(f"generated {len(files)} files, {total} lines in {workdir / PACKAGE}")
        cpus = os.cpu_count() or 1
        parse, _ = _median("parse", workdir, repeat)
        cold1, info = _median("check", workdir, repeat, jobs="1")
        cold, _ = _median("check", workdir, repeat, jobs="default")
        cache = workdir / ".vrb_cache"
        _measure("check", workdir, jobs="default", cache=str(cache))  # fill the cache
        warm, warm_info = _median("check", workdir, repeat, jobs="default", cache=str(cache))
        if warm_info["diagnostics"] != info["diagnostics"]:
            raise SystemExit("bench_check: the warm (cached) run reported other diagnostics")
        codes = info["codes"]
        assert isinstance(codes, list)
        print(
            f"checked {info['files']} files, {info['workflows']} workflows, "
            f"{info['diagnostics']} diagnostics ({', '.join(map(str, codes))})"
        )
        print(f"median of {repeat} run(s), {cpus} CPU(s):")
        rows = [
            ("libcst.parse_module, all files", parse),
            ("check cold, jobs=1", cold1),
            ("check cold, jobs=default", cold),
            ("check warm (cache)", warm),
        ]
        for label, seconds in rows:
            ratio = seconds / parse if parse > 0 else float("inf")
            print(f"  {label:<32} {seconds:8.3f} s   {ratio:6.2f}x parse")
        return dict(rows)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="minimum lines to generate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.repeat < 1:
        parser.error("--lines and --repeat must be positive")
    run(args.lines, args.repeat, args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
