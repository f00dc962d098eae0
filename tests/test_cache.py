"""The check cache cannot change a verdict: a poisoned ``.vrb_cache`` is a miss.

Every poison below is first shown to work when its entries carry a MAC under
this machine's key (the control: the key is all that stands between a cache
and a verdict), then shown to change nothing when forged any other way, and
``build`` never takes a verdict from the cache, even an authentic one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vrb_compile import cli
from vrb_compile.api import CheckConfig, CheckResult, check_paths
from vrb_compile.build import build_paths, compile_paths
from vrb_compile.cache import KEY_FILE_ENV, load_key, reads_allowed

FILES = {
    "shop/__init__.py": "",
    "shop/steps.py": 'from runtime import step\n\n\n@step("charge")\nasync def charge(amount):\n'
    "    return amount\n",
    "shop/helpers.py": "import time\n\n\ndef stamp():\n    return time.time()\n",
    "shop/flows.py": textwrap.dedent(
        """\
        import time

        from runtime import workflow

        from .helpers import stamp
        from .steps import charge


        @workflow("clock-flow")
        async def clock_flow(ctx, order):
            started = time.time()
            paid = await charge(order["total"])
            return {"paid": paid, "started": started, "at": stamp()}
        """
    ),
    "shop/clean.py": 'from runtime import workflow\n\nfrom .steps import charge\n\n\n@workflow("clean-flow")\n'
    "async def clean_flow(ctx, order):\n    return await charge(order)\n",
}
#: What a check with no cache reports.
VERDICT = [("VRB101", "shop/flows.py", 11), ("VRB101", "shop/helpers.py", 5)]

Payload = dict[str, Any]
Poison = Callable[[str, Payload], Payload | None]


def _drop_diagnostics(kind: str, data: Payload) -> Payload | None:
    return {**data, "diagnostics": []} if kind == "result" else None


def _in_flows_summary(change: Callable[[Payload], None]) -> Poison:
    def poison(kind: str, data: Payload) -> Payload | None:
        if kind != "summary" or data["display_path"] != "shop/flows.py":
            return None
        change(data)
        return data

    return poison


def _drop_workflows(data: Payload) -> None:
    data["workflows"] = []


def _rebind_time(data: Payload) -> None:
    data["symbols"]["bindings"]["time"] = [["external", "math", False, "", False]]


def _helper_is_builtin(data: Payload) -> None:
    data["symbols"]["bindings"]["stamp"] = [["builtin", "len", False, "", False]]


POISONS: dict[str, Poison] = {
    "results lose their diagnostics": _drop_diagnostics,
    "the summary drops the workflow": _in_flows_summary(_drop_workflows),
    "the summary rebinds the clock import": _in_flows_summary(_rebind_time),
    "the summary makes the helper a pure builtin": _in_flows_summary(_helper_is_builtin),
}


def _mac(key: bytes, kind: str, name: str, payload: bytes) -> str:
    message = b"\0".join((b"vrb-compile-cache 1 ", kind.encode(), name.encode(), payload))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _signed(key: bytes, kind: str, name: str, payload: bytes) -> bytes:
    return f"vrb-compile-cache 1 {_mac(key, kind, name, payload)}\n".encode() + payload


Forge = Callable[[str, str, bytes, bytes], bytes]


def _no_mac(kind: str, name: str, header: bytes, payload: bytes) -> bytes:
    return payload  # the format before entries were authenticated


def _empty_mac(kind: str, name: str, header: bytes, payload: bytes) -> bytes:
    return b"vrb-compile-cache 1 \n" + payload


def _stale_mac(kind: str, name: str, header: bytes, payload: bytes) -> bytes:
    return header + b"\n" + payload  # edited in place, MAC left as it was


def _other_machine(kind: str, name: str, header: bytes, payload: bytes) -> bytes:
    return _signed(b"\x07" * 32, kind, name, payload)


def _zero_mac(kind: str, name: str, header: bytes, payload: bytes) -> bytes:
    return b"vrb-compile-cache 1 " + b"0" * 64 + b"\n" + payload


FORGERS: dict[str, Forge] = {
    "MAC removed": _no_mac,
    "MAC emptied": _empty_mac,
    "MAC not updated": _stale_mac,
    "MAC under another machine's key": _other_machine,
    "MAC of zeros": _zero_mac,
}


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's key location, outside the project; no CI in the environment."""
    path = tmp_path / "home" / ".cache" / "vrb-compile" / "cache.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VRB_COMPILE_CACHE", raising=False)
    return path


