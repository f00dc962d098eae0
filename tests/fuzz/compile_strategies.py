"""Hostile sources and command lines: what the ``vrb-compile`` fuzz feeds the compiler.

Sources (:func:`source_trees`) put pathological code where each part of the
compiler meets it: at module level (the summary), in a workflow body (LibCST,
the checker, the lowering), in a helper the body calls, in a step option and
in a constant the option names. The shapes are the ones that broke it before
(issue 16): long chains of calls, attributes, subscripts and operators, deep
brackets and blocks, long ``elif`` and helper chains, implicit string
concatenation, at sizes around the compiler's limits and far past them; the
files carry BOMs, coding declarations, NULs, stray bytes, CR line ends and huge
lines, under names that are not UTF-8.

Command lines (:func:`compile_argv`) cover every subcommand and option with
hostile values. Every path they name lies under the directory the test gives,
or is one of a few safe system paths (``/dev/full``, ``/nonexistent``).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

__all__ = [
    "SHAPES",
    "WORKFLOW_HEAD",
    "compile_argv",
    "hostile_texts",
    "shape_sizes",
    "source_trees",
]

WORKFLOW_HEAD = (
    "from runtime import WorkflowContext, step, workflow\n\n\n"
    '@step("s")\nasync def s(x):\n    return x\n\n\n'
)
"""A step every generated workflow module defines first."""

SHAPES: dict[str, Callable[[int], str]] = {
    "calls": lambda n: "x" + ".f()" * n,
    "attrs": lambda n: "x" + ".a" * n,
    "sum": lambda n: " + ".join(["x"] * n),
    "and": lambda n: " and ".join(["x"] * n),
    "concat": lambda n: " ".join(["'a'"] * n),
    "subscripts": lambda n: "x" + "[0]" * n,
    "indexes": lambda n: "x[" * n + "0" + "]" * n,
    "not": lambda n: "not " * n + "x",
    "neg": lambda n: "-" * n + "x",
    "pow": lambda n: " ** ".join(["x"] * n),
    "ifexp": lambda n: "x if x else " * n + "x",
    "lambda": lambda n: "lambda: " * n + "x",
    "lists": lambda n: "[" * n + "x" + "]" * n,
    "parens": lambda n: "(" * n + "x" + ")" * n,
    "dicts": lambda n: "{1: " * n + "x" + "}" * n,
    "args": lambda n: "len(" * n + "x" + ")" * n,
    "compare": lambda n: " < ".join(["x"] * n),
    "fstring": lambda n: "f'{" + "x." * n + "a}'",
    "list_items": lambda n: "[" + ", ".join(["x"] * n) + "]",
}
"""Expressions of size ``n`` (its nesting for most, its length for the flat ones)."""

shape_sizes = st.one_of(
    st.integers(1, 40),
    st.sampled_from([99, 100, 133, 134, 199, 200, 201, 270, 300, 1_000, 2_000, 3_000, 5_000]),
    st.integers(1, 6_000),
)
"""Sizes around the limits of :mod:`vrb_compile.limits` (200 levels) and Python's own, and beyond."""


def _blocks(kind: str, n: int) -> str:
    """A workflow body nested ``n`` blocks deep (``elif``: a chain of ``n`` branches)."""
    n = min(n, 99)  # Python refuses 100 levels of indentation itself
    if kind == "elif":
        return "    if x == 0:\n        x = await s(x)\n" + "".join(
            f"    elif x == {i}:\n        x = await s(x)\n" for i in range(1, n * 30)
        )
    header = {"if": "if x:", "for": "for i in x:", "while": "while x:", "with": "with x:"}[kind]
    lines = "".join("    " * (i + 1) + header + "\n" for i in range(n))
    return (
        lines
        + "    " * (n + 1)
        + "x = await s(x)\n"
        + "    " * (n + 1)
        + "break\n" * (kind == "while")
    )


