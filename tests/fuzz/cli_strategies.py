"""Hostile command lines and store URLs: what the ``vrb`` fuzz feeds the command and ``open_store``.

Each strategy mixes values a user gets right with the ones that broke the
command before (issue 16): bytes that are not UTF-8 (as Python hands them over,
``surrogateescape``), lone surrogates, JSON nested past what any parser follows
or with ints past CPython's 4,300 digits, tampered ``--cursor`` values (deep
JSON, huge or negative numbers, years past 9999), numbers at the extremes
(``1e-300``, ``1e12``, ``nan``, 5,000 digits), and store URLs with bad ports,
an IPv6 host missing its bracket, ``%00`` in a path, and every way to get
``schema=`` and ``options=`` wrong. Password-bearing URLs come from
:func:`tests.strategies.secret_urls`, not from here.

No strategy names anything it would be unsafe to act on: module names and codec
specs are a fixed safe list or carry a prefix no module has, and every file path
lies under the directory the test gives.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence

from hypothesis import strategies as st

from tests.strategies import secret_urls

__all__ = [
    "FLOWS_MODULE",
    "SEEDED",
    "cursors",
    "float_texts",
    "hostile_texts",
    "int_texts",
    "json_texts",
    "postgres_urls",
    "sqlite_urls",
    "store_urls",
    "vrb_argv",
]

FLOWS_MODULE = "tests.fuzz.cli_flows"
"""The module ``vrb worker`` imports in the fuzz (its workflows: fuzz-echo, fuzz-fail, fuzz-wait)."""

SEEDED = {
    "seed-done": "fuzz-echo",
    "seed-failed": "fuzz-fail",
    "seed-waiting": "fuzz-wait",
    "seed-pending": "nobody-serves",
}
"""The runs the fuzz's store holds before the first command, by id: their workflow."""

FINISHED = ("seed-done", "seed-failed")
"""Seeded runs that ended: ``trigger --run-id ID --wait`` on them returns at once."""


def _undecodable(raw: bytes) -> str:
    """``raw`` as Python hands over a command-line argument: non-UTF-8 bytes as lone surrogates."""
    return raw.decode("utf-8", "surrogateescape")


def _nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


_DEPTHS = [2, 150, 189, 190, 191, 199, 200, 900, 1_000, 5_000, 60_000]
_DIGITS = [20, 4_299, 4_300, 4_301, 5_000, 50_000]

_EDGE_TEXTS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "a\nb",
    "\r",
    "\x1b[31mred\x1b[0m",
    "\u202e",
    "\ufeff",
    "\ud800",
    "a\udfff",
    "\udcff",
    "é",
    "密",
    "-",
    "--",
    "-x",
    "=",
    "%",
    "%00",
    "'",
    '"',
    "\\",
    "x" * 300,
    "y" * 70_000,
]

hostile_texts: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(_EDGE_TEXTS),
    st.binary(min_size=1, max_size=6).map(_undecodable),
    st.text(max_size=12),
    st.text(alphabet="ab-_.:/", min_size=1, max_size=8),
)
"""Names, ids and free text: empty, control characters, escapes, surrogates, non-UTF-8, 70,000 characters."""


def names(good: Sequence[str]) -> st.SearchStrategy[str]:
    """``good`` three times in four (so commands get past their arguments), else :data:`hostile_texts`."""
    return st.one_of(*[st.sampled_from(list(good))] * 3, hostile_texts)


_JSON_EDGES = [
    "",
    " ",
    "[",
    "]",
    "{",
    "[1,]",
    "'x'",
    "NaN",
    "Infinity",
    "-Infinity",
    "[NaN]",
    "1e400",
    "[-1e400]",
    "1e-400",
    '"\\ud800"',
    '["\\udfff"]',
    '{"\\ud800": 1}',
    '"\\u0000"',
    '{"$vrb_codec": 1}',
    '{"a": 1, "a": 2}',
    "\ufeff[]",
    "[] []",
    "null",
    "true",
    "[1, 2]",
    '{"value": 1}',
    '"' + "x" * 200_000 + '"',
]


@st.composite
def _json_numbers(draw: st.DrawFn) -> str:
    digits = draw(st.sampled_from(_DIGITS))
    sign = draw(st.sampled_from(["", "-"]))
    number = sign + "9" * digits
    return draw(st.sampled_from([number, f"[{number}]", f'{{"n": {number}}}', f"{number}.5"]))


_deep_json = st.builds(_nested, st.sampled_from(_DEPTHS), st.sampled_from(["list", "dict"]))

