"""Name resolution: imports, aliases, relative and star imports, conditional bindings."""

from __future__ import annotations

import ast

from vrb_compile.names import ModuleSymbols, SymbolTable, Target, build_symbols, resolve_relative


def table(**modules: str) -> SymbolTable:
    """``table(shop__flows="...")``: module ``shop.flows``; a ``__init`` suffix marks a package."""
    symbols = {}
    for key, text in modules.items():
        name = key.replace("__", ".")
        package = name.endswith(".init")
        name = name.removesuffix(".init")
        symbols[name] = build_symbols(ast.parse(text), name, is_package=package)
    return SymbolTable(symbols)


def qnames(targets: tuple[Target, ...]) -> list[tuple[str, str]]:
    return [(t.qname, t.kind) for t in targets]


def test_import_aliases() -> None:
    t = table(m="import datetime as dt\nfrom time import time as now\nimport os.path\n")
    assert qnames(t.resolve("m", "dt.datetime.now")) == [("datetime.datetime.now", "external")]
    assert qnames(t.resolve("m", "now")) == [("time.time", "external")]
    assert qnames(t.resolve("m", "os.path.join")) == [("os.path.join", "external")]


def test_builtins_unresolved_and_local_definitions() -> None:
    t = table(m="def helper():\n    pass\nclass Box:\n    pass\nLIMIT = 3\nSEEN = []\n")
    assert qnames(t.resolve("m", "len")) == [("builtins.len", "builtin")]
    assert qnames(t.resolve("m", "nothing")) == [("nothing", "unresolved")]
    assert qnames(t.resolve("m", "helper")) == [("m.helper", "def")]
    assert qnames(t.resolve("m", "Box.make")) == [("m.Box.make", "class")]
    assert [(x.qname, x.mutable) for x in t.resolve("m", "SEEN")] == [("m.SEEN", True)]
    assert [(x.qname, x.mutable) for x in t.resolve("m", "LIMIT")] == [("m.LIMIT", False)]


def test_relative_imports_from_modules_and_packages() -> None:
    assert resolve_relative("shop.flows", False, 1, "steps") == "shop.steps"
    assert resolve_relative("shop", True, 1, "steps") == "shop.steps"
    assert resolve_relative("shop.sub.flows", False, 2, None) == "shop"
    t = table(
        shop__init="from .steps import charge\n",
        shop__steps="async def charge(x):\n    return x\n",
        shop__sub__flows="from .. import steps\nfrom ..steps import charge as pay\nfrom shop import charge as again\n",
    )
    assert qnames(t.resolve("shop.sub.flows", "steps.charge")) == [
        ("shop.steps.charge", "asyncdef")
    ]
    assert qnames(t.resolve("shop.sub.flows", "pay")) == [("shop.steps.charge", "asyncdef")]
    # a re-export through the package __init__ is followed to the definition
    assert qnames(t.resolve("shop.sub.flows", "again")) == [("shop.steps.charge", "asyncdef")]


def test_star_imports_from_analysed_and_standard_library_modules() -> None:
    t = table(
        a="def public():\n    pass\ndef _private():\n    pass\n",
        b="from a import *\nfrom time import *\nfrom mystery import *\n",
    )
    assert qnames(t.resolve("b", "public")) == [("a.public", "def")]
    assert qnames(t.resolve("b", "monotonic")) == [("time.monotonic", "external")]
    assert qnames(t.resolve("b", "_private")) == [("mystery._private", "external")]
    assert qnames(t.resolve("b", "len")) == [("builtins.len", "builtin")]


def test_conditional_imports_give_every_candidate() -> None:
    t = table(
        m="try:\n    import ujson as fastjson\nexcept ImportError:\n    import json as fastjson\n"
        "if FLAG:\n    from time import time as clock\nelse:\n    from time import monotonic as clock\n"
    )
    assert qnames(t.resolve("m", "fastjson.dumps")) == [
        ("json.dumps", "external"),
        ("ujson.dumps", "external"),
    ]
    assert [x.qname for x in t.resolve("m", "clock")] == ["time.monotonic", "time.time"]


def test_unconditional_rebinding_keeps_the_last() -> None:
    t = table(m="import json as j\nimport pickle as j\n")
    assert [x.qname for x in t.resolve("m", "j.dumps")] == ["pickle.dumps"]