def _helpers(n: int, *, asynchronous: bool) -> str:
    defs = "async def" if asynchronous else "def"
    call = "await " if asynchronous else ""
    chain = "".join(f"{defs} h{i}(v):\n    return {call}h{i + 1}(v)\n\n\n" for i in range(n))
    last = f"{defs} h{n}(v):\n    return {'await s(v)' if asynchronous else 'v'}\n\n\n"
    body = "    return await h0(x)\n" if asynchronous else "    y = h0(x)\n    return await s(y)\n"
    return WORKFLOW_HEAD + chain + last + _workflow(body)


def _workflow(body: str) -> str:
    return '@workflow("w", max_events=100)\nasync def w(ctx: WorkflowContext, x):\n' + body


@st.composite
def _module(draw: st.DrawFn) -> str:
    """One module's text holding a pathological construct somewhere."""
    shape = SHAPES[draw(st.sampled_from(sorted(SHAPES)))](draw(shape_sizes))
    where = draw(
        st.sampled_from(
            ["module", "body", "helper", "option", "constant", "blocks", "helpers", "plain"]
        )
    )
    if where == "module":
        return f"x = 1\ny = {shape}\n"
    if where == "body":
        return WORKFLOW_HEAD + _workflow(f"    y = {shape}\n    return await s(y)\n")
    if where == "helper":
        helper = f"def helper(x):\n    return {shape}\n\n\n"
        return WORKFLOW_HEAD + helper + _workflow("    return await s(helper(x))\n")
    if where == "option":
        return WORKFLOW_HEAD + f'@step("t", retries={shape})\nasync def t(x):\n    return x\n'
    if where == "constant":
        return (
            WORKFLOW_HEAD
            + f"R = {shape}\n"
            + '@workflow("w", max_events=R)\n'
            + ("async def w(ctx: WorkflowContext, x):\n    return await s(x)\n")
        )
    if where == "blocks":
        kind = draw(st.sampled_from(["if", "for", "while", "with", "elif"]))
        return WORKFLOW_HEAD + _workflow(_blocks(kind, draw(shape_sizes)) + "    return x\n")
    if where == "helpers":
        return _helpers(min(draw(shape_sizes), 2_500), asynchronous=draw(st.booleans()))
    return WORKFLOW_HEAD + _workflow("    return await s(x)\n")


_PREFIXES = [
    b"",
    b"\xef\xbb\xbf",
    b"# -*- coding: latin-1 -*-\n",
    b"\xef\xbb\xbf# -*- coding: latin-1 -*-\n",
    b"# coding: utf-16\n",
    b"# coding: no-such-codec\n",
    b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n",
    b"\xff\xfe",
]


@st.composite
def _file_bytes(draw: st.DrawFn) -> bytes:
    """A module's bytes, with the odd bytes a file can carry."""
    data = draw(_module()).encode("utf-8")
    if draw(st.integers(0, 3)) == 0:
        data = data.replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\x0c\n", b"\n\n"])))
    odd = draw(st.integers(0, 11))
    if odd == 0 and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    elif odd == 1:
        data += b"z = '" + b"a" * draw(st.sampled_from([10_000, 300_000])) + b"'\n"
    elif odd == 2:
        data += b"# \x00 NUL in a comment\n"
    # mostly clean files, so most examples reach LibCST, the checker and the lowering
    prefix = draw(st.sampled_from(_PREFIXES)) if draw(st.integers(0, 3)) == 0 else b""
    return prefix + data


_NAMES = [
    b"m.py",
    b"flows.py",
    b"sp ace.py",
    b"-dash.py",
    b"bad\xff\xfe.py",
    b"\xed\xa0\x80.py",
    b"caf\xc3\xa9.py",
    b"new\nline.py",
    b"esc\x1b[31m.py",
    b"__init__.py",
]


@st.composite
def source_trees(draw: st.DrawFn) -> dict[bytes, bytes]:
    """A package to check: relative file names (bytes, maybe not UTF-8) to contents."""
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True))
    nested = draw(st.booleans())
    return {
        (b"sub/" if nested and i else b"") + name: draw(_file_bytes())
        for i, name in enumerate(names)
    }


# -- command lines ---------------------------------------------------------------