json_texts: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(_JSON_EDGES),
    _deep_json,
    _deep_json,
    _json_numbers(),
    _json_numbers(),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    ).map(json.dumps),
    hostile_texts,
)
"""What ``--args``/``--payload`` may hold: valid JSON, broken JSON, and JSON no store takes back."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_CURSOR_BODIES = [
    '[0, "r"]',
    '[1700000000000000, "seed-done"]',
    '[-1, "r"]',
    '[253402300800000000, "r"]',
    '[-62135596800000001, "r"]',
    '[9223372036854775807, "r"]',
    '[9223372036854775808, "r"]',
    '[-9223372036854775809, "r"]',
    "[" + "9" * 5000 + ', "r"]',
    '[1e400, "r"]',
    '[1.5, "r"]',
    '[true, "r"]',
    "[1, 2]",
    '[1, "r", 3]',
    "[1]",
    "{}",
    '"r"',
    '[1, "\\ud800"]',
    '[1, "\\u0000"]',
    '[1, "' + "r" * 100_000 + '"]',
    "[" * 5000 + "]" * 5000,
    "[" * 60_000 + "]" * 60_000,
    "[1, " + "[" * 1000 + "]" * 1000 + "]",
]


cursors: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(_CURSOR_BODIES).map(lambda body: _b64(body.encode())),
    st.binary(max_size=24).map(_b64),
    st.sampled_from(["", "=", "====", "!!", "a", "*" * 5000, "\udcff", "%"]),
    hostile_texts,
)
"""``--cursor`` values: tampered cursors (in the format ``list_runs`` writes), garbage, hostile text."""

float_texts: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(
        [
            "0",
            "-0",
            "-1",
            "1e-300",
            "5e-324",
            "0.001",
            "0.01",
            "0.1",
            "1",
            "2",
            "30",
            "3600",
            "86400",
            "86401",
            "604800",
            "1e12",
            "1e308",
            "1e309",
            "nan",
            "inf",
            "-inf",
            "9" * 5000,
            "0x10",
            " 5 ",
            "5s",
            "1_0",
            "\u0661",
            "",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    hostile_texts,
)
"""Seconds: the sane, the extremes (``1e-300``, ``1e12``, ``nan``, 5,000 digits), and text that is no number."""

int_texts: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "2",
            "5",
            "20",
            "1000",
            "1001",
            "10000",
            "10001",
            "9" * 19,
            "9" * 5000,
            "1e3",
            "1.5",
            "0x10",
            "\u00b2",
            "\u0661",
            "",
        ]
    ),
    st.integers().map(str),
    hostile_texts,
)
"""Counts: in range, at the edges, 5,000 digits, and text that is no integer (``²`` passes ``isdigit``)."""


# --------------------------------------------------------------------------- store URLs

_PATH_PIECES = [
    "vrb",
    "a b",
    "é",
    "%00",
    "%zz",
    "%ff",
    "%2F",
    "%20",
    "\x00",
    ":memory:",
    "?",
    "#",
    ";",
    "~",
    "\udcff",
    "x" * 300,
    "sub/",
    "nosuchdir/",
]

_SQLITE_QUERIES = [
    "",
    "?",
    "?synchronous=normal",
    "?synchronous=full",
    "?synchronous=NORMAL",
    "?synchronous=off",
    "?synchronous=",
    "?busy_timeout=100",
    "?busy_timeout=0",
    "?busy_timeout=-1",
    "?busy_timeout=" + "9" * 30,
    "?busy_timeout=" + "9" * 5000,
    "?busy_timeout=\u00b2",
    "?busy_timeout=\u0661",
    "?busy_timeout=1e3",
    "?busy_timeout=100&busy_timeout=200",
    "?password=S3CRET",
    "?foo=bar",
    "?&&",
    "?a",
    "?=1",
    "?synchronous=normal&",
]


@st.composite
def sqlite_urls(draw: st.DrawFn, directory: str) -> str:
    """SQLite URLs whose files, if any, lie in ``directory`` (the current directory for relative ones).

    Two slashes name a host (refused), three a relative path, four ``directory``
    given absolutely; the path is built of pieces that broke the parser (a NUL
    raw or as ``%00``, a bad or undecodable escape, a directory that does not
    exist) and no ``..``, so nothing is written outside ``directory``.
    """
    pieces = draw(st.lists(st.sampled_from(_PATH_PIECES), min_size=0, max_size=3))
    name = "".join(pieces) + draw(st.sampled_from([".db", "", "/"]))
    form = draw(st.sampled_from(["relative", "absolute", "host", "scheme-case", "bare"]))
    query = draw(st.sampled_from(_SQLITE_QUERIES))
    if form == "relative":
        return f"sqlite:///{name}{query}"
    if form == "absolute":
        return f"sqlite:///{directory}/{name}{query}"
    if form == "host":
        host = draw(st.sampled_from(["localhost", "h:99999", "h:abc", "[::1", "[::1]:1", ""]))
        return f"sqlite://{host}/{name}{query}"
    if form == "scheme-case":
        return f"SQLite:///{name}{query}"
    return f"sqlite:{name}"


_HOSTS = [
    "127.0.0.1:1",
    "127.0.0.1:99999",
    "127.0.0.1:65536",
    "127.0.0.1:0",
    "127.0.0.1:-1",
    "127.0.0.1:abc",
    "127.0.0.1:",
    "[::1",
    "[::1]:1",
    "[::1]:99999",
    "[::1]]:1",
    "[zz]:1",
    "127.0.0.1:1,127.0.0.1:2",
    "%00:1",
    "h\udcff:1",
]

_SCHEMAS = [
    "vrb_x",
    "",
    "information_schema",
    "INFORMATION_SCHEMA",
    "pg_catalog",
    "pg_toast",
    "pg_temp",
    "pg_temp_3",
    "pg_toast_temp_1",
    "PG_x",
    "pg_",
    "public",
    "a" * 50,
    "a" * 64,
    "a" * 5000,
    "1abc",
    "a-b",
    "a%20b",
    "a;drop",
    "%22",
    "%00",
    "%ff",
    "%C3%A9",
    "\udcff",
]

_OPTION_VALUES = [
    "-c%20search_path%3Dpublic",
    "-c+search_path%3Dpublic",
    "-c search_path=public",
    "-c%20statement_timeout%3D5000",
    "--search_path%3Dpublic",
    "-c",
    "",
    "%zz",
    "-c%20bogus%3D1",
]

_POOL_VALUES = ["0", "1", "10", "-1", "abc", "", "9" * 30, "9" * 5000, "1e3", "\u00b2", "1.5"]


@st.composite
def postgres_urls(draw: st.DrawFn) -> str:
    """PostgreSQL URLs that open no store: every host is refused, unreachable or malformed, or the database is missing.

    The store's options come in every wrong form: ``schema`` empty, repeated, a
    system schema, too long, not an identifier; pool sizes that are no number or
    have 5,000 digits; ``options=`` with its space written as ``%20``, ``+`` or raw.
    """
    scheme = draw(st.sampled_from(["postgresql://", "postgres://", "postgresql+psycopg://"]))
    user = draw(st.sampled_from(["", "u@", "u:p@", "%00@", "\udcff@"]))
    host = draw(st.sampled_from(_HOSTS))
    # Never the server's default database: an empty port is the test server's.
    database = draw(st.sampled_from(["/vrb_no_such_db", "/%00", "/a%2Fb", "/vrb_no_such_db/x"]))
    items: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["schema", "pool", "options", "libpq", "raw"]))
        if kind == "schema":
            items.append(f"schema={draw(st.sampled_from(_SCHEMAS))}")
        elif kind == "pool":
            name = draw(st.sampled_from(["pool_min_size", "pool_max_size", "pool_timeout"]))
            items.append(f"{name}={draw(st.sampled_from(_POOL_VALUES))}")
        elif kind == "options":
            items.append(f"options={draw(st.sampled_from(_OPTION_VALUES))}")
        elif kind == "libpq":
            items.append(
                draw(
                    st.sampled_from(
                        [
                            "connect_timeout=1",
                            "connect_timeout=" + "9" * 5000,
                            "sslmode=bogus",
                            "application_name=a+b",
                            "foo=bar",
                            "port=99999",
                            "host=%00",
                        ]
                    )
                )
            )
        else:
            items.append(draw(st.sampled_from(["", "a", "=", "a=b=c", "%", "&"])))
    query = ("?" + "&".join(items)) if items or draw(st.booleans()) else ""
    return f"{scheme}{user}{host}{database}{query}"


def store_urls(directory: str) -> st.SearchStrategy[str]:
    """Every kind of store URL: SQLite under ``directory``, PostgreSQL that connects nowhere, and junk."""
    return st.one_of(
        sqlite_urls(directory),
        postgres_urls(),
        secret_urls().map(lambda secret: secret.url),
        st.sampled_from(
            [
                "",
                " ",
                "memory://",
                "memory://x",
                "MEMORY://",
                "mysql://h/db",
                "://",
                "sqlite",
                "host=127.0.0.1 port=1 dbname=db",
                "postgresql:/h/db",
                "\udcff://",
            ]
        ),
        hostile_texts,
    )


# --------------------------------------------------------------------------- argv


_MODULES = [
    FLOWS_MODULE,
    FLOWS_MODULE,
    FLOWS_MODULE,
    "vrb_fuzz_no_such_module",
    "tests/fuzz/cli_flows.py",
]
_CODECS = [
    "",
    " ",
    ":",
    "x",
    "vrb_fuzz_no_such_module:codec",
    "runtime.codec:nothing",
    "runtime.codec:AesGcmCodec.from_environ",
    "json:dumps",
    "json:__name__",
]


@st.composite
def vrb_argv(draw: st.DrawFn, db: str, directory: str) -> list[str]:
    """A ``vrb`` command line: every command and option, each value hostile or not.

    Args:
        db: The seeded store's URL; most commands use it (so they reach the store).
        directory: Where files the command line names may be (graph directories, key files).

    ``trigger --wait`` waits on a seeded run that ended, or gives up after a
    fraction of a second: no worker serves the store, and the fuzz must not hang.
    """
    command = draw(
        st.sampled_from(
            [
                *("trigger", "trigger", "signal", "list", "list", "show", "history"),
                *("cancel", "stats", "worker", "worker", "junk"),
            ]
        )
    )
    runs = list(SEEDED)
    workflows = sorted(set(SEEDED.values()) | {"fuzz-echo"})
    argv: list[str]
    options: list[list[str]] = []
    if command == "trigger":
        argv = ["trigger", draw(names(workflows))]
        if draw(st.booleans()):
            options.append(["--args", draw(json_texts)])
        wait = draw(st.sampled_from(["no", "finished", "short"]))
        run_id = draw(st.one_of(st.none(), names(runs)))
        if wait == "finished":
            run_id = draw(st.sampled_from(FINISHED))
        if run_id is not None:
            options.append(["--run-id", run_id])
        if wait == "no" and draw(st.booleans()):
            options.append(["--timeout", draw(float_texts)])
        elif wait == "finished":
            options.append(["--wait"])
            if draw(st.booleans()):
                options.append(["--timeout", draw(float_texts)])
        elif wait == "short":
            options += [
                ["--wait"],
                ["--timeout", draw(st.sampled_from(["0.01", "1e-300", "0.05"]))],
            ]
    elif command == "signal":
        argv = ["signal", draw(names(runs)), draw(names(["go", "other"]))]
        if draw(st.booleans()):
            options.append(["--payload", draw(json_texts)])
    elif command == "list":
        argv = ["runs", "list"]
        if draw(st.booleans()):
            options.append(["--workflow", draw(names(workflows))])
        if draw(st.booleans()):
            options.append(["--status", draw(names(["completed", "failed", "waiting"]))])
        if draw(st.booleans()):
            options.append(["--limit", draw(int_texts)])
        if draw(st.booleans()):
            options.append(["--cursor", draw(cursors)])
    elif command in ("show", "history", "cancel"):
        argv = ["runs", command, draw(names(runs))]
    elif command == "stats":
        argv = ["stats"]
        if draw(st.booleans()):
            options.append(["--workflow", draw(names(workflows))])
    elif command == "worker":
        argv = ["worker", draw(st.sampled_from(_MODULES))]
        # Without --workflow the worker would load every workflow this process registered.
        options.append(["--workflow", draw(names(["fuzz-echo", "fuzz-wait"]))])
        for option, values in (
            ("--concurrency", int_texts),
            ("--poll-interval", float_texts),
            ("--lease-timeout", float_texts),
            ("--log-level", names(["info", "debug", "warning"])),
            ("--graphs", st.sampled_from([f"{directory}/no-such-dir", directory, "\x00"])),
            ("--graph-key-file", st.sampled_from([f"{directory}/no-such-key", "\x00", ""])),
        ):
            if draw(st.booleans()):
                options.append([option, draw(values)])
    else:
        argv = draw(st.lists(hostile_texts, max_size=3))
    if draw(st.booleans()):
        options.append(["--json"])
    if command != "junk":
        where = draw(st.sampled_from(["seeded"] * 4 + ["url", "none"]))
        if where == "seeded":
            options.append(["--db", db])
        elif where == "url":
            options.append(["--db", draw(store_urls(directory))])
        if draw(st.integers(0, 9)) == 0:
            options.append(["--codec", draw(st.sampled_from(_CODECS))])
        if draw(st.integers(0, 9)) == 0:
            options.append([draw(st.sampled_from(["--bogus", "--db", "-", "--wait=1"]))])
    ordered = draw(st.permutations(options)) if options else []
    for option in ordered:
        # Half the options as one word, ``--name=value``, as users write them too.
        if len(option) == 2 and draw(st.booleans()):
            argv.append(f"{option[0]}={option[1]}")
        else:
            argv += option
    return argv


def subprocess_arg(text: str) -> bytes:
    """``text`` as the bytes a shell passes (the inverse of Python's ``surrogateescape``)."""
    return os.fsencode(text)