def test_value_aliases_and_objects_built_by_calls() -> None:
    t = table(
        m="from datetime import datetime\nimport requests\nclock = datetime.now\n"
        "session = requests.Session()\nget = requests.Session().get\n"
    )
    assert qnames(t.resolve("m", "clock")) == [("datetime.datetime.now", "external")]
    [method] = t.resolve("m", "session.get")
    assert (method.qname, method.kind, method.origin) == (
        "m.session.get",
        "data",
        "requests.Session.get",
    )
    [bound] = t.resolve("m", "get")
    assert (bound.kind, bound.origin) == ("data", "requests.Session.get")


def test_sdk_spellings_are_canonical() -> None:
    t = table(m="from runtime.sdk import step as s\nimport runtime.sdk as sdk\n")
    assert [x.qname for x in t.resolve("m", "s")] == ["runtime.step"]
    assert [x.qname for x in t.resolve("m", "sdk.Workflow")] == ["runtime.Workflow"]


def test_missing_names_and_submodules_of_analysed_packages() -> None:
    t = table(shop__init="", shop__steps="X = 1\n", m="import shop\nfrom shop import steps\n")
    assert qnames(t.resolve("m", "shop.steps.X")) == [("shop.steps.X", "data")]
    assert qnames(t.resolve("m", "steps.nope")) == [("shop.steps.nope", "missing")]
    assert qnames(t.resolve("m", "shop.steps")) == [("shop.steps", "module")]


def test_imports_are_recorded_and_symbols_round_trip_through_json() -> None:
    symbols = build_symbols(
        ast.parse("import a.b.c\nfrom .x import y\nfrom z import *\n"), "pkg.mod"
    )
    assert symbols.imports == ("a.b.c", "pkg.x.y", "z")
    assert ModuleSymbols.from_json(symbols.to_json()) == symbols


def test_star_imports_are_followed_through_analysed_modules() -> None:
    t = table(
        shop__init="",
        shop__helpers="from random import *\nfrom .more import *\n",
        shop__more="from mystery import *\nfrom .helpers import *\n\n\ndef local():\n    pass\n",
        shop__flows="from .helpers import *\nfrom . import helpers\n",
    )
    assert qnames(t.resolve("shop.flows", "randint")) == [("random.randint", "external")]
    assert qnames(t.resolve("shop.flows", "local")) == [("shop.more.local", "def")]
    assert qnames(t.resolve("shop.flows", "helpers.choice")) == [("random.choice", "external")]
    # the cycle helpers <-> more ends; a name nobody provides is a guess into the unseen module
    assert qnames(t.resolve("shop.flows", "nowhere")) == [("mystery.nowhere", "external")]
    assert qnames(t.resolve("shop.flows", "helpers.nowhere")) == [("mystery.nowhere", "external")]


def test_missing_names_and_members_of_definitions() -> None:
    t = table(
        shop__init="",
        shop__helpers="def h():\n    pass\n",
        m="from shop import helpers\nfrom shop.nosuch import f\nfrom shop import other\n",
    )
    assert qnames(t.resolve("m", "helpers.hh")) == [("shop.helpers.hh", "missing")]
    assert qnames(t.resolve("m", "f")) == [("shop.nosuch.f", "missing")]
    assert qnames(t.resolve("m", "other.g")) == [("shop.other.g", "missing")]
    assert qnames(t.resolve("m", "helpers.h.cache_clear")) == [
        ("shop.helpers.h.cache_clear", "member")
    ]


def test_sets_at_module_level_and_helpers_returning_them() -> None:
    t = table(
        m="ALLOWED = {'a'}\nFROZ = frozenset(['b'])\nBOTH = ALLOWED | {'c'}\nITEMS = ['a']\n"
        "COPY = ALLOWED.copy()\nLIMIT = 3 - 1\n"
        "def mk(xs):\n    s = set(xs)\n    t = s | {1}\n    return t\n"
        "def tags() -> 'frozenset[str]':\n    return load()\n"
        "def listed(xs):\n    return sorted(set(xs))\n"
        "def either(xs):\n    if xs:\n        return set(xs)\n    return xs\n"
    )
    sets = {name for name in ("ALLOWED", "FROZ", "BOTH", "COPY") if t.resolve("m", name)[0].is_set}
    assert sets == {"ALLOWED", "FROZ", "BOTH", "COPY"}
    assert not any(t.resolve("m", n)[0].is_set for n in ("ITEMS", "LIMIT", "listed", "either"))
    assert t.resolve("m", "mk")[0].is_set
    assert t.resolve("m", "tags")[0].is_set