_EDGES = [
    "",
    " ",
    "-",
    "--",
    "\x00",
    "a\x00b",
    "a\nb",
    "\x1b[31mred",
    "\u202e",
    "\ud800",
    "bad\udcff",
    "x" * 5_000,
    "9" * 5_000,
    "-1",
    "0",
    "1e3",
    "nan",
]
hostile_texts = st.one_of(st.sampled_from(_EDGES), st.text(max_size=30))
"""Texts that broke command lines before, and arbitrary short ones (lone surrogates included)."""

_CODES = st.one_of(
    st.sampled_from(["VRB1", "VRB101", "VRB2,VRB3", "vrb1", "VRB", "VRB999", ",", "VRB1,,"]),
    hostile_texts,
)


def _mostly(good: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``good`` three times in four, else a hostile text: most command lines reach the compiler."""
    return st.integers(0, 3).flatmap(lambda pick: good if pick else hostile_texts)


@st.composite
def compile_argv(
    draw: st.DrawFn, paths: list[str], configs: list[str], keys: list[str]
) -> list[str]:
    """One ``vrb-compile`` command line.

    Args:
        paths: Source paths to choose from (relative to the test's directory).
        configs: Configuration files to choose from (valid ones and broken ones).
        keys: Signing key files to choose from.
    """
    path = _mostly(st.sampled_from(paths))
    outputs = st.one_of(
        st.sampled_from(["out.txt", "outdir", "no/such/dir/x", "/dev/full", "/nonexistent/x", "."]),
        hostile_texts.filter(lambda t: not t.startswith("/")),
    )
    command = draw(
        st.sampled_from(
            ["check"] * 3 + ["build"] * 2 + ["graph"] * 2 + ["rules", "explain", "sign", "none"]
        )
    )
    argv: list[str] = [] if command == "none" else [command]
    if command in ("check", "build", "graph"):
        argv += draw(st.lists(path, min_size=0 if draw(st.integers(0, 9)) == 0 else 1, max_size=2))
        if draw(st.booleans()):
            argv += ["--config", draw(_mostly(st.sampled_from(configs)))]
        elif draw(st.booleans()):
            argv.append("--no-config")
        if draw(st.booleans()):
            argv.append("--no-cache")
    if command == "check":
        options = {
            "--format": _mostly(st.sampled_from(["text", "json", "sarif", "github"])),
            "--select": _CODES,
            "--ignore": _CODES,
            "--jobs": _mostly(st.sampled_from(["1", "1", "2", "0", "x"])),
            "--output": outputs,
        }
        for option in draw(st.lists(st.sampled_from(sorted(options)), max_size=2, unique=True)):
            argv += [option, draw(options[option])]
        if draw(st.integers(0, 5)) == 0 and "--no-cache" not in argv:
            argv.append("--cache")
    elif command == "build":
        if draw(st.integers(0, 5)):
            argv += ["--out", draw(outputs)]
        if draw(st.booleans()):
            argv += ["--sign-key-file", draw(_mostly(st.sampled_from(keys)))]
    elif command == "graph":
        if draw(st.booleans()):
            argv += ["--workflow", draw(_mostly(st.sampled_from(["w", "flow"])))]
        formats = st.sampled_from(["mermaid", "dot", "json", "html"])
        argv += ["--format", draw(_mostly(formats))]
        if draw(st.booleans()):
            argv += ["-o", draw(outputs)]
    elif command == "rules":
        if draw(st.booleans()):
            argv += ["--format", draw(_mostly(st.sampled_from(["text", "json"])))]
    elif command == "explain":
        argv.append(draw(_mostly(st.sampled_from(["VRB101", "vrb001", "VRB999"]))))
    elif command == "sign":
        argv.append(draw(_mostly(st.sampled_from(["built", "outdir", "."]))))
        if draw(st.booleans()):
            argv += ["--sign-key-file", draw(_mostly(st.sampled_from(keys)))]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(
            draw(st.integers(0, len(argv))),
            draw(st.sampled_from(["--version", "--help", "-h", "--bogus"])),
        )
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(hostile_texts))
    return argv
