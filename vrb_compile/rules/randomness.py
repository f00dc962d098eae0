"""VRB102: randomness outside the ctx API."""

from __future__ import annotations

from ..diagnostics import Severity
from .base import RuleInfo, workflow_module
from .calls import CallTable

__all__ = ["RULES", "TABLE"]

TABLE = CallTable(
    code="VRB102",
    reason=lambda q: "draws random values; a replay would draw different ones",
    hint="use ctx.random() (seeded from the run), or draw the value inside a step",
    prefixes=("random", "secrets", "numpy.random"),
    exact=frozenset({"os.urandom", "random.SystemRandom"}),
)

RULES = (
    RuleInfo(
        code="VRB102",
        name="randomness",
        severity=Severity.ERROR,
        summary="random values drawn in a workflow body",
        rationale="Random values differ on replay, so the replayed run diverges from its log.",
        hint=TABLE.hint,
        bad=workflow_module("    return random.random() < 0.5\n", "import random\n"),
        good=workflow_module("    return ctx.random() < 0.5\n"),
        valid=(workflow_module("    return ctx.random()\n"),),
        invalid=(
            workflow_module("    return random.choice(order['items'])\n", "import random\n"),
            workflow_module("    return token_hex(8)\n", "from secrets import token_hex\n"),
            workflow_module("    return os.urandom(8)\n", "import os\n"),
            workflow_module("    return np.random.rand()\n", "import numpy as np\n"),
        ),
    ),
)
