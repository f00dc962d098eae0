"""Turning stored event rows back into events, shared by every backend."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..events import Event, parse_events

__all__ = ["decode_events"]

EventRow = tuple[int, str, str | None, str, str]
"""``(seq, type, key, payload_json, at_iso)`` as a backend stores an event."""


def decode_events(rows: Iterable[EventRow]) -> list[Event]:
    """Validate stored rows into events through one JSON document (pydantic's fast path)."""
    parts = [
        f'{{"seq":{seq},"type":"{type_}","key":{"null" if key is None else json.dumps(key)},'
        f'"payload":{payload},"at":"{at}"}}'
        for seq, type_, key, payload, at in rows
    ]
    return parse_events("[" + ",".join(parts) + "]")