@pytest.fixture
def project(tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(root)
    return root


def _check(root: Path, **config: Any) -> CheckResult:
    options: dict[str, Any] = {"jobs": 1, "cache_dir": root / ".vrb_cache", **config}
    return check_paths([root / "shop"], CheckConfig(**options), cwd=root)


def _verdict(result: CheckResult) -> list[tuple[str, str, int]]:
    return [(d.code, d.path, d.line) for d in result.diagnostics]


def _entries(root: Path) -> Iterator[tuple[str, Path]]:
    for kind in ("summary", "result"):
        for path in sorted((root / ".vrb_cache" / kind).glob("*.json")):
            yield kind, path


def _poison(root: Path, poison: Poison, forge: Callable[[str, str, bytes, bytes], bytes]) -> int:
    """Rewrite every entry ``poison`` changes, written by ``forge``; how many it changed."""
    changed = 0
    for kind, path in _entries(root):
        header, _, payload = path.read_bytes().partition(b"\n")
        data = poison(kind, json.loads(payload))
        forged = json.dumps(data, separators=(",", ":")).encode()
        if data is not None and forged != payload:
            path.write_bytes(forge(kind, path.stem, header, forged))
            changed += 1
    return changed


def _genuine(key_file: Path) -> Forge:
    key = load_key(key_file)
    assert key is not None

    def forge(kind: str, name: str, header: bytes, payload: bytes) -> bytes:
        return _signed(key, kind, name, payload)

    return forge


def _warm(root: Path) -> CheckResult:
    result = _check(root)
    assert _verdict(result) == VERDICT
    assert len(list(_entries(root))) == 7  # five summaries, two results
    return result


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
def test_the_poisons_work_with_this_machines_key(
    project: Path, key_file: Path, poison: Poison
) -> None:
    _warm(project)
    assert _poison(project, poison, _genuine(key_file))
    assert _verdict(_check(project)) != VERDICT  # the key is what keeps them out


@pytest.mark.parametrize("forge", FORGERS.values(), ids=FORGERS.keys())
@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
def test_a_poisoned_cache_changes_no_verdict(project: Path, poison: Poison, forge: Forge) -> None:
    _warm(project)
    changed = _poison(project, poison, forge)
    assert changed
    result = _check(project)
    assert _verdict(result) == VERDICT
    assert result.cache is not None
    assert result.cache.rejected == changed
    # Recomputed and rewritten: the next check takes every entry from the cache.
    again = _check(project)
    assert _verdict(again) == VERDICT
    assert again.cache is not None
    assert (again.cache.hits, again.cache.misses, again.cache.rejected) == (7, 0, 0)


def test_an_authentic_entry_moved_to_another_entrys_name_is_refused(project: Path) -> None:
    _warm(project)
    # The clean workflow's result (no diagnostics, valid MAC) in place of the clock's.
    results = {
        json.loads(path.read_bytes().partition(b"\n")[2])["diagnostics"] == []: path
        for kind, path in _entries(project)
        if kind == "result"
    }
    results[False].write_bytes(results[True].read_bytes())
    result = _check(project)
    assert _verdict(result) == VERDICT
    assert result.cache is not None
    assert result.cache.rejected == 1


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _device(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "empty": lambda path: path.write_bytes(b""),
    "header only": lambda path: path.write_bytes(path.read_bytes().partition(b"\n")[0]),
    "truncated mid-MAC": lambda path: path.write_bytes(path.read_bytes()[:40]),
    "truncated mid-payload": lambda path: path.write_bytes(path.read_bytes()[:-7]),
    "a JSON list": lambda path: path.write_text("[1, 2, 3]"),
    "a JSON string": lambda path: path.write_text('"diagnostics"'),
    "JSON null": lambda path: path.write_text("null"),
    "an object of other keys": lambda path: path.write_text('{"mac": 1, "data": {"deps": {}}}'),
    "deeply nested JSON": lambda path: path.write_text("[" * 100_000 + "]" * 100_000),
    "a non-ASCII MAC": lambda path: path.write_bytes(
        "vrb-compile-cache 1 é\n{}".encode() + b"\xff\xfe"
    ),
    "binary garbage": lambda path: path.write_bytes(bytes(range(256)) * 4),
    "a FIFO": _fifo,
    "a directory": _directory,
    "a device": _device,
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_entries_are_misses_never_crashes(
    project: Path, corrupt: Callable[[Path], None]
) -> None:
    _warm(project)
    for _, path in _entries(project):
        corrupt(path)
    result = _check(project)
    assert _verdict(result) == VERDICT
    assert result.cache is not None
    assert result.cache.rejected == 7


def test_a_valid_cache_is_used_and_not_rewritten(project: Path) -> None:
    cold = _warm(project)
    assert cold.cache is not None
    assert cold.cache.hits == 0
    files = {path: path.stat() for _, path in _entries(project)}
    warm = _check(project)
    assert warm == cold
    assert warm.cache is not None
    assert (warm.cache.hits, warm.cache.misses, warm.cache.rejected) == (7, 0, 0)
    # Rewriting replaces a file (new inode): an entry read from the cache is left alone.
    assert {path: (s.st_ino, s.st_mtime_ns) for path, s in files.items()} == {
        path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in files
    }


def test_a_new_key_invalidates_every_entry(project: Path, key_file: Path) -> None:
    _warm(project)
    key_file.unlink()  # ~/.cache cleaned: a new key is created, the old entries fail
    result = _check(project)
    assert _verdict(result) == VERDICT
    assert result.cache is not None
    assert result.cache.rejected == 7
    assert load_key(key_file) is not None


# --------------------------------------------------------------------------- build


def test_build_never_takes_a_verdict_from_the_cache(project: Path, key_file: Path) -> None:
    _warm(project)
    _poison(project, _drop_diagnostics, _genuine(key_file))
    assert _verdict(_check(project)) == []  # authentic entries: check would pass
    config = CheckConfig(jobs=1, cache_dir=project / ".vrb_cache")
    compiled = compile_paths([project / "shop"], config, cwd=project)
    assert _verdict(compiled.check) == VERDICT
    assert compiled.graphs == ()
    assert compiled.check.cache is not None
    assert compiled.check.cache.hits == 0
    built = build_paths([project / "shop"], project / "out", config, cwd=project)
    assert _verdict(built.check) == VERDICT
    assert built.built == ()
    assert not (project / "out").exists()


@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
def test_the_cli_check_and_build_refuse_whatever_the_cache_says(
    project: Path, key_file: Path, poison: Poison, capsys: pytest.CaptureFixture[str]
) -> None:
    _warm(project)
    _poison(project, poison, _other_machine)
    assert cli.main(["check", "shop"]) == cli.EXIT_ERRORS
    captured = capsys.readouterr()
    assert "shop/flows.py:11:15: VRB101" in captured.out
    assert "shop/helpers.py:5:12: VRB101" in captured.out
    assert "failed authentication" in captured.err
    # The same poison under this machine's key: check would pass, build still refuses.
    _poison(project, poison, _genuine(key_file))
    assert cli.main(["build", "shop", "--out", "out"]) == cli.EXIT_ERRORS
    captured = capsys.readouterr()
    assert "shop/flows.py:11:15: VRB101" in captured.err
    assert "shop/helpers.py:5:12: VRB101" in captured.err
    assert "nothing was compiled" in captured.err
    assert not (project / "out").exists()
    assert cli.main(["graph", "shop", "--workflow", "clock-flow"]) == cli.EXIT_ERRORS


# --------------------------------------------------------------------------- CI


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),
        ({"CI": ""}, True),
        ({"CI": "false"}, True),
        ({"CI": "0"}, True),
        ({"CI": "true"}, False),
        ({"CI": "True"}, False),
        ({"CI": "1"}, False),
        ({"CI": "woodpecker"}, False),
        ({"CI": "true", "VRB_COMPILE_CACHE": "1"}, True),
        ({"CI": "true", "VRB_COMPILE_CACHE": "0"}, False),
    ],
)
def test_ci_reads_no_cache_unless_asked(env: dict[str, str], allowed: bool) -> None:
    assert reads_allowed(env) is allowed


