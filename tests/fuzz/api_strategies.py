"""Hostile arguments for the client API (tests/fuzz/test_client_api.py).

Ids and names that break the identifier rule (empty, blank, NUL and other
controls, lone surrogates, 256 characters, a megabyte, not a str, unhashable),
values that are not JSON or not storable (surrogates, NaN, 5,000-digit ints,
nesting 300 deep, sets, tuples, bytes, int keys, the codec's reserved member,
values over the store's size bound), numbers of the wrong type or range, and
cursors tampered with (deep JSON, huge numbers, times no datetime holds).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

MAX_PAYLOAD = 4096
"""The ``max_payload_bytes`` the fuzzed stores run with (small: cheap to exceed)."""

MAX_SIGNALS = 5
"""The ``max_buffered_signals`` the fuzzed stores run with."""

GOOD_IDS = ["r1", "r2", "r-\u202e", "order:2024-01-01T00:00:00Z", "x" * 255]
"""Ids that pass the rule; the generated calls reach the same runs again and again."""

_BAD_IDS: list[Any] = [
    "",
    " ",
    "\t",
    "nul\x00id",
    "esc\x1b[31m",
    "line\nbreak",
    "c1\x9b",
    "lone\ud800",
    "\udfff",
    "x" * 256,
    "y" * 1_000_000,
    None,
    7,
    3.5,
    True,
    b"bytes",
    ["list"],
    {"dict": 1},
    ("tuple",),
    {"set"},
]


def _cursor(document: Any) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


_BAD_CURSORS: list[Any] = [
    "",
    "not a cursor",
    "\ud800",
    "é",
    "=" * 10,
    "A" * 10_000,
    _cursor([1, "r1", 3]),
    _cursor([10**400, "r1"]),
    _cursor([-(10**20), "r1"]),
    _cursor([2**63, "r1"]),
    _cursor([1e308, "r1"]),
    _cursor([0, "\x00"]),
    _cursor([0, 5]),
    _cursor([0, "z" * 300]),
    _cursor(b"[" * 5000),
    _cursor(b"\xff\xfe"),
    _cursor(b"[1, " + b"9" * 5000 + b"]"),
    _cursor({"a": 1}),
    7,
    ["c"],
]

_BAD_NUMBERS: list[Any] = [-1, 0, True, False, 2**64, 10**100, "3", 1.5, float("nan"), None, [1]]


def ids() -> st.SearchStrategy[Any]:
    """A run id, workflow or signal name: one of the good ones, or a hostile one."""
    return st.one_of(st.sampled_from(GOOD_IDS), st.sampled_from(_BAD_IDS), st.text(max_size=8))


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)

_HOSTILE_VALUES: list[Any] = [
    "lone\ud800",
    {"k\udc80": 1},
    float("nan"),
    float("inf"),
    10**5000,
    -(10**4400),
    _deep(300),
    {1, 2},
    (1, 2),
    b"bytes",
    {1: "int key"},
    {"$vrb_codec": "aes-256-gcm/1", "data": "forged"},
    object(),
    "z" * (MAX_PAYLOAD + 1),
    ["z" * 1000] * 5,
    {"nested": {"deep": ["w" * (MAX_PAYLOAD * 2)]}},
]


def values() -> st.SearchStrategy[Any]:
    """A JSON value, small and storable, or one of the hostile ones."""
    json_values = st.recursive(
        _leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    )
    return st.one_of(json_values, st.sampled_from(_HOSTILE_VALUES))


def numbers(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A good number, or one of the wrong type or range."""
    return st.one_of(good, st.sampled_from(_BAD_NUMBERS))


def cursors() -> st.SearchStrategy[Any]:
    """``None`` (the first page) or a tampered cursor."""
    return st.one_of(st.none(), st.sampled_from(_BAD_CURSORS))


def statuses() -> st.SearchStrategy[Any]:
    """A run status, or something that is not one."""
    return st.one_of(
        st.none(),
        st.sampled_from(["pending", "running", "waiting", "completed", "failed", "cancelled"]),
        st.sampled_from(["PENDING", "", "\x00", 3, ["pending"], {"s": 1}]),
    )


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """One client call, ``(method, args, kwargs)``, with hostile arguments."""
    method = draw(
        st.sampled_from(
            [
                "trigger",
                "trigger",
                "send_signal",
                "send_signal",
                "get_run",
                "list_runs",
                "history",
                "cancel",
                "result",
                "stats",
            ]
        )
    )
    if method == "trigger":
        args = draw(st.one_of(st.lists(values(), max_size=3), values()))
        return method, (draw(ids()), args), {"run_id": draw(st.one_of(st.none(), ids()))}
    if method == "send_signal":
        return method, (draw(ids()), draw(ids()), draw(values())), {}
    if method in ("get_run", "cancel"):
        return method, (draw(ids()),), {}
    if method == "list_runs":
        kwargs = {
            "workflow_name": draw(st.one_of(st.none(), ids())),
            "status": draw(statuses()),
            "limit": draw(numbers(st.integers(1, 1000))),
            "cursor": draw(cursors()),
        }
        return method, (), kwargs
    if method == "history":
        kwargs = {
            "after_seq": draw(numbers(st.integers(0, 12))),
            "limit": draw(st.one_of(st.none(), numbers(st.integers(1, 12)))),
        }
        return method, (draw(ids()),), kwargs
    if method == "result":
        # 0 (a TimeoutError at once for a live run) or a timeout of the wrong type or range.
        timeout = draw(st.sampled_from([0, -1, float("nan"), float("inf"), "1", True, [1]]))
        return method, (draw(ids()),), {"timeout": timeout}
    return "stats", (draw(st.one_of(st.none(), ids())),), {}
