"""VRB103: identifiers that differ between runs (uuid1/uuid4, id(), hash())."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["RULES", "TABLE"]

TABLE = CallTable(
    code="VRB103",
    reason=lambda q: (
        "depends on the process (memory address or per-process hash seed); a replay would see another value"
        if q in ("id", "hash")
        else "generates a new identifier on every call; a replay would see another one"
    ),
    hint="use ctx.uuid4() for identifiers, uuid.uuid5(namespace, name) for derived ones, "
    "hashlib for content hashes",
    exact=frozenset({"uuid.uuid1", "uuid.uuid4", "builtins.id", "builtins.hash"}),
)

RULES = (
    RuleInfo(
        code="VRB103",
        name="process-identifiers",
        severity=Severity.ERROR,
        summary="random or per-process identifier in a workflow body",
        rationale="uuid1/uuid4 are new on every call, id() is a memory address and hash() of "
        "str/bytes is salted per process: none survives a replay.",
        hint=TABLE.hint,
        bad=workflow_module("    return str(uuid.uuid4())\n", "import uuid\n"),
        good=workflow_module("    return str(ctx.uuid4())\n"),
        valid=(
            workflow_module(
                "    return uuid.uuid5(uuid.NAMESPACE_URL, order['id'])\n", "import uuid\n"
            ),
            workflow_module("    return uuid.UUID(order['id'])\n", "import uuid\n"),
        ),
        invalid=(
            workflow_module("    return uuid4()\n", "from uuid import uuid4\n"),
            workflow_module("    return id(order)\n"),
            workflow_module("    return hash(order['id'])\n"),
        ),
    ),
)
