"""Every rule's own examples, generated from the registry (Fixit style)."""

from __future__ import annotations

import pytest

from tests.conftest import CheckFiles
from vrb_compile.errors import UsageError
from vrb_compile.rules.registry import RULES, get_rule

VALID = [(code, i, s) for code, r in RULES.items() for i, s in enumerate(r.valid)]
INVALID = [(code, i, s) for code, r in RULES.items() for i, s in enumerate(r.invalid)]


@pytest.mark.parametrize(
    ("code", "index", "snippet"), VALID, ids=[f"{c}-valid-{i}" for c, i, _ in VALID]
)
def test_valid_example_gives_no_diagnostic_of_its_code(
    check_files: CheckFiles, code: str, index: int, snippet: str
) -> None:
    result = check_files({"mod.py": snippet})
    assert [d for d in result.diagnostics if d.code == code] == []


@pytest.mark.parametrize(
    ("code", "index", "snippet"), INVALID, ids=[f"{c}-invalid-{i}" for c, i, _ in INVALID]
)
def test_invalid_example_gives_its_code(
    check_files: CheckFiles, code: str, index: int, snippet: str
) -> None:
    result = check_files({"mod.py": snippet})
    assert code in {d.code for d in result.diagnostics}


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_documents_itself(code: str) -> None:
    rule = RULES[code]
    assert rule.code == code
    assert rule.summary
    assert rule.rationale
    assert rule.hint
    assert rule.invalid, "a rule without invalid examples is untested"


def test_bad_example_triggers_and_good_example_does_not(check_files: CheckFiles) -> None:
    for code, rule in RULES.items():
        if code in ("VRB003",):
            continue
        bad = {
            d.code
            for d in check_files({f"bad_{code}.py": rule.bad}).diagnostics
            if d.path == f"bad_{code}.py"
        }
        assert code in bad, code


def test_get_rule_rejects_unknown_code() -> None:
    assert get_rule("vrb101").code == "VRB101"
    with pytest.raises(UsageError, match="unknown rule code 'VRB999'"):
        get_rule("VRB999")
