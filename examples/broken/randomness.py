"""A retry jitter or an A/B split drawn with ``random`` in a workflow body takes
another branch on replay than the one the log recorded.

Expected diagnostic: VRB102 (randomness)
Corrected version: examples/payment_orchestration.py (its ``fallback_share``
split draws ``ctx.random()``, seeded from the run and identical on replay; or
decide in a step).
"""

from __future__ import annotations

import random
from typing import Any

from runtime import WorkflowContext, step, workflow


@step("broken-charge-primary")
async def charge_primary(payment: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "primary"}


@step("broken-charge-fallback")
async def charge_fallback(payment: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "fallback"}


@workflow("broken-payment-split")
async def payment_split(ctx: WorkflowContext, payment: dict[str, Any]) -> dict[str, Any]:
    if random.random() < 0.5:
        return await charge_primary(payment)
    return await charge_fallback(payment)
