"""Every public rule code, collected from the rule families."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..errors import UsageError
from . import (
    asyncio_api,
    concurrency,
    constructs,
    environment,
    filesystem,
    identifiers,
    loops,
    meta,
    network,
    project,
    randomness,
    state,
    wall_clock,
)
from .base import RuleInfo
from .calls import CallTable

__all__ = ["CALL_TABLES", "RULES", "get_rule"]

_FAMILIES = (
    meta,
    wall_clock,
    randomness,
    identifiers,
    environment,
    filesystem,
    network,
    concurrency,
    asyncio_api,
    state,
    constructs,
    project,
    loops,
)


def _collect() -> Mapping[str, RuleInfo]:
    found: dict[str, RuleInfo] = {}
    for family in _FAMILIES:
        for rule in family.RULES:
            assert rule.code not in found, f"duplicate rule code {rule.code}"
            found[rule.code] = rule
    return MappingProxyType(dict(sorted(found.items())))


#: Every rule, by code, sorted.
RULES: Mapping[str, RuleInfo] = _collect()

#: The qualified-name tables of VRB101-VRB108, in code order.
CALL_TABLES: tuple[CallTable, ...] = (
    wall_clock.TABLE,
    randomness.TABLE,
    identifiers.TABLE,
    environment.TABLE,
    filesystem.TABLE,
    network.TABLE,
    concurrency.TABLE,
    asyncio_api.TABLE,
    asyncio_api.BLOCKING_TABLE,
)


def get_rule(code: str) -> RuleInfo:
    """The rule ``code`` (case-insensitive).

    Raises:
        UsageError: No rule has that code.
    """
    rule = RULES.get(code.strip().upper())
    if rule is None:
        raise UsageError(f"unknown rule code {code!r}; `vrb-compile rules` lists them")
    return rule
