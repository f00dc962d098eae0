"""``vrb_compile.cli.main`` in-process: what happens when vrb-compile itself is broken."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from vrb_compile import cli


def _add_crashing_command(subparsers: argparse._SubParsersAction[cli._Parser]) -> None:
    parser = subparsers.add_parser("crash-for-test")
    parser.set_defaults(handler=_crash)


def _crash(args: argparse.Namespace) -> int:
    raise ZeroDivisionError("simulated bug")


@pytest.fixture
def crashing_command() -> Iterator[None]:
    cli.SUBCOMMANDS.append(_add_crashing_command)
    yield
    cli.SUBCOMMANDS.remove(_add_crashing_command)


@pytest.mark.usefixtures("crashing_command")
def test_internal_error_is_one_line_asking_for_a_report_and_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VRB_COMPILE_DEBUG", raising=False)
    assert cli.main(["crash-for-test"]) == cli.EXIT_INTERNAL == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("vrb-compile: internal error: ZeroDivisionError: simulated bug;")
    assert "please report it" in lines[0]
    assert "Traceback" not in captured.err


@pytest.mark.usefixtures("crashing_command")
def test_debug_variable_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRB_COMPILE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError, match="simulated bug"):
        cli.main(["crash-for-test"])


def test_main_returns_usage_status_without_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "NOPE"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("vrb-compile: error: unknown rule code 'NOPE'")
