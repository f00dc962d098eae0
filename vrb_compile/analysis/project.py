"""Checks over the whole project index: VRB301, VRB302, VRB303, VRB307."""

from __future__ import annotations

from ..diagnostics import Diagnostic
from ..discover import FuncSig, ProjectIndex, Span
from ..rules.registry import RULES

__all__ = ["option_diagnostics", "project_diagnostics"]


def _diag(
    code: str, message: str, path: str, span: Span, workflow: str | None = None
) -> Diagnostic:
    rule = RULES[code]
    line, col, end_line, end_col = span
    return Diagnostic(
        code, rule.severity, message, path, line, col, end_line, end_col, workflow, rule.hint
    )


def option_diagnostics(project: ProjectIndex) -> list[Diagnostic]:
    """VRB307: every option the compiler could not evaluate, or whose value the runtime refuses."""
    rule = RULES["VRB307"]
    out: list[Diagnostic] = []
    for problem in project.option_problems:
        line, col, end_line, end_col = problem.span
        out.append(
            Diagnostic(
                "VRB307",
                rule.severity,
                problem.message,
                problem.path,
                line,
                col,
                end_line,
                end_col,
                problem.workflow,
                problem.hint,
            )
        )
    return out


def _rollback_ok(sig: FuncSig, *, method: bool) -> bool:
    positional = len(sig.params) - (1 if method else 0)
    required = sig.required - (1 if method else 0)
    if sig.required_kwonly:
        return False
    if sig.varargs:
        return required <= 2
    return required <= 2 <= positional


def project_diagnostics(project: ProjectIndex) -> list[Diagnostic]:
    """Duplicate step/workflow names and rollback signatures, across every file."""
    out: list[Diagnostic] = []
    steps: dict[str, tuple[str, int]] = {}
    workflows: dict[str, tuple[str, int]] = {}
    for summary in project.all_summaries:
        path = summary.display_path
        for step in summary.steps:
            first = steps.setdefault(step.name, (path, step.span[0]))
            if first != (path, step.span[0]):
                out.append(
                    _diag(
                        "VRB301",
                        f"step name {step.name!r} is already used by the step at {first[0]}:{first[1]}",
                        path,
                        step.span,
                    )
                )
            sig: FuncSig | None = step.rollback_sig
            method = False
            if step.rollback and step.rollback not in ("<lambda>", "<expression>"):
                target = project.function_target(step.module, step.rollback)
                if target is not None:
                    owner = project.summaries.get(target[0])
                    sig = owner.functions.get(target[1]) if owner else None
                    method = "." in target[1]
            if (
                sig is not None
                and step.rollback_span is not None
                and not _rollback_ok(sig, method=method)
            ):
                params = ", ".join(sig.params[1:] if method else sig.params) or "no parameters"
                out.append(
                    _diag(
                        "VRB303",
                        f"rollback_fn of step {step.name!r} takes ({params}); it is called as rollback(error, output)",
                        path,
                        step.rollback_span,
                    )
                )
        for wf in summary.workflows:
            first = workflows.setdefault(wf.name, (path, wf.span[0]))
            if first != (path, wf.span[0]):
                out.append(
                    _diag(
                        "VRB302",
                        f"workflow name {wf.name!r} is already used by the workflow at {first[0]}:{first[1]}",
                        path,
                        wf.span,
                        wf.name,
                    )
                )
    return out
