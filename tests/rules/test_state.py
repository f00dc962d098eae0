"""VRB109-VRB112: set order, module state, unknown calls, awaiting non-steps."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODES = ("VRB109", "VRB110", "VRB111", "VRB112")

VALID = [
    # VRB109
    Valid("sorted-set", wf("    for s in sorted(set(order)):\n        await charge(s)\n")),
    Valid(
        "order-free-set-uses",
        wf("    s = set(order)\n    return len(s), 'a' in s, min(s), max(s), sum(s), s == {1}\n"),
    ),
    Valid("dict-iteration", wf("    for k in {'a': 1}:\n        await charge(k)\n")),
    Valid(
        "set-rebound-to-sorted-list",
        wf(
            "    skus = set(order)\n    skus = sorted(skus)\n    for s in skus:\n        await charge(s)\n"
        ),
    ),
    Valid(
        "order-free-uses-of-module-sets",
        wf(
            "    for s in sorted(ALLOWED | FROZ):\n        await charge(s)\n"
            "    return 'a' in ALLOWED, len(FROZ), [x for x in ITEMS]\n",
            extra="ALLOWED = {'a', 'b'}\nFROZ = frozenset(['x'])\nITEMS = ['a']\n",
        ),
    ),
    Valid(
        "helper-returning-a-sorted-list",
        wf(
            "    for u in unique(order):\n        await charge(u)\n",
            extra="def unique(xs):\n    s = set(xs)\n    return sorted(s)\n\n\n",
        ),
    ),
    # VRB110
    Valid(
        "write-a-local-copy-of-module-state",
        wf("    c = dict(CACHE)\n    c['x'] = 1\n    return c\n", extra="CACHE = {}\n"),
    ),
    Valid(
        "read-module-constants",
        wf("    return LIMIT + len(SEEN)\n", extra="LIMIT = 3\nSEEN = []\n"),
    ),
    Valid(
        "local-shadows-module-list",
        wf("    SEEN = []\n    SEEN.append(order)\n    return SEEN\n", extra="SEEN = []\n"),
    ),
    Valid(
        "read-module-dict",
        wf("    return RATES.get(order['c'], 1.0)\n", extra="RATES = {'eu': 1.2}\n"),
    ),
    # VRB111
    Valid(
        "pure-stdlib",
        wf("    return json.dumps(sorted(order)), math.floor(1.5)\n", "import json\nimport math\n"),
    ),
    Valid(
        "local-module-function",
        {
            "shop/__init__.py": "",
            "shop/helpers.py": "def h():\n    return 1\n",
            "shop/flows.py": wf(
                "    return h(), helpers.h()\n", "from . import helpers\nfrom .helpers import h\n"
            ),
        },
    ),
    Valid("getattr-on-a-local", wf("    return getattr(order, 'get')('a')\n")),
    Valid(
        "getattr-literal-on-a-pure-module",
        wf("    return getattr(math, 'floor')(1.5)\n", "import math\n"),
    ),
    Valid("methods-on-locals", wf("    items = order.get('items', [])\n    return items.copy()\n")),
    Valid(
        "local-class",
        wf(
            "    return Box(order)\n",
            extra="class Box:\n    def __init__(self, x):\n        self.x = x\n\n\n",
        ),
    ),
    # VRB112
    Valid("await-step-and-ctx", wf("    await ctx.sleep('1s')\n    return await charge(1)\n")),
    Valid(
        "await-async-helper",
        wf(
            "    return await helper(order)\n",
            extra="async def helper(o):\n    return await charge(o)\n\n\n",
        ),
    ),
    Valid(
        "await-step-of-another-module",
        {
            "shop/__init__.py": "",
            "shop/steps.py": 'from runtime import step\n\n\n@step("pay")\nasync def pay(x):\n    return x\n',
            "shop/flows.py": wf("    return await steps.pay(order)\n", "from . import steps\n"),
        },
    ),
]

INVALID = [
    Invalid(
        "iterate-set", "VRB109", wf("    for s in set(order):  # !\n        await charge(s)\n")
    ),
    Invalid("list-of-set", "VRB109", wf("    skus = {1, 2}\n    return list(skus)  # !\n")),
    Invalid(
        "set-comprehension-to-step",
        "VRB109",
        wf("    skus = {x for x in order}\n    return await charge(skus)  # !\n"),
    ),
    Invalid("join-set", "VRB109", wf("    return ','.join(set(order))  # !\n")),
    Invalid("pop-set", "VRB109", wf("    s = set(order)\n    return s.pop()  # !\n")),
    Invalid("unpack-set", "VRB109", wf("    s = frozenset(order)\n    return [*s]  # !\n")),
    Invalid(
        "set-union",
        "VRB109",
        wf("    a = set(order)\n    b = a | {1}\n    for x in b:  # !\n        await charge(x)\n"),
    ),
    Invalid(
        "set-parameter-of-helper",
        "VRB109",
        wf(
            "    return first(set(order))\n",
            extra="def first(s: set[str]):\n    for x in s:  # !\n        return x\n\n\n",
        ),
    ),
    Invalid(
        "iterate-module-sets",
        "VRB109",
        wf(
            "    for x in ALLOWED:  # !\n        await charge(x)\n"
            "    for y in FROZ:  # !\n        await charge(y)\n"
            "    for z in ALLOWED | {'c'}:  # !\n        await charge(z)\n",
            extra="ALLOWED = {'a', 'b'}\nFROZ = frozenset(['x', 'y'])\n",
        ),
    ),
    Invalid(
        "module-set-through-a-local",
        "VRB109",
        wf(
            "    tags = ALLOWED\n    return list(tags)  # !\n",
            extra="ALLOWED = {'a', 'b'}\n",
        ),
    ),
    Invalid(
        "module-set-of-another-module",
        "VRB109",
        {
            "shop/__init__.py": "",
            "shop/consts.py": "BASE = {'a'}\nALLOWED = BASE | frozenset({'b'})\n",
            "shop/flows.py": wf(
                "    for x in ALLOWED:  # !\n        await charge(x)\n"
                "    return await charge(consts.BASE)  # !\n",
                "from . import consts\nfrom .consts import ALLOWED\n",
            ),
        },
    ),
    Invalid(
        "helper-returning-a-set",
        "VRB109",
        wf(
            "    for u in mk(order):  # !\n        await charge(u)\n"
            "    return [*tags(order)]  # !\n",
            extra="def mk(xs):\n    out = set()\n    out.add(1)\n    return out\n\n\n"
            "def tags(o) -> frozenset[str]:\n    return o['tags']\n\n\n",
        ),
    ),
    Invalid("global", "VRB110", wf("    global COUNT  # !\n    COUNT = 1\n", extra="COUNT = 0\n")),
    Invalid(
        "subscript-write", "VRB110", wf("    CACHE[order['id']] = 1  # !\n", extra="CACHE = {}\n")
    ),
    Invalid("append", "VRB110", wf("    SEEN.append(order['id'])  # !\n", extra="SEEN = []\n")),
    Invalid(
        "write-through-a-local-alias",
        "VRB110",
        wf("    c = CACHE\n    c['x'] = 1  # !\n    c.y = 2  # !\n", extra="CACHE = {}\n"),
    ),
    Invalid(
        "attribute-write",
        "VRB110",
        wf("    CONFIG.region = 'eu'  # !\n", extra="CONFIG = object()\n"),
    ),
    Invalid(
        "imported-module-state",
        "VRB110",
        {
            "shop/__init__.py": "",
            "shop/state.py": "SEEN = []\n",
            "shop/flows.py": wf(
                "    SEEN.append(order)  # !\n    state.SEEN.clear()  # !\n",
                "from . import state\nfrom .state import SEEN\n",
            ),
        },
    ),
    Invalid(
        "helper-writes-state",
        "VRB110",
        wf(
            "    remember(order)\n",
            extra="SEEN = set()\n\n\ndef remember(o):\n    SEEN.add(o['id'])  # !\n\n\n",
        ),
    ),
    Invalid(
        "unknown-module", "VRB111", wf("    return pricing.total(order)  # !\n", "import pricing\n")
    ),
    Invalid("undefined-name", "VRB111", wf("    return undefined_helper(order)  # !\n")),
    Invalid(
        "name-from-a-missing-local-module",
        "VRB111",
        {
            "shop/__init__.py": "",
            "shop/flows.py": wf(
                "    a = other.f()  # !\n    return h()  # !\n",
                "from . import other\nfrom .nosuch import h\n",
            ),
        },
    ),
    Invalid(
        "typo-in-a-local-module",
        "VRB111",
        {
            "shop/__init__.py": "",
            "shop/helpers.py": "def h():\n    return 1\n",
            "shop/flows.py": wf("    return helpers.hh()  # !\n", "from . import helpers\n"),
        },
    ),
    Invalid(
        "getattr-with-a-run-time-name",
        "VRB111",
        wf("    return getattr(time, order['fn'])()  # !\n", "import time\n"),
    ),
    Invalid("eval", "VRB111", wf("    return eval(order['expr'])  # !\n")),
    Invalid(
        "conditional-import-unknown-candidate",
        "VRB111",
        wf(
            "    return fastjson.dumps(order)  # !\n",
            "try:\n    import ujson as fastjson\nexcept ImportError:\n    import json as fastjson\n",
        ),
    ),
    Invalid(
        "star-import-unknown-module",
        "VRB111",
        wf("    return total(order)  # !\n", "from pricing import *\n"),
    ),
    Invalid(
        "pure-glob-does-not-cover",
        "VRB111",
        wf("    return pricing.total(order)  # !\n", "import pricing\n"),
        {"pure": ("other.*",)},
    ),
    Invalid(
        "await-method",
        "VRB112",
        wf("    return await client.fetch(order)  # !\n", extra="client = object()\n"),
    ),
    Invalid("await-local", "VRB112", wf("    x = order['coro']\n    return await x  # !\n")),
    Invalid(
        "await-unknown-call",
        "VRB112",
        wf("    return await pricing.fetch(order)  # !\n", "import pricing\n"),
    ),
    Invalid(
        "await-in-helper",
        "VRB112",
        wf(
            "    return await helper(order)\n",
            extra="async def helper(o):\n    return await o.fetch()  # !\n\n\n",
        ),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, CODES)


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_pure_glob_allows_an_unknown_module(check_files: CheckFiles) -> None:
    src = wf("    return pricing.total(order)\n", "import pricing\n")
    assert check_files({"mod.py": src}, pure=("pricing.*",)).diagnostics == ()


def test_awaiting_an_unknown_call_is_one_finding(check_files: CheckFiles) -> None:
    result = check_files(
        {"mod.py": wf("    return await pricing.fetch(order)\n", "import pricing\n")}
    )
    assert [d.code for d in result.diagnostics] == ["VRB112"]


def test_exact_diagnostics(check_files: CheckFiles) -> None:
    src = wf("    for s in set(order):\n        await charge(s)\n")
    [diag] = only(check_files({"mod.py": src}), "VRB109")
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (11, 14, 11, 24)
    assert diag.message == "iterating over set(order) depends on the set's iteration order"
    assert diag.hint == "iterate over sorted(the_set) instead"
    src = wf("    SEEN.append(order)\n", extra="SEEN = []\n")
    [diag] = only(check_files({"mod.py": src}), "VRB110")
    assert (diag.line, diag.column) == (12, 5)
    assert diag.message == (
        "SEEN.append() mutates module-level 'SEEN', state another worker replaying the run would not see"
    )
    src = wf("    return pricing.total(order)\n", "import pricing\n")
    [diag] = only(check_files({"mod.py": src}), "VRB111")
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 12, 12, 32)
    assert diag.message == (
        "pricing.total() calls pricing.total, from a module the compiler cannot see; it may not be deterministic"
    )
    assert diag.hint.startswith("move the call into a step, or declare it deterministic with pure")
    src = wf("    return await client.fetch(order)\n", extra="client = object()\n")
    [diag] = only(check_files({"mod.py": src}), "VRB112")
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 12, 12, 37)
    assert diag.message == (
        "awaits client.fetch(...), which is not a step, a ctx method or an analysed helper"
    )
