"""Signed builds: old versions (whose source is gone) run only when the build's key signed them.

A version a run is pinned to cannot be recompiled, so a worker given a key
(``graph_key=``, ``VRB_GRAPH_KEY``, ``vrb worker --graph-key-file``) reads only
files whose HMAC-SHA256 the key verifies, the manifest included. The old version
here is built from a variant of tests/integrity/flows.py under the same module
name (its result says ``"version": 1``); a run pinned to it finishes on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tests.integrity.flows  # noqa: F401 - registers the workflow
from runtime import Client, Worker
from runtime.errors import ConfigurationError
from runtime.graphs import GraphLibrary
from runtime.stores import open_store
from vrb_compile.build import build_paths, sign_build
from vrb_compile.ir.models import Graph, compute_hash
from vrb_compile.ir.signing import GraphKey, GraphKeyError, signature_path

from .test_graph_integrity import FAST, FLOW, FLOWS_FILE, ROOT, tamper

KEY = b"k" * 16 + b"0123456789abcdef-graph-key"
OTHER_KEY = b"o" * 40


def _old_version(tmp_path: Path, graphs: Path, key: bytes | None) -> str:
    """Build the variant as the first version of the workflow; its hash."""
    project = tmp_path / "old-project"
    package = project / "tests" / "integrity"
    package.mkdir(parents=True)
    (project / "tests" / "__init__.py").write_text("")
    for name in ("__init__.py", "helpers.py", "steps.py"):
        shutil.copy(ROOT / "tests" / "integrity" / name, package / name)
    text = FLOWS_FILE.read_text()
    old = '    return {"total": total + last + pair[0], "got": got}'
    assert old in text
    (package / "flows.py").write_text(text.replace(old, old[:-1] + ', "version": 1}'))
    gkey = GraphKey(key) if key else None
    (built,) = build_paths([package / "flows.py"], graphs, cwd=project, key=gkey).built
    return built.hash


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, str, str]:
    """A build signed with KEY: an old version, then the newest; (dir, old hash, new hash)."""
    graphs = tmp_path / "graphs"
    old = _old_version(tmp_path, graphs, KEY)
    (new,) = build_paths([FLOWS_FILE], graphs, cwd=ROOT, key=GraphKey(KEY)).built
    assert old != new.hash
    return graphs, old, new.hash


async def _finish_pinned(url: str, graphs: Path, graph_hash: str, key: bytes | None) -> Any:
    """A run pinned to ``graph_hash``, served to its end by a worker holding ``key``."""
    store = open_store(url)
    try:
        record, _ = await store.create_run("pinned-run", FLOW, [5], graph_hash=graph_hash)
    finally:
        await store.close()
    client = Client(url)
    try:
        worker = Worker(client, graphs, graph_key=key, **FAST)
        await worker.run_until_idle(timeout=60)
        await client.workflow.send_signal(record.run_id, "integrity-go", "ok")
        await worker.run_until_idle(timeout=60)
        return await client.workflow.get_run(record.run_id)
    finally:
        await client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        found: str = request.getfixturevalue("postgres_url")
        return found
    return f"sqlite:///{tmp_path / 'vrb.db'}"


def test_a_signed_build_runs_old_and_new_versions(signed: tuple[Path, str, str], url: str) -> None:
    graphs, old, _ = signed
    for path in [graphs / "manifest.json", *graphs.rglob("*.graph.json")]:
        assert signature_path(path).is_file(), path
    run = asyncio.run(_finish_pinned(url, graphs, old, KEY))
    assert run.status == "completed", run.error
    assert run.result == {"total": 165, "got": "ok", "version": 1}


def test_a_worker_refuses_a_forged_old_version_and_leaves_its_run_alone(
    signed: tuple[Path, str, str], url: str
) -> None:
    graphs, old, _ = signed
    path = graphs / "versions" / FLOW / f"{old}.graph.json"
    data = json.loads(path.read_text())
    _final_return(data)["value"] = "__import__('os').getpid()"
    path.write_text(json.dumps(data))

    async def scenario() -> None:
        store = open_store(url)
        try:
            await store.create_run("pinned-run", FLOW, [5], graph_hash=old)
        finally:
            await store.close()
        client = Client(url)
        try:
            worker = Worker(client, graphs, graph_key=KEY, **FAST)
            with pytest.raises(ConfigurationError, match=r"signature does not match"):
                await worker.run_until_idle(timeout=60)
            history = await client.workflow.history("pinned-run")
            assert [event.type for event in history] == ["run_created"]
        finally:
            await client.close()

    asyncio.run(scenario())


def _final_return(data: dict[str, Any]) -> dict[str, Any]:
    (node,) = [n for n in data["nodes"] if n["kind"] == "return" and "got" in (n["value"] or "")]
    return node


def _load(graphs: Path, key: bytes | None = KEY) -> list[str]:
    return GraphLibrary(graphs, key=key).load([FLOW])


def test_a_worker_with_a_key_refuses_an_unsigned_build(tmp_path: Path) -> None:
    graphs = tmp_path / "graphs"
    assert build_paths([FLOWS_FILE], graphs, cwd=ROOT).built
    with pytest.raises(ConfigurationError, match=r"manifest.json: refused: it is not signed"):
        _load(graphs)
    assert _load(graphs, key=None) == [FLOW]  # without a key: trusted as the code is


def test_an_old_version_edited_after_signing_is_refused(signed: tuple[Path, str, str]) -> None:
    graphs, old, _ = signed
    path = graphs / "versions" / FLOW / f"{old}.graph.json"
    data = json.loads(path.read_text())
    node = _final_return(data)
    node["value"] = "__import__('os').getpid()"
    path.write_text(json.dumps(data))  # the name keeps the old hash; the sig the old bytes
    with pytest.raises(ConfigurationError, match=r"signature does not match its content"):
        _load(graphs)


def test_a_forged_old_version_under_its_own_hash_is_refused(
    signed: tuple[Path, str, str], tmp_path: Path
) -> None:
    graphs, old, _ = signed
    data = json.loads((graphs / "versions" / FLOW / f"{old}.graph.json").read_text())
    data["nodes"][-1]["line"] = 2  # any change will do
    node = _final_return(data)
    node["value"] = "{'total': 0}"
    data["hash"] = compute_hash(Graph.model_validate(data))
    forged = graphs / "versions" / FLOW / f"{data['hash']}.graph.json"
    forged.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match=rf"{data['hash']}.graph.json: refused: it is not"):
        _load(graphs)
    # Signed with a key of the attacker's own: named as such.
    relpath = forged.relative_to(graphs).as_posix()
    signature_path(forged).write_text(GraphKey(OTHER_KEY).sign(relpath, forged.read_bytes()))
    with pytest.raises(ConfigurationError, match=r"it is signed with another key"):
        _load(graphs)
    # A genuine signature of another file, copied beside the forgery.
    shutil.copy(
        signature_path(graphs / "versions" / FLOW / f"{old}.graph.json"), signature_path(forged)
    )
    with pytest.raises(ConfigurationError, match=r"signature does not match its content"):
        _load(graphs)


def test_a_manifest_edited_after_signing_is_refused(signed: tuple[Path, str, str]) -> None:
    graphs, _old, _ = signed
    manifest = graphs / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"compiler_version"', '"compiler_version" '))
    with pytest.raises(ConfigurationError, match=r"manifest.json: refused: its signature"):
        _load(graphs)


def test_a_garbage_or_missing_signature_is_refused(signed: tuple[Path, str, str]) -> None:
    graphs, _, _ = signed
    sig = signature_path(graphs / f"{FLOW}.graph.json")
    for garbage in ["", "{", "[]", '{"alg": "none", "mac": "", "key_id": ""}', "x" * 10000]:
        sig.write_text(garbage)
        with pytest.raises(ConfigurationError, match=r"not a vrb-compile signature"):
            _load(graphs)
    sig.unlink()
    with pytest.raises(ConfigurationError, match=r"refused: it is not signed"):
        _load(graphs)


def test_a_tampered_newest_graph_is_refused_even_when_resigned_with_the_key(
    signed: tuple[Path, str, str],
) -> None:
    # Whoever holds the key still cannot run what the module does not say.
    graphs, _, _ = signed

    def edit(data: dict[str, Any]) -> None:
        node = _final_return(data)
        node["value"] = "{'total': 0}"

    tamper(graphs, edit)
    sign_build(graphs, GraphKey(KEY))
    with pytest.raises(ConfigurationError, match=r"is not what tests.integrity.flows compiles to"):
        _load(graphs)


def test_keys_must_be_long_enough_and_readable(tmp_path: Path) -> None:
    with pytest.raises(GraphKeyError, match=r"is 5 bytes; a graph signing key needs at least 32"):
        GraphKey(b"short")
    with pytest.raises(GraphKeyError, match=r"cannot read the graph signing key file"):
        GraphKey.from_file(tmp_path / "missing.key")
    with pytest.raises(ConfigurationError, match=r"needs at least 32"):
        GraphLibrary(tmp_path, key="short")
    assert "secret" not in repr(GraphKey(b"secret" * 8))
    # Planted in the key's place, a FIFO is refused unread and /dev/zero is not read for ever.
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo)
    with pytest.raises(GraphKeyError, match=r"fifo.key: not a regular file"):
        GraphKey.from_file(fifo)
    with pytest.raises(GraphKeyError, match=r"/dev/zero: not a regular file"):
        GraphKey.from_file("/dev/zero")
    big = tmp_path / "big.key"
    big.write_bytes(b"k" * 5000)
    with pytest.raises(GraphKeyError, match=r"is over 4096 bytes: not a key file"):
        GraphKey.from_file(big)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_the_command_lines_sign_and_verify(tmp_path: Path) -> None:
    key_file = tmp_path / "graph.key"
    key_file.write_bytes(KEY + b"\n")
    graphs = tmp_path / "graphs"
    unsigned = _cli("vrb_compile", "build", str(FLOWS_FILE), "--out", str(graphs))
    assert unsigned.returncode == 0, unsigned.stderr
    # A worker given the key refuses the unsigned build: exit 2, one line, before serving.
    worker = _cli(
        "runtime.cli",
        "worker",
        "tests.integrity.flows",
        "--graphs",
        str(graphs),
        "--graph-key-file",
        str(key_file),
        "--db",
        f"sqlite:///{tmp_path / 'vrb.db'}",
    )
    assert worker.returncode == 2, worker.stderr
    assert worker.stderr.count("\n") == 1
    assert "manifest.json: refused: it is not signed" in worker.stderr
    # Rebuilding with the key signs the newest files and says which are left unsigned.
    rebuilt = _cli(
        "vrb_compile",
        "build",
        str(FLOWS_FILE),
        "--out",
        str(graphs),
        env={"VRB_GRAPH_KEY": KEY.decode()},
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"signed with key {GraphKey(KEY).key_id}" in rebuilt.stdout
    assert "warning" not in rebuilt.stderr  # the one version is this build's graph: signed too
    assert GraphLibrary(graphs, key=KEY).load([FLOW]) == [FLOW]
    # An older unsigned version is reported, and `sign` vouches for it on request.
    _old_version(tmp_path, graphs.parent / "unsigned-old", None)
    for path in (graphs.parent / "unsigned-old" / "versions" / FLOW).glob("*.graph.json"):
        shutil.copy(path, graphs / "versions" / FLOW / path.name)
    again = _cli(
        "vrb_compile",
        "build",
        str(FLOWS_FILE),
        "--out",
        str(graphs),
        "--sign-key-file",
        str(key_file),
    )
    assert again.returncode == 0
    assert "1 file(s)" in again.stderr
    assert "vrb-compile sign" in again.stderr
    with pytest.raises(ConfigurationError, match=r"refused: it is not signed"):
        GraphLibrary(graphs, key=KEY).load([FLOW])
    signing = _cli("vrb_compile", "sign", str(graphs), "--sign-key-file", str(key_file))
    assert signing.returncode == 0, signing.stderr
    assert "1 file(s)" in signing.stdout
    assert GraphLibrary(graphs, key=KEY).load([FLOW]) == [FLOW]
    # A short key is a usage error of one line.
    key_file.write_text("short\n")
    short = _cli("vrb_compile", "sign", str(graphs), "--sign-key-file", str(key_file))
    assert short.returncode == 2
    assert short.stderr.count("\n") == 1
    assert "needs at least 32" in short.stderr


def test_sign_refuses_a_file_that_is_not_the_graph_its_place_says(
    signed: tuple[Path, str, str],
) -> None:
    graphs, old, new = signed
    (graphs / "versions" / FLOW / f"{old}.graph.json").write_text(
        (graphs / "versions" / FLOW / f"{new}.graph.json").read_text()
    )
    from vrb_compile.errors import UsageError

    with pytest.raises(UsageError, match=r"not what its place in the build says; not signed"):
        sign_build(graphs, GraphKey(KEY))
