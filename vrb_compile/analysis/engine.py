"""The checker's engine: walks workflow bodies and the helpers they call.

Only workflow bodies, the helpers reached from them (called, or passed as a
value such as ``sorted(xs, key=helper)``; transitively, cycles cut, once per
distinct context: see :meth:`Analyser.memo_key`) and signal-waiting step
bodies are walked; everything else in a file is left alone. Findings in a helper are reported at the offending line
inside the helper, with the call chain from the workflow body. The analyser's
other responsibilities live in :mod:`.base`, :mod:`.calls` and :mod:`.walk`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import libcst as cst

from ..diagnostics import Diagnostic
from ..discover import (
    ModuleSummary,
    ProjectIndex,
    StepDef,
    WorkflowDef,
    cst_dotted,
)
from ..limits import LIMIT_HINT, MAX_HELPER_DEPTH, too_deep
from ..rules.registry import RULES
from ..source import SourceFile, SyntaxProblem
from .base import FileAnalysis, Frame, short, syntax_diagnostic
from .calls import PURE_MODULES
from .scope import build_scope, kids
from .walk import StatementWalker

__all__ = ["PURE_MODULES", "FileAnalysis", "analyse_file"]


class Analyser(StatementWalker):
    """Checks the workflows (and signal-waiting steps) of one file."""

    def workflow_body(self, wf: WorkflowDef, summary: ModuleSummary, source: SourceFile) -> None:
        self.workflow = wf
        tree = source.tree
        if tree is None:
            return
        body_source, qual = source, wf.function
        if wf.style == "functional" and wf.function:
            target = self.project.function_target(wf.module, wf.function)
            if target is not None and target[0] in self.by_module:
                body_source, qual = self.by_module[target[0]], target[1]
        fn = body_source.find_function(qual) if qual else None
        if fn is None:
            rule = RULES["VRB212"]
            line, col, end_line, end_col = wf.span
            what = (
                "a lambda"
                if not wf.function
                else f"{wf.function!r}, which is not a function defined in the analysed sources"
            )
            self.result.diagnostics.append(
                Diagnostic(
                    "VRB212",
                    rule.severity,
                    f"the body of workflow {wf.name!r} is {what}",
                    source.display_path,
                    line,
                    col,
                    end_line,
                    end_col,
                    wf.name,
                    rule.hint,
                )
            )
            return
        if body_source is not self.origin:
            self.result.deps[body_source.display_path] = body_source.sha256
        top = self._top(body_source, fn)
        frame = Frame(
            body_source,
            fn,
            top,
            build_scope(
                fn, skip_first=wf.style == "class", global_sets=self.global_sets(body_source)
            ),
            (fn.name.value,),
            wf.class_name,
        )
        params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        if wf.style == "class":
            params = params[1:]
        if params:
            frame.scope.ctx_names.add(params[0])
        if fn.asynchronous is None:
            self.report(
                frame,
                fn.name,
                "VRB212",
                f"the body of workflow {wf.name!r} ({fn.name.value}) is a plain def, not an async def",
            )
        self.seen_helpers.add(
            self.memo_key(body_source, qual, frozenset(frame.scope.ctx_names), sync=False)
        )
        self.block(frame, fn.body)

    @staticmethod
    def _top(source: SourceFile, fn: cst.FunctionDef) -> cst.CSTNode:
        for found, top in source.functions.values():
            if found is fn:
                return top
        return fn

    def memo_key(
        self, source: SourceFile, qualname: str, ctx_params: frozenset[str], *, sync: bool
    ) -> tuple[str, str, frozenset[str], bool, bool]:
        """What a helper's findings depend on besides its own code.

        Which parameters receive the ctx (``c.frobnicate()`` is VRB215 only
        when ``c`` is the ctx), whether it is checked as lowered code or as code
        run by something else, and whether the workflow has a ``max_events``
        breaker (VRB305). A helper is walked once per distinct key, so what it
        reports does not depend on the order of the calls reaching it; a
        finding reached twice is reported once (see :meth:`report`).
        """
        breaker = self.workflow is not None and (
            self.project.workflow_options(self.workflow).has_breaker
        )
        return (source.display_path, qualname, ctx_params, sync, breaker)

    def follow(
        self, frame: Frame, call: cst.Call | None, qualname: str, source: SourceFile
    ) -> None:
        fn = source.find_function(qualname)
        if fn is None:
            return
        if len(frame.chain) > MAX_HELPER_DEPTH:
            # Not followed, so not proven: refused (a chain of 2,000 helpers would
            # otherwise exhaust the stack, and no real workflow nests helpers so deep).
            self.report(
                frame,
                call if call is not None else frame.fn.name,
                "VRB111",
                f"{fn.name.value}() would be helper {len(frame.chain)} of a chain of calls from "
                f"the workflow body; the compiler follows at most {MAX_HELPER_DEPTH}, so it "
                "cannot prove the chain deterministic",
                f"call it from fewer levels of helpers (at most {MAX_HELPER_DEPTH}), or make "
                "the deep work a step",
            )
            return
        is_method = "." in qualname
        params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
        if is_method:
            params = params[1:]
        ctx_params: set[str] = set()
        for i, arg in enumerate(call.args if call is not None else ()):
            if isinstance(arg.value, cst.Name) and arg.value.value in frame.scope.ctx_names:
                if arg.keyword is not None:
                    ctx_params.add(arg.keyword.value)
                elif i < len(params):
                    ctx_params.add(params[i])
        # a function passed as a value is run by whatever receives it, not lowered
        sync = call is None or fn.asynchronous is None
        key = self.memo_key(source, qualname, frozenset(ctx_params), sync=sync)
        if key in self.seen_helpers:
            return
        self.seen_helpers.add(key)
        if source is not self.origin:
            self.result.deps[source.display_path] = source.sha256
        scope = build_scope(fn, skip_first=is_method, global_sets=self.global_sets(source))
        scope.ctx_names |= ctx_params
        helper = Frame(
            source,
            fn,
            self._top(source, fn),
            scope,
            (*frame.chain, fn.name.value),
            qualname.split(".")[0] if is_method else None,
            sync=sync,
        )
        self.block(helper, fn.body)

    def signal_step(self, step: StepDef, source: SourceFile) -> None:
        fn = source.find_function(step.function) if step.function else None
        if fn is None:
            return
        params = [*fn.params.posonly_params, *fn.params.params]
        if "." in step.function:
            params = params[1:]
        if not params or params[0].annotation is None:
            return
        ann = cst_dotted(params[0].annotation.annotation) or ""
        if isinstance(params[0].annotation.annotation, cst.SimpleString):
            ann = params[0].annotation.annotation.value.strip("'\"")
        if ann.split(".")[-1] != "StepContext":
            return
        ctx_name = params[0].name.value
        scope = build_scope(fn, global_sets=self.global_sets(source))
        frame = Frame(source, fn, self._top(source, fn), scope, (fn.name.value,), None)
        effect: cst.Call | None = None
        for node in _calls_in_order(fn.body):
            dotted = cst_dotted(node.func)
            if dotted == f"{ctx_name}.wait_for_signal":
                if effect is not None:
                    self.report(
                        frame,
                        node,
                        "VRB304",
                        f"step {step.name!r} waits for a signal after calling {short(frame, effect.func)}(), "
                        "which runs again on every retry",
                    )
                return
            if effect is None and not self._obviously_pure(frame, node, dotted, ctx_name):
                effect = node

    def _obviously_pure(
        self, frame: Frame, call: cst.Call, dotted: str | None, ctx_name: str
    ) -> bool:
        if dotted is None:
            return True
        head = dotted.split(".")[0]
        if head == ctx_name or (head in frame.scope.names and self.alias_of(frame, head) is None):
            return True
        targets = self._targets(frame, dotted)
        if any(self.match(t.qname, True, len(call.args)) for t in targets):
            return False
        return all(t.kind in ("builtin", "class") for t in targets) or (
            bool(targets) and all(t.kind == "external" for t in targets) and self.is_known(targets)
        )


def _calls_in_order(node: cst.CSTNode) -> list[cst.Call]:
    out: list[cst.Call] = []

    def visit(current: cst.CSTNode) -> None:
        if isinstance(current, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return
        for child in kids(current):
            visit(child)
        if isinstance(current, cst.Call):
            out.append(current)

    for child in kids(node):
        visit(child)
    return out


def analyse_file(
    source: SourceFile,
    project: ProjectIndex,
    sources: Mapping[str, SourceFile],
    pure: Sequence[str] = (),
) -> FileAnalysis:
    """Check one file's workflow bodies (and the helpers they reach) and signal-waiting steps.

    Args:
        source: The file.
        project: The index of every analysed file.
        sources: Every analysed file by display path (helpers are followed into them).
        pure: Qualified-name globs treated as deterministic.
    """
    result = FileAnalysis()
    if source.syntax_error is not None:
        result.diagnostics.append(syntax_diagnostic(source, source.syntax_error))
        return result
    summary = next(
        (s for s in project.all_summaries if s.display_path == source.display_path), None
    )
    if summary is None:
        return result
    if summary.syntax_error is not None:  # summarising it ran out of stack
        result.diagnostics.append(syntax_diagnostic(source, summary.syntax_error))
        return result
    if source.tree is None:
        problem = source.cst_syntax_error
        if problem is not None:
            result.diagnostics.append(syntax_diagnostic(source, problem))
        return result
    analyser = Analyser(project, sources, pure, result, source)
    try:
        for wf in summary.workflows:
            analyser.workflow_body(wf, summary, source)
        analyser.workflow = None
        if summary.waits_for_signals:
            for step in summary.steps:
                analyser.signal_step(step, source)
    except RecursionError:
        # Below the limits of .limits, yet too deep from this stack: refused, never passed.
        problem = SyntaxProblem(too_deep(stack=True), 1, 1, LIMIT_HINT)
        return FileAnalysis([syntax_diagnostic(source, problem)], dict(result.deps))
    return result
