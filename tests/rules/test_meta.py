"""VRB001-VRB003: syntax errors and suppression comments."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf
from vrb_compile.api import CheckConfig, check_paths

CODES = ("VRB001", "VRB002", "VRB003")
CLOCK = "import time\n"

VALID = [
    Valid("clean", wf("    return order\n")),
    Valid("named-suppression", wf("    return time.time()  # vrb: ignore[VRB101]\n", CLOCK)),
    Valid(
        "two-codes", wf("    return time.time(), id(order)  # vrb: ignore[VRB101, VRB103]\n", CLOCK)
    ),
    Valid("case-insensitive", wf("    return time.time()  # VRB: Ignore[vrb101]\n", CLOCK)),
    Valid(
        "multi-line-statement",
        wf("    x = (  # vrb: ignore[VRB101]\n        time.time()\n    )\n    return x\n", CLOCK),
    ),
    Valid("comment-in-a-string", wf("    return '# vrb: ignore'\n")),
    Valid("python-2-print-in-a-string", "x = 'print \"a\"'\n"),
]

INVALID = [
    Invalid("syntax", "VRB001", "def broken(:  # !\n    pass\n"),
    Invalid("unclosed", "VRB001", "x = 1\nx = (1,  # !\n"),
    Invalid("bad-indent", "VRB001", "def f():\nreturn 1  # !\n"),
    Invalid("bare", "VRB002", wf("    return time.time()  # vrb: ignore  # !\n", CLOCK)),
    Invalid("bare-without-finding", "VRB002", wf("    return order  # vrb: ignore  # !\n")),
    Invalid("unknown-code", "VRB003", wf("    return order  # vrb: ignore[VRB999]  # !\n")),
    Invalid(
        "typo-among-codes",
        "VRB003",
        wf("    return time.time()  # vrb: ignore[VRB101, VRB10]  # !\n", CLOCK),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, CODES)


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_syntax_error_exact(check_files: CheckFiles) -> None:
    [diag] = check_files({"bad.py": "x = 1\ndef broken(:\n    pass\n"}).diagnostics
    assert (diag.code, diag.path, diag.line, diag.column, diag.end_line, diag.end_column) == (
        "VRB001",
        "bad.py",
        2,
        12,
        2,
        13,
    )
    assert diag.message == "syntax error: invalid syntax"
    assert diag.hint.startswith("fix the syntax error")


def test_file_that_is_not_utf8_is_a_syntax_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"x = 1\ny = '\xe9'\n")
    [diag] = check_paths([tmp_path], CheckConfig(jobs=1), cwd=tmp_path).diagnostics
    assert (diag.code, diag.line, diag.column) == ("VRB001", 2, 1)
    assert diag.message.startswith("syntax error: the file is not valid UTF-8")


def test_bare_suppression_hides_and_warns_exactly(check_files: CheckFiles) -> None:
    result = check_files({"m.py": wf("    return time.time()  # vrb: ignore\n", CLOCK)})
    [diag] = result.diagnostics
    assert (diag.code, diag.line, diag.column, diag.end_column) == ("VRB002", 12, 25, 38)
    assert diag.message == "`# vrb: ignore` without codes suppresses every finding on this line"
    assert (result.errors, result.warnings) == (0, 1)
    [diag] = only(check_files({"m.py": wf("    return 1  # vrb: ignore[VRB999]\n")}), "VRB003")
    assert diag.message == "`# vrb: ignore[VRB999]` names no known rule"


def test_coding_declaration_is_honoured(tmp_path: Path) -> None:
    # PEP 263: the bytes are latin-1, as the file declares; columns count characters
    source = wf('    x = "\xe9\xe9"; y = time.time()\n    return x, y\n', CLOCK)
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + source.encode("latin-1"))
    [diag] = check_paths([tmp_path], CheckConfig(jobs=1), cwd=tmp_path).diagnostics
    assert (diag.code, diag.line, diag.column, diag.end_column) == ("VRB101", 13, 19, 30)


def test_bytes_invalid_in_the_declared_encoding_are_a_syntax_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "ascii.py").write_bytes(b"# coding: ascii\nx = 1\ny = '\xe9'\n")
    (tmp_path / "unknown.py").write_bytes(b"# coding: no-such-codec\nx = 1\n")
    found = check_paths([tmp_path], CheckConfig(jobs=1), cwd=tmp_path).diagnostics
    assert [(d.path, d.code, d.line, d.message) for d in found] == [
        (
            "ascii.py",
            "VRB001",
            3,
            "syntax error: the file is not valid ascii (ordinal not in range(128))",
        ),
        ("unknown.py", "VRB001", 1, "syntax error: unknown encoding: no-such-codec"),
    ]
