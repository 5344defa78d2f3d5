"""YAML that would cost minutes or the stack is refused at once: alias bombs and deep nesting (exit 78)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lowops.config import load_project
from lowops.config_yaml import MAX_YAML_DEPTH, MAX_YAML_NODES
from lowops.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "lowops.yaml"
    path.write_text(text)
    return path


def _bomb(levels: int) -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    previous = "a"
    for name in "bcdefghijk"[:levels]:
        text += f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text


def test_an_alias_bomb_is_refused_within_a_second(tmp_path: Path) -> None:
    path = _write(tmp_path, _bomb(8))  # 9 ** 9 strings once expanded, from ten lines
    started = time.process_time()
    with pytest.raises(ConfigError) as excinfo:
        load_project(tmp_path)
    assert time.process_time() - started < 1.0
    assert excinfo.value.exit_code == 78
    assert str(excinfo.value) == (f"{path}, line 6, column 4: its aliases (*name) expand to more than "
                                  f"{MAX_YAML_NODES:,} values; write the values out instead.")


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    # Below the bound, aliases load as YAML says (the schema then judges the keys).
    _write(tmp_path, _bomb(2))
    with pytest.raises(ConfigError, match="unknown key 'a'"):
        load_project(tmp_path)


def test_a_20000_deep_file_is_refused_without_exhausting_the_stack(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: " + "[" * 20_000 + "]" * 20_000 + "\n")
    with pytest.raises(ConfigError) as excinfo:
        load_project(tmp_path)
    assert str(excinfo.value) == (f"{path}, line 1, column {7 + MAX_YAML_DEPTH}: nested more than "
                                  f"{MAX_YAML_DEPTH} levels deep; a lowops config is a few levels of keys.")


@pytest.mark.parametrize(("updates", "where"), [
    ({"drift": {"thresholds": {"psi": float("inf")}}}, "drift.thresholds.psi"),
    ({"smoke": {"output_max": float("nan")}}, "smoke.output_max"),
])
def test_an_infinite_or_undefined_number_would_switch_a_check_off_and_is_refused(
        tmp_path: Path, updates: dict[str, object], where: str) -> None:
    from conftest import ROOT, set_config

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "lowops.yaml").write_text((ROOT / "config" / "lowops.yaml").read_text())
    path = set_config(tmp_path, updates)  # written as YAML's .inf / .nan
    with pytest.raises(ConfigError) as excinfo:
        load_project(tmp_path)
    assert excinfo.value.exit_code == 78
    assert str(excinfo.value).startswith(f"{path}: the '{where}' parameter must be a finite number. Got ")
