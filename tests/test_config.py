"""[tool.vrb-compile] discovery, validation and merging with the CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrb_compile.config import (
    FileConfig,
    find_config,
    load_config_file,
    parse_code_list,
)
from vrb_compile.errors import ConfigError
from vrb_compile.rules.registry import RULES

KNOWN = tuple(RULES)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_find_config_walks_up_to_the_nearest_table(tmp_path: Path) -> None:
    outer = write(tmp_path / "pyproject.toml", '[tool.vrb-compile]\nignore = ["VRB109"]\n')
    # A pyproject.toml without the table does not stop the search (as ruff does).
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "x"\n')
    start = tmp_path / "pkg" / "sub"
    start.mkdir()
    assert find_config(start) == outer


def test_find_config_returns_none_without_a_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    found = find_config(tmp_path)
    assert found is None or found.parent != tmp_path


def test_load_reads_every_key_and_roots_at_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        "[tool.vrb-compile]\n"
        'select = ["vrb1", "VRB2"]\n'
        'ignore = ["VRB109"]\n'
        'exclude = ["tests/*"]\n'
        'pure = ["mylib.pricing.*"]\n',
    )
    config = load_config_file(path, KNOWN)
    assert config == FileConfig(
        root=tmp_path.resolve(),
        path=path,
        select=("VRB1", "VRB2"),
        ignore=("VRB109",),
        exclude=("tests/*",),
        pure=("mylib.pricing.*",),
    )


def test_pyproject_without_the_table_gives_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config_file(path, KNOWN) == FileConfig(root=tmp_path.resolve(), path=path)


def test_a_dedicated_file_holds_keys_at_top_level(tmp_path: Path) -> None:
    path = write(tmp_path / "vrb.toml", 'ignore = ["VRB3"]\n')
    assert load_config_file(path, KNOWN).ignore == ("VRB3",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('selct = ["VRB1"]', "unknown key 'selct' in [tool.vrb-compile]; expected one of"),
        ('select = "VRB1"', "select must be a list of strings"),
        ("ignore = [101]", "ignore must be a list of strings"),
        ('select = ["XYZ"]', "unknown rule code or prefix 'XYZ'"),
        ('ignore = ["VRB9"]', "unknown rule code or prefix 'VRB9'"),
        ('exclude = [""]', "exclude has an empty pattern"),
    ],
)
def test_invalid_configuration_names_the_file_and_the_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = write(tmp_path / "pyproject.toml", f"[tool.vrb-compile]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(path, KNOWN)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.vrb-compile\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config_file(path, KNOWN)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config_file(tmp_path / "absent.toml", KNOWN)


def test_parse_code_list_splits_strips_and_upper_cases() -> None:
    assert parse_code_list(" vrb101, VRB2 ,,", KNOWN, "--select") == ("VRB101", "VRB2")


def test_parse_code_list_rejects_unknown_prefixes_from_the_command_line() -> None:
    with pytest.raises(ConfigError, match=r"^command line: --ignore: unknown rule code"):
        parse_code_list("VRB101,NOPE", KNOWN, "--ignore")