def test_under_ci_the_cli_reads_no_cache_unless_asked(
    project: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm(project)
    genuine = _genuine(key_file)
    monkeypatch.setenv("CI", "true")
    _poison(project, _drop_diagnostics, genuine)
    assert cli.main(["check", "shop"]) == cli.EXIT_ERRORS  # not read ...
    rewritten = _check(project)  # ... but written afresh
    assert _verdict(rewritten) == VERDICT
    assert rewritten.cache is not None
    assert rewritten.cache.hits == 7
    _poison(project, _drop_diagnostics, genuine)
    assert cli.main(["check", "shop", "--cache"]) == cli.EXIT_OK  # read when asked
    monkeypatch.setenv("VRB_COMPILE_CACHE", "1")
    assert cli.main(["check", "shop"]) == cli.EXIT_OK


# --------------------------------------------------------------------------- the key


def test_the_key_is_private_random_and_created_once(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "vrb-compile" / "cache.key"
    key = load_key(path)
    assert key is not None
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(path) == key
    assert load_key(tmp_path / "other.key") != key
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_the_key_is_created_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "cache.key"
    key = load_key(path)
    assert key is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key


_RACER = """
import os, sys, time
from pathlib import Path
from vrb_compile.cache import load_key
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.0005)
key = load_key(Path(sys.argv[1]))
print(key.hex() if key else "none")
"""


def test_processes_creating_the_key_at_once_agree(tmp_path: Path) -> None:
    for attempt in range(3):
        path = tmp_path / f"try{attempt}" / "cache.key"
        go = tmp_path / f"go{attempt}"
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, str(path), str(go)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        go.touch()
        keys = {racer.communicate(timeout=60)[0].strip() for racer in racers}
        assert keys == {path.read_text().strip()}
        assert list(path.parent.iterdir()) == [path]


def _unusable_parent(key_file: Path) -> None:
    key_file.parent.parent.mkdir(parents=True)
    key_file.parent.write_text("a file where the key's directory should be")


def _shared_with_others(key_file: Path) -> None:
    assert load_key(key_file) is not None
    key_file.chmod(0o644)


def _not_a_key(key_file: Path) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_text("swordfish\n")
    key_file.chmod(0o600)


def _fifo_key(key_file: Path) -> None:
    key_file.parent.mkdir(parents=True)
    os.mkfifo(key_file, 0o600)


UNUSABLE_KEYS: dict[str, Callable[[Path], None]] = {
    "location cannot be created": _unusable_parent,
    "readable by others": _shared_with_others,
    "not a key": _not_a_key,
    "a FIFO": _fifo_key,
}


@pytest.mark.parametrize("spoil", UNUSABLE_KEYS.values(), ids=UNUSABLE_KEYS.keys())
def test_without_a_usable_key_the_cache_is_not_used(
    project: Path, key_file: Path, spoil: Callable[[Path], None]
) -> None:
    spoil(key_file)
    for _ in range(2):
        result = _check(project)
        assert _verdict(result) == VERDICT
        assert result.cache is not None
        assert result.cache.hits == 0
    assert not (project / ".vrb_cache").exists()


def test_a_key_inside_the_cache_directory_disables_the_cache(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_FILE_ENV, str(project / ".vrb_cache" / "cache.key"))
    assert _verdict(_check(project)) == VERDICT
    assert not (project / ".vrb_cache").exists()
