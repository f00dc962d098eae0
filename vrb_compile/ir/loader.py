"""Reading a graph file back, trusting nothing in it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from ..errors import GraphLoadError
from .graph import GraphInvalid, validate
from .models import SCHEMA_VERSION, Graph, compute_hash

__all__ = ["load_graph", "parse_graph"]


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "top level"
    count = error.error_count()
    more = f" (and {count - 1} more problems)" if count > 1 else ""
    return f"{where}: {first['msg']}{more}"


def parse_graph(text: str | bytes, *, origin: str = "<graph>") -> Graph:
    """Parse and verify the text of a graph file.

    Args:
        text: The file's content.
        origin: Name used in error messages (the path).

    Returns:
        The validated graph.

    Raises:
        GraphLoadError: The text is not JSON, has another schema version, does not
            match the model, fails structural validation, or its hash does not
            match its content.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GraphLoadError(origin, f"not a JSON graph file ({error})") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise GraphLoadError(
            origin, "not a step graph: no schema_version; rebuild with vrb-compile build"
        )
    version = data["schema_version"]
    # ``True == 1`` and ``1.0 == 1`` in Python: the version must be the JSON integer.
    if type(version) is not int or version != SCHEMA_VERSION:
        raise GraphLoadError(
            origin,
            f"graph schema version {version!r} is not supported (this compiler reads "
            f"version {SCHEMA_VERSION}); rebuild it with this vrb-compile",
        )
    try:
        graph = Graph.model_validate(data)
    except ValidationError as error:
        raise GraphLoadError(origin, f"not a valid step graph: {_first_error(error)}") from None
    try:
        validate(graph)
    except GraphInvalid as error:
        raise GraphLoadError(
            origin, f"invalid step graph: {'; '.join(error.problems[:3])}"
        ) from None
    expected = compute_hash(graph)
    if graph.hash != expected:
        raise GraphLoadError(
            origin,
            f"hash mismatch: the file says {graph.hash[:12]}... but its content hashes to "
            f"{expected[:12]}...; the file was edited or corrupted, rebuild it",
        )
    return graph


def load_graph(path: str | os.PathLike[str]) -> Graph:
    """Load and verify a graph file written by ``vrb-compile build``.

    Raises:
        GraphLoadError: The file cannot be read or cannot be trusted (see
            :func:`parse_graph`), with one line saying why.
    """
    display = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise GraphLoadError(
            display, f"cannot read graph file ({error.strerror or error})"
        ) from None
    return parse_graph(data, origin=display)
