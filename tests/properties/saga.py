"""The saga's order, checked on one run's own timeline, and the view two runs are compared by.

Which of several concurrent branches of a ``parallel`` or map node completes
first is scheduling, so two executors may complete them (and call their steps)
in different orders. Given the order a run *did* complete its steps in, though,
its rollbacks are determined (SPEC section 6): when a step fails for good, every
completed, not yet compensated step with a ``rollback_fn`` is undone, in reverse
completion order, once the failing step's sibling branches are done and before
the body goes on; a run that fails undoes what is left.

:func:`saga_view` checks exactly that on one timeline (a script log, or one
rebuilt from an event log by :func:`history_timeline`) and returns the view
two runs must agree on: step attempts in order, except that the attempts of one
parallel/map node instance form a multiset; rollbacks in order, except that
consecutive rollbacks undoing branches of the same node instance are sorted
(they follow that node's completion order, which is scheduling). Everything
else - the rollbacks of steps completed before or after a parallel, the
position of every pass - keeps its exact order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from runtime.events import Event
from tests.direct_executor import Call, group_of
from tests.strategies import Scenario

__all__ = ["history_timeline", "saga_view"]


def saga_view(
    log: Sequence[Call], scenario: Scenario, *, failed: bool, where: str = ""
) -> list[Any]:
    """Check the rollbacks in ``log`` follow its completions; return its comparable view.

    Args:
        log: Attempts (``step``), their outcomes (``done``/``failed``) and
            rollbacks, in the order they happened in one run.
        scenario: Which steps have a rollback.
        failed: The run ended failed (so nothing may be left to undo).
        where: Context for failure messages.

    Raises:
        AssertionError: A rollback out of order, or a compensation skipped or cut short.
    """
    view: list[Any] = []
    stack: list[Call] = []  # completions of steps with a rollback, not yet undone
    bucket: Counter[Any] = Counter()
    bucket_group: str | None = None
    rollbacks: list[tuple[Any, str | None]] = []
    owed: str | bool | None = False  # a step failed for good (in this group): a pass is owed

    def close_bucket() -> None:
        nonlocal bucket_group
        if bucket:
            view.append(("branches", sorted(bucket.items(), key=repr)))
            bucket.clear()
        bucket_group = None

    def close_pass() -> None:
        assert not stack, f"{where}: a compensation pass left {_show(stack)} not undone"
        index = 0
        while index < len(rollbacks):
            group = rollbacks[index][1]
            end = index + 1
            while group is not None and end < len(rollbacks) and rollbacks[end][1] == group:
                end += 1
            view.extend(sorted((item for item, _ in rollbacks[index:end]), key=repr))
            index = end
        rollbacks.clear()

    for entry in log:
        if entry.kind == "rollback":
            close_bucket()
            assert stack, f"{where}: rollback {entry.plain()} with nothing left to undo"
            undone = stack.pop()
            expected = (undone.step, undone.detail)
            same = (entry.step, entry.value) == expected
            if entry.key is not None:
                same = same and entry.key == undone.key
            assert same, (
                f"{where}: rollback {entry.plain()} ran where the saga undoes the latest "
                f"completion left, {undone.step} (output {undone.detail}); left: {_show(stack)}"
            )
            rollbacks.append((entry.plain(), undone.group))
            continue
        if rollbacks:
            close_pass()
            owed = False
        if owed is not False and not (entry.group is not None and entry.group == owed):
            assert not stack, (
                f"{where}: a step failed for good, then {entry.plain()} came before "
                f"{_show(stack)} were undone"
            )
            owed = False
        if entry.kind == "step":
            if entry.group is None:
                close_bucket()
                view.append(entry.plain())
            else:
                if entry.group != bucket_group:
                    close_bucket()
                    bucket_group = entry.group
                bucket[entry.plain()] += 1
        elif entry.kind == "done":
            if scenario.plan(entry.step).rollback:
                stack.append(entry)
        elif entry.kind == "failed":
            owed = entry.group
    close_bucket()
    if rollbacks:
        close_pass()
    elif owed is not False or failed:
        assert not stack, f"{where}: the run ended with {_show(stack)} not undone"
    return view


def _show(stack: Sequence[Call]) -> str:
    return "[" + ", ".join(f"{call.step}->{call.detail}" for call in stack) + "]"


def history_timeline(history: Sequence[Event], since: int = 0) -> list[Call]:
    """A run's timeline as its event log tells it (attempt arguments and errors are not logged).

    Only events from ``history[since]`` on make entries.
    """
    timeline: list[Call] = []
    outputs: dict[str, Any] = {}
    for index, event in enumerate(history):
        key = event.key
        payload = event.payload
        step = getattr(payload, "step", "").rpartition(".")[2]
        if key is None or not step:
            continue
        if event.type == "step_completed":
            outputs[key] = payload.output  # type: ignore[union-attr]
        if index < since:
            continue
        if event.type == "step_started":
            timeline.append(Call("step", step, None, payload.attempt, key, group_of(key)))  # type: ignore[union-attr]
        elif event.type == "step_completed":
            timeline.append(Call("done", step, None, outputs[key], key, group_of(key)))
        elif event.type == "step_failed":
            timeline.append(Call("failed", step, None, payload.attempt, key, group_of(key)))  # type: ignore[union-attr]
        elif event.type in ("rollback_completed", "rollback_failed"):
            timeline.append(Call("rollback", step, outputs[key], None, key))
    return timeline
