"""``--format sarif``: SARIF 2.1.0, as GitHub code scanning ingests it.

One run; ``tool.driver.rules`` lists only the rules that fired (sorted by code,
each with its help text), results point at them by ``ruleId`` and
``ruleIndex``; regions are 1-based with ``endColumn`` just past the end (the
SARIF convention, counted in code points); artifact URIs are posix paths
relative to ``%SRCROOT%`` (the working directory). ``partialFingerprints``
hash the code, path and message (not the line), so a finding keeps its identity
when code above it moves. Relative URIs are percent-encoded as absolute ones
are; the document is inert JSON (:func:`~vrb_compile.terminal.inert_json`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..diagnostics import Diagnostic, Severity
from ..rules.base import RuleInfo
from ..terminal import inert_json

__all__ = ["INFORMATION_URI", "SARIF_SCHEMA", "render_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/vrb-workflows/vrb-workflows"
_FINGERPRINT_KEY = "vrbFindingHash/v1"
_SRCROOT = "%SRCROOT%"


def _family_tag(code: str) -> str:
    if code == "VRB001":
        return "syntax"
    return {"1": "determinism", "2": "unsupported-construct", "3": "graph"}.get(
        code[3:4], "correctness"
    )


def _rule_descriptor(code: str, rule: RuleInfo | None, sample: Diagnostic) -> dict[str, Any]:
    if rule is None:
        # A code the catalogue does not describe (should not happen): still a valid descriptor.
        name, summary, rationale, hint = code.lower(), sample.message, sample.message, sample.hint
        level = "error" if sample.severity is Severity.ERROR else "warning"
        bad = good = ""
    else:
        name, summary, rationale, hint = rule.name, rule.summary, rule.rationale, rule.hint
        level = "error" if rule.severity is Severity.ERROR else "warning"
        bad, good = rule.bad, rule.good
    markdown = f"**{code}** ({name}): {summary}\n\n{rationale}\n\n**Instead:** {hint}"
    if bad:
        markdown += f"\n\nRejected:\n\n```python\n{bad.rstrip()}\n```"
    if good:
        markdown += f"\n\nAccepted:\n\n```python\n{good.rstrip()}\n```"
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": rationale or summary},
        "help": {"text": hint or summary, "markdown": markdown},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": ["vrb-compile", _family_tag(code)]},
    }


def _artifact_location(path: str) -> dict[str, str]:
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute() or Path(path).is_absolute():
        # Outside the working directory: an absolute file URI, no base id.
        return {"uri": Path(path).as_uri()}
    # A URI reference: a space, '#', '%' or a control character in a file name is escaped.
    return {"uri": quote(_utf8(posix), safe="/"), "uriBaseId": _SRCROOT}


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8; a file name's undecodable bytes (surrogate escapes) as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no file system produced
        return text.encode("utf-8", "surrogatepass")


def _fingerprint(diagnostic: Diagnostic, occurrence: int) -> str:
    text = "\0".join((diagnostic.code, diagnostic.path, diagnostic.message, str(occurrence)))
    return hashlib.sha256(_utf8(text)).hexdigest()[:32]


def _region(diagnostic: Diagnostic) -> dict[str, int]:
    line, column = max(diagnostic.line, 1), max(diagnostic.column, 1)
    end_line = max(diagnostic.end_line, line)
    end_column = diagnostic.end_column
    if end_line == line:
        end_column = max(end_column, column + 1)
    return {
        "startLine": line,
        "startColumn": column,
        "endLine": end_line,
        "endColumn": max(end_column, 1),
    }


def render_sarif(
    diagnostics: Sequence[Diagnostic],
    *,
    rules: Mapping[str, RuleInfo],
    version: str,
    srcroot: Path,
) -> str:
    """Render diagnostics as a SARIF 2.1.0 log for GitHub code scanning.

    Args:
        diagnostics: The findings, already in report order.
        rules: The rule catalogue by code (descriptors come from it).
        version: The version of vrb-compile, for ``tool.driver.version``.
        srcroot: The directory relative URIs are relative to (the working directory).

    Returns:
        The SARIF document as indented JSON, ending in a newline.
    """
    fired = sorted({d.code for d in diagnostics})
    samples = {d.code: d for d in reversed(diagnostics)}
    index = {code: position for position, code in enumerate(fired)}
    seen: dict[tuple[str, str, str], int] = {}
    results: list[dict[str, Any]] = []
    for diagnostic in diagnostics:
        identity = (diagnostic.code, diagnostic.path, diagnostic.message)
        occurrence = seen.get(identity, 0)
        seen[identity] = occurrence + 1
        text = diagnostic.message
        if diagnostic.chain:
            # SARIF viewers show only the message: the chain says how the body reaches it.
            text = f"{text} (via {' -> '.join(diagnostic.chain)})"
        if diagnostic.hint:
            text = f"{text} Hint: {diagnostic.hint}"
        result: dict[str, Any] = {
            "ruleId": diagnostic.code,
            "ruleIndex": index[diagnostic.code],
            "level": "error" if diagnostic.severity is Severity.ERROR else "warning",
            "message": {"text": text},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact_location(diagnostic.path),
                        "region": _region(diagnostic),
                    }
                }
            ],
            "partialFingerprints": {_FINGERPRINT_KEY: _fingerprint(diagnostic, occurrence)},
        }
        properties: dict[str, Any] = {}
        if diagnostic.workflow is not None:
            properties["workflow"] = diagnostic.workflow
        if diagnostic.chain:
            properties["chain"] = list(diagnostic.chain)
        if properties:
            result["properties"] = properties
        results.append(result)
    root_uri = srcroot.resolve().as_uri()
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "vrb-compile",
                        "version": version,
                        "semanticVersion": version,
                        "informationUri": INFORMATION_URI,
                        "rules": [
                            _rule_descriptor(code, rules.get(code), samples[code]) for code in fired
                        ],
                    }
                },
                "originalUriBaseIds": {
                    _SRCROOT: {"uri": root_uri if root_uri.endswith("/") else root_uri + "/"}
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return inert_json(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
