"""VRB103: identifiers that differ between runs (uuid1/uuid4, id(), hash() of str/bytes)."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB103"

VALID = [
    Valid("ctx-uuid4", wf("    return str(ctx.uuid4())\n")),
    Valid("uuid5", wf("    return uuid.uuid5(uuid.NAMESPACE_URL, order['id'])\n", "import uuid\n")),
    Valid("uuid-parse", wf("    return uuid.UUID(order['id']).hex\n", "import uuid\n")),
    Valid(
        "content-hash",
        wf("    return hashlib.sha256(order['id'].encode()).hexdigest()\n", "import hashlib\n"),
    ),
    Valid("hash-of-int-literal", wf("    return hash(42)\n")),
    Valid("hash-of-int-tuple", wf("    return hash((1, 2, -3))\n")),
    Valid("hash-of-len", wf("    return hash(len(order))\n")),
    Valid("local-named-id", wf("    id = order['id']\n    return id\n")),
    Valid("suppressed", wf("    return id(order)  # vrb: ignore[VRB103]\n")),
]

INVALID = [
    Invalid("uuid4", CODE, wf("    return uuid.uuid4()  # !\n", "import uuid\n")),
    Invalid(
        "uuid1-alias", CODE, wf("    return new_id()  # !\n", "from uuid import uuid1 as new_id\n")
    ),
    Invalid("id", CODE, wf("    return id(order)  # !\n")),
    Invalid(
        "alias-reported-at-the-call-only",
        CODE,
        wf("    fn = mkid\n    return fn()  # !\n", "from uuid import uuid4 as mkid\n"),
    ),
    Invalid("hash-of-str", CODE, wf("    return hash(order['id'])  # !\n")),
    Invalid("hash-of-str-literal", CODE, wf("    return hash('abc')  # !\n")),
    Invalid("hash-of-mixed-tuple", CODE, wf("    return hash((1, 'a'))  # !\n")),
    Invalid("hash-reference", CODE, wf("    return sorted(order, key=hash)  # !\n")),
    Invalid(
        "helper",
        CODE,
        wf(
            "    return key(order)\n",
            "import uuid\n",
            extra="def key(o):\n    return f\"{o['id']}-{uuid.uuid4()}\"  # !\n\n\n",
        ),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, [CODE])


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostic(check_files: CheckFiles) -> None:
    [diag] = only(check_files({"mod.py": wf("    return hash(order['id'])\n")}), CODE)
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (11, 12, 11, 29)
    assert diag.message == (
        "hash() depends on the process (memory address or per-process hash seed); "
        "a replay would see another value"
    )
    assert diag.hint.startswith("use ctx.uuid4() for identifiers")
