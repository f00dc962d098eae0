"""Hostile graph files: real built graphs, mutated as a corrupted or tampered build would be.

The bases are the graph of tests/integrity/flows.py (every node kind and every
Python-source field; its steps are registered in this process, so its mutants
can run) and the golden graphs of the examples (tests/golden). A mutant is a
list of :class:`Op`, each a JSON edit: delete, duplicate or swap nodes and
edges, retarget or re-kind edges, give a node another kind, set any value of the
file (a field, a list item, a nested argument) to another: random text,
Python snippets of every kind (expressions, statements, targets, broken and
pathologically deep ones), other JSON types, other node ids. Text edits (a lone
surrogate, bytes that are not UTF-8, JSON nested 100,000 deep, an integer of
5,000 digits, truncation) act on the serialised file.

:func:`with_hash` recomputes the content hash as an attacker with write access
would (``compute_hash`` is public), so the mutant reaches every check behind it.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from vrb_compile.ir.models import Graph, compute_hash

__all__ = [
    "FLOW",
    "GOLDEN",
    "Op",
    "base_graph",
    "golden_graphs",
    "mutants",
    "text_edits",
    "with_hash",
]

Data = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
FLOW = "integrity-flow"
FLOWS_FILE = ROOT / "tests" / "integrity" / "flows.py"
GOLDEN = ROOT / "tests" / "golden"

EXPRESSIONS = (
    "0", "1", "-1", "None", "True", "n", "total", "n + 1", "(1, 2)", "[1, 2]", "{}",
    "'s'", "b'b'", "range(3)", "range(0)", "1 / 0", "ctx", "x", "lambda: 0", "[]",
    "[v for v in range(2)]", "not n", "f(*a, **k)", "len", "ValueError", "KeyError",
    "ValueError('fuzz')", "{'a': 1}", "'integrity-go'", "0.0", "'5s'", "-5", "object()",
    "(yield)", "await n", "x := 1", "lambda: (yield)", "*n", "**n", "n if n else 0",
)  # fmt: skip
STATEMENTS = (
    "pass", "x = 1", "total = 0", "n = n + 1", "return 1", "yield 1", "await n",
    "break", "continue", "del x", "global x", "nonlocal x", "raise", "x += 1",
    "a, b = 1", "def f(): pass", "class C: pass", "if n:\n    pass", "for i in []: pass",
    "async def f(): pass", "x: int = 1", "import os", "try:\n    pass\nfinally:\n    pass",
    "total = total + 1\ngot = None", "assert False", "raise ValueError('fuzz')",
)  # fmt: skip
TARGETS = (
    "x", "total", "a, b", "[a, *b]", "x[0]", "x.y", "*x", "1", "f()", "x + 1", "(a)", "()",
    "x = y", "x; y", "x\ny", "a, *b, *c", "None", "class", "x #", "_vrb_value", "ctx",
    "first, second", "got", "i, item", "n",
)  # fmt: skip
BROKEN = (
    "", " ", "\x00", "(", ")", "1 +", "'unterminated", "\tx", "  x = 1", "x\x00y", "\\",
    "if", "lambda", "def", "x = = 1", "\r", "\u2028", "\ufeffx",
)  # fmt: skip


@cache
def _deep_sources() -> tuple[str, ...]:
    return (
        "(" * 300 + "1" + ")" * 300,
        "[" * 150 + "]" * 150,
        "-" * 10_000 + "1",
        "not " * 5_000 + "n",
        "1" + " + 1" * 1_000,
        "n" + ".f()" * 5_000,
        "n" + ".b" * 20_000,
        "1 if n else " * 2_000 + "0",
        "x = 1\n" * 20_000,
    )


@cache
def base_graph() -> Data:
    """The built graph of tests/integrity/flows.py, as JSON data, made quick to run.

    Its sleep lasts 0 s and its ``max_events`` is 60, so a mutant whose loop never
    ends trips the breaker after a bounded amount of work.
    """
    from vrb_compile.build import compile_paths

    result = compile_paths([FLOWS_FILE], cwd=ROOT)
    (graph,) = [g for g in result.graphs if g.workflow.name == FLOW]
    data: Data = json.loads(graph.to_json())
    for node in data["nodes"]:
        if node["kind"] == "sleep":
            node["duration"] = "0"
    data["workflow"]["max_events"] = 60
    return with_hash(data)[0]


@cache
def golden_graphs() -> tuple[Data, ...]:
    """The golden graphs the compiler writes for the examples."""
    return tuple(json.loads(path.read_text()) for path in sorted(GOLDEN.glob("*.graph.json")))


def with_hash(data: Data) -> tuple[Data, bool]:
    """``data`` with its content hash recomputed, and whether the model accepted it to hash it."""
    try:
        graph = Graph.model_validate(data)
        data["hash"] = compute_hash(graph)
    except Exception:  # what the model refuses, the loader refuses too
        return data, False
    return data, True


def _locations(data: Any) -> Iterator[tuple[Any, Any]]:
    """``(container, key)`` of every value below ``data``, in a fixed order."""
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = [(value, key) for key in sorted(value)]
        elif isinstance(value, list):
            items = [(value, index) for index in range(len(value))]
        else:
            continue
        for container, key in items:
            yield container, key
            stack.append(container[key])


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)] if items else None


@dataclass(frozen=True)
class Op:
    """One edit of a graph's JSON data.

    Attributes:
        name: What the edit does (see :meth:`apply`).
        a: An index choosing what is edited (taken modulo the candidates).
        b: A second index.
        value: The value written, for the edits that write one.
    """

    name: str
    a: int = 0
    b: int = 0
    value: Any = None

    def apply(self, data: Data) -> None:
        nodes: list[Data] = data.get("nodes") or []
        edges: list[Data] = data.get("edges") or []
        ids = [node.get("id") for node in nodes if isinstance(node, dict)]
        if self.name == "delete_node" and nodes:
            gone = nodes.pop(self.a % len(nodes))
            if self.b % 2 and isinstance(gone, dict):
                edges[:] = [e for e in edges if gone.get("id") not in (e["source"], e["target"])]
        elif self.name == "duplicate_node" and nodes:
            twin = copy.deepcopy(nodes[self.a % len(nodes)])
            if self.value is not None:
                twin["id"] = self.value
            nodes.append(twin)
        elif self.name == "swap_ids" and len(nodes) > 1:
            first, second = nodes[self.a % len(nodes)], nodes[self.b % len(nodes)]
            first["id"], second["id"] = second["id"], first["id"]
        elif self.name == "take_kind" and len(nodes) > 1:
            # Node a becomes a node of node b's kind (b's fields), keeping its place.
            node, other = nodes[self.a % len(nodes)], nodes[self.b % len(nodes)]
            keep = {k: node[k] for k in ("id", "line", "end_line", "loops", "scope") if k in node}
            node.clear()
            node.update(copy.deepcopy(other), **keep)
        elif self.name == "delete_edge" and edges:
            edges.pop(self.a % len(edges))
        elif self.name == "duplicate_edge" and edges:
            edges.append(dict(edges[self.a % len(edges)]))
        elif self.name == "retarget_edge" and edges:
            edge = edges[self.a % len(edges)]
            edge["source" if self.b % 2 else "target"] = (
                self.value if self.value is not None else _pick(ids, self.b // 2)
            )
        elif self.name == "edge_kind" and edges:
            edges[self.a % len(edges)]["kind"] = self.value
        elif self.name == "add_edge" and ids:
            edges.append(
                {"source": _pick(ids, self.a), "target": _pick(ids, self.b), "kind": self.value}
            )
        elif self.name == "set":
            places = list(_locations(data))
            container, key = places[self.a % len(places)]
            container[key] = copy.deepcopy(self.value)
        elif self.name == "set_source":
            # A Python-source field gets another snippet (b picks it).
            places = [
                (c, k) for c, k in _locations(data) if k in _SOURCE_KEYS and isinstance(c, dict)
            ]
            if places:
                container, key = places[self.a % len(places)]
                snippets = _snippets()
                container[key] = snippets[self.b % len(snippets)]
        elif self.name == "set_source_of_kind":
            # A Python-source field gets a snippet of its own kind (an expression for
            # an expression ...): the mutant then loads more often, and runs.
            places = [
                (c, k)
                for c, k in _locations(data)
                if k in _SOURCE_KEYS
                and isinstance(c, dict)
                and ("line" in c or "expr" in c or "default" in c)  # a node, argument, param
            ]
            if places:
                container, key = places[self.a % len(places)]
                pool = (
                    STATEMENTS
                    if key == "code"
                    else TARGETS
                    if key in ("target", "item")
                    else EXPRESSIONS
                )
                container[key] = pool[self.b % len(pool)]
        elif self.name == "set_ref":
            # A field naming a node (scope, loops, of, handling, entry, an edge's end)
            # names another one, or none.
            places = [(c, k) for c, k in _locations(data) if k in _REF_KEYS and isinstance(c, dict)]
            if places and ids:
                container, key = places[self.a % len(places)]
                choice = _pick([*ids, None], self.b)
                if key == "loops":
                    container[key] = [] if choice is None else [choice]
                else:
                    container[key] = choice
        elif self.name == "set_like":
            # A value of the same JSON type as the one it replaces, so that the model
            # accepts it more often (b picks among the candidates of that type).
            places = [(c, k) for c, k in _locations(data) if not isinstance(c[k], dict)]
            container, key = places[self.a % len(places)]
            old = container[key]
            by_type = dict(_typed(data))
            kind = "none" if old is None else type(old).__name__
            candidates = by_type.get(kind, ())
            if kind == "none":
                candidates = by_type["str"] + (None,)
            if candidates:
                container[key] = copy.deepcopy(candidates[self.b % len(candidates)])
        elif self.name == "swap_values":
            places = list(_locations(data))
            (c1, k1), (c2, k2) = places[self.a % len(places)], places[self.b % len(places)]
            c1[k1], c2[k2] = copy.deepcopy(c2[k2]), copy.deepcopy(c1[k1])
        elif self.name == "delete_value":
            places = list(_locations(data))
            container, key = places[self.a % len(places)]
            del container[key]


_EDGE_KINDS = ("next", "true", "false", "loop", "exit", "error", "compensate")
_SOURCE_KEYS = frozenset(
    {"code", "target", "test", "iter", "duration", "signal", "timeout", "item", "exc"}
    | {"cause", "value", "type", "default", "expr"}
)
_REF_KEYS = frozenset({"scope", "loops", "of", "handling", "entry", "source"})


@cache
def _snippets() -> tuple[str, ...]:
    return EXPRESSIONS + STATEMENTS + TARGETS + BROKEN + _deep_sources()


def _values(data: Data) -> st.SearchStrategy[Any]:
    ids = sorted({node["id"] for node in data["nodes"]})
    steps = sorted({step["name"] for step in data["steps"]})
    scalars = st.one_of(
        st.sampled_from(EXPRESSIONS),
        st.sampled_from(STATEMENTS),
        st.sampled_from(TARGETS),
        st.sampled_from(BROKEN),
        st.sampled_from(ids),
        st.sampled_from(steps),
        st.sampled_from((*_EDGE_KINDS, "start", "loop", "for", "while", "bogus")),
        st.text(max_size=12),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, 1, -1, 2**63, 10**30]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1e300, -0.0, 5e-324]),
        st.none(),
        st.booleans(),
    )
    return st.one_of(
        scalars,
        st.lists(st.sampled_from(ids), max_size=3),
        st.lists(scalars, max_size=2),
        st.dictionaries(st.sampled_from(["id", "kind", "expr", "x"]), scalars, max_size=2),
        st.sampled_from(_deep_sources()),
    )


@cache
def _typed_for(
    ids: tuple[str, ...], steps: tuple[str, ...]
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    texts = EXPRESSIONS + STATEMENTS + TARGETS + BROKEN + ids + steps + _deep_sources()
    return (
        ("str", texts + _EDGE_KINDS + ("for", "while", "*", "**", "")),
        ("int", (0, 1, 2, 3, -1, 5, 10**9, 2**63, 10**30)),
        ("float", (0.0, 0.5, 1.0, 1e300, -1.0)),
        ("bool", (True, False)),
        ("list", ((), ids[:1], ids[-2:], ("x",), (EXPRESSIONS[0],), (ids[0], ids[0]))),
    )


def _typed(data: Data) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    nodes = [n for n in data.get("nodes") or () if isinstance(n, dict)]
    ids = tuple(sorted({str(n.get("id")) for n in nodes})) or ("n0",)
    steps = tuple(
        sorted({str(s.get("name")) for s in data.get("steps") or () if isinstance(s, dict)})
    )
    return _typed_for(ids, steps)


def _ops(data: Data) -> st.SearchStrategy[Op]:
    index = st.integers(min_value=0, max_value=10_000)
    values = _values(data)
    new_ids = st.one_of(st.none(), st.sampled_from(["n999", "n0", "x@1", "n1#2", "n/3", ""]))
    kinds = st.one_of(st.sampled_from(_EDGE_KINDS), st.text(max_size=5))
    return st.one_of(
        st.builds(Op, st.sampled_from(["delete_node", "swap_ids", "take_kind"]), index, index),
        st.builds(Op, st.just("duplicate_node"), index, index, new_ids),
        st.builds(Op, st.sampled_from(["delete_edge", "duplicate_edge"]), index),
        st.builds(
            Op, st.just("retarget_edge"), index, index, st.one_of(st.none(), st.text(max_size=4))
        ),
        st.builds(Op, st.just("edge_kind"), index, index, kinds),
        st.builds(Op, st.just("add_edge"), index, index, kinds),
        st.builds(Op, st.just("set"), index, index, values),
        *[st.builds(Op, st.just("set_like"), index, index)] * 3,
        *[st.builds(Op, st.sampled_from(["set_source", "set_ref"]), index, index)] * 6,
        st.builds(Op, st.sampled_from(["swap_values", "delete_value"]), index, index),
    )


def _runnable_ops() -> st.SearchStrategy[Op]:
    index = st.integers(min_value=0, max_value=10_000)
    return st.one_of(
        *[st.builds(Op, st.just("set_source_of_kind"), index, index)] * 6,
        st.builds(Op, st.sampled_from(["set_ref", "set_like", "swap_values"]), index, index),
        st.builds(
            Op, st.sampled_from(["delete_edge", "duplicate_edge", "take_kind"]), index, index
        ),
    )


@st.composite
def mutants(
    draw: st.DrawFn,
    bases: Callable[[], tuple[Data, ...]] | None = None,
    *,
    runnable: bool = False,
) -> tuple[Data, list[Op]]:
    """A base graph's data with one to four edits applied (the hash not yet recomputed).

    Args:
        draw: Hypothesis's draw.
        bases: The graphs to mutate (default: :func:`base_graph`).
        runnable: Mostly edits that keep the graph loadable (Python source of the
            right kind, other node references), so that more mutants run.
    """
    choices = (base_graph(),) if bases is None else bases()
    base = draw(st.sampled_from(choices))
    data = copy.deepcopy(base)
    if runnable:
        ops = draw(st.lists(_runnable_ops(), min_size=1, max_size=2))
    else:
        ops = draw(st.lists(_ops(base), min_size=1, max_size=4))
    for op in ops:
        # An earlier edit may have left nothing this one can act on.
        with contextlib.suppress(TypeError, KeyError, AttributeError, IndexError, ValueError):
            op.apply(data)
    return data, ops


# ---------------------------------------------------------------------------- text edits

_MARK = "VRB_FUZZ_MARK"


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


TEXT_EDITS: dict[str, Callable[[str, int], str | bytes]] = {
    "lone surrogate escape": lambda text, n: text.replace(f'"{_MARK}"', '"\\ud800"'),
    "lone low surrogate": lambda text, n: text.replace(f'"{_MARK}"', '"a\\udc00b"'),
    "raw surrogate": lambda text, n: text.replace(f'"{_MARK}"', '"\ud800"'),
    "invalid utf-8": lambda text, n: text.encode().replace(_MARK.encode(), b"\xff\xfe"),
    "deep nesting": lambda text, n: text.replace(f'"{_MARK}"', _deep_json(100_000)),
    "deep-ish nesting": lambda text, n: text.replace(f'"{_MARK}"', _deep_json(190 + n % 30)),
    "huge integer": lambda text, n: text.replace(f'"{_MARK}"', "1" + "0" * 5_000),
    "nan": lambda text, n: text.replace(f'"{_MARK}"', "NaN"),
    "infinity": lambda text, n: text.replace(f'"{_MARK}"', "1e400"),
    "truncated": lambda text, n: text[: n % max(len(text), 1)],
    "bom": lambda text, n: "\ufeff" + text,
    "not an object": lambda text, n: "[" + text + "]",
    "raw byte": lambda text, n: (
        text.encode()[: n % len(text)] + bytes([n % 256]) + text.encode()[n % len(text) :]
    ),
}


@st.composite
def text_edits(draw: st.DrawFn) -> tuple[str, str | bytes]:
    """A graph file's text with one of :data:`TEXT_EDITS` applied at a random value."""
    base = draw(st.sampled_from((base_graph(), *golden_graphs())))
    data = copy.deepcopy(base)
    places = list(_locations(data))
    container, key = places[draw(st.integers(min_value=0, max_value=10_000)) % len(places)]
    container[key] = _MARK
    name = draw(st.sampled_from(sorted(TEXT_EDITS)))
    text = json.dumps(data, ensure_ascii=False)
    return name, TEXT_EDITS[name](text, draw(st.integers(min_value=0, max_value=10**6)))
