"""Reading a graph file back, trusting nothing in it."""

from __future__ import annotations

import os

from pydantic import ValidationError
from pydantic_core import from_json

from ..errors import GraphLoadError
from ..files import NotRegularFile, read_regular
from .fields import name_problems
from .graph import GraphInvalid, validate
from .models import SCHEMA_VERSION, Graph, compute_hash

__all__ = ["MAX_GRAPH_BYTES", "MAX_JSON_DEPTH", "load_graph", "parse_graph"]

MAX_GRAPH_BYTES = 64 * 1024 * 1024
"""The largest graph file read, in bytes (the largest example is 40 kB)."""

MAX_JSON_DEPTH = 200
"""How deep a graph file's JSON may nest: pydantic-core's parser stops there (a graph needs 6)."""


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(_part(part) for part in first["loc"]) or "top level"
    count = error.error_count()
    more = f" (and {count - 1} more problems)" if count > 1 else ""
    return f"{where}: {_one_line(first['msg'])}{more}"


def _part(part: object) -> str:
    # A key of the file (an unknown field) is the file's text: shown short and quoted.
    text = str(part)
    return text if text.isidentifier() or text.isdigit() else _one_line(repr(text), 40)


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def parse_graph(text: str | bytes, *, origin: str = "<graph>") -> Graph:
    """Parse and verify the text of a graph file, refusing what it cannot vouch for.

    Refused, each with one line: more than :data:`MAX_GRAPH_BYTES`; text that is
    not UTF-8 (a lone surrogate, invalid bytes); JSON that is invalid, uses
    ``NaN``/``Infinity``, holds an integer of more than 4,300 digits or nests
    deeper than :data:`MAX_JSON_DEPTH` levels (checked by pydantic-core's parser,
    which never recurses on the Python stack); another schema version; anything
    the model or :func:`~vrb_compile.ir.graph.validate` refuses (so a graph that
    loads never makes the interpreter fail); a hash that does not match the content.

    Args:
        text: The file's content.
        origin: Name used in error messages (the path).

    Returns:
        The validated graph.

    Raises:
        GraphLoadError: The text cannot be trusted as a graph; the message says why.
    """
    if len(text) > MAX_GRAPH_BYTES:
        raise GraphLoadError(
            origin,
            f"refused: {len(text)} bytes, over the {MAX_GRAPH_BYTES} a graph file may have",
        )
    if isinstance(text, str):
        try:
            text = text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise GraphLoadError(
                origin,
                f"not a JSON graph file: it holds the lone surrogate U+{ord(error.object[error.start]):04X} "
                f"at character {error.start}, which UTF-8 cannot encode; rebuild it",
            ) from None
    if len(text) > MAX_GRAPH_BYTES:
        raise GraphLoadError(
            origin,
            f"refused: {len(text)} bytes, over the {MAX_GRAPH_BYTES} a graph file may have",
        )
    try:
        data = from_json(text, allow_inf_nan=False)
    except ValueError as error:
        raise GraphLoadError(origin, f"not a JSON graph file ({_json_problem(error)})") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise GraphLoadError(
            origin, "not a step graph: no schema_version; rebuild with vrb-compile build"
        )
    version = data["schema_version"]
    # ``True == 1`` and ``1.0 == 1`` in Python: the version must be the JSON integer.
    if type(version) is not int or version != SCHEMA_VERSION:
        shown = _one_line(repr(version), 40)
        raise GraphLoadError(
            origin,
            f"graph schema version {shown} is not supported (this compiler reads "
            f"version {SCHEMA_VERSION}); rebuild it with this vrb-compile",
        )
    try:
        graph = Graph.model_validate(data)
    except ValidationError as error:
        raise GraphLoadError(origin, f"not a valid step graph: {_first_error(error)}") from None
    try:
        # The names a file holds go into stores and messages: the runtime's rule.
        problems = name_problems(graph)
        if problems:
            raise GraphInvalid(graph.workflow.name, problems)
        validate(graph)
    except GraphInvalid as error:
        more = f" (and {len(error.problems) - 3} more)" if len(error.problems) > 3 else ""
        raise GraphLoadError(
            origin,
            f"invalid step graph: {'; '.join(error.problems[:3])}{more}; rebuild the graphs "
            "with vrb-compile build",
        ) from None
    expected = compute_hash(graph)
    if graph.hash != expected:
        raise GraphLoadError(
            origin,
            f"hash mismatch: the file says {graph.hash[:12]}... but its content hashes to "
            f"{expected[:12]}...; the file was edited or corrupted, rebuild it",
        )
    return graph


def _json_problem(error: ValueError) -> str:
    """pydantic-core's parse error, said in the terms of this format."""
    message = " ".join(str(error).split())
    if "recursion limit exceeded" in message:
        return f"it nests deeper than the {MAX_JSON_DEPTH} levels a graph file may have, {message}"
    if "surrogate" in message or "hex escape" in message:
        return f"a \\u escape that is not a character, {message}"
    if "number out of range" in message:
        return f"a number too large, {message}"
    return message


def load_graph(path: str | os.PathLike[str]) -> Graph:
    """Load and verify a graph file written by ``vrb-compile build``.

    Only a regular file of at most :data:`MAX_GRAPH_BYTES` is read (a FIFO is
    refused without waiting for a writer).

    Raises:
        GraphLoadError: The file cannot be read or cannot be trusted (see
            :func:`parse_graph`), with one line saying why.
    """
    display = os.fspath(path)
    try:
        data, _ = read_regular(path, MAX_GRAPH_BYTES)
    except NotRegularFile:
        raise GraphLoadError(display, "refused: not a regular file") from None
    except OSError as error:
        raise GraphLoadError(
            display, f"cannot read graph file ({error.strerror or error})"
        ) from None
    return parse_graph(data, origin=display)
