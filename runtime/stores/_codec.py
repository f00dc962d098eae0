"""Turning values and stored event rows into text and back, shared by every backend.

Every backend stores JSON text and reads it back with pydantic-core's parser, the
one :func:`runtime.events.ensure_json` checks values against: what it let in
always reads back, whatever ``sys.set_int_max_str_digits`` the process has set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic_core import from_json, to_json

from ..events import Event, parse_events

__all__ = ["decode_events", "decode_value", "encode_value"]

EventRow = tuple[int, str, str | None, str, str]
"""``(seq, type, key, payload_json, at_iso)`` as a backend stores an event."""


def encode_value(value: Any) -> str:
    """A value :func:`runtime.events.ensure_json` accepted, as stored JSON text."""
    return to_json(value).decode()


def decode_value(text: str) -> Any:
    """A value stored by :func:`encode_value` (or by ``json.dumps``, in older rows)."""
    return from_json(text)


def decode_events(rows: Iterable[EventRow]) -> list[Event]:
    """Validate stored rows into events through one JSON document (pydantic's fast path)."""
    parts = [
        f'{{"seq":{seq},"type":"{type_}","key":{"null" if key is None else json.dumps(key)},'
        f'"payload":{payload},"at":"{at}"}}'
        for seq, type_, key, payload, at in rows
    ]
    return parse_events("[" + ",".join(parts) + "]")
