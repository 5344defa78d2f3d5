"""The hash-chained audit log: any edited, removed or reordered line is found (exit 77)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import copy_project
from ct_support import base_project

from lowops.cli import cli
from lowops.io import audit


def _three(repo: Path) -> None:
    for i, action in enumerate(("promote", "rollback", "approve"), 1):
        audit.append(repo, action, model="churn", version=f"v000{i}", by="alice", reason=f"reason {i}")


def test_append_builds_a_chain(tmp_path: Path) -> None:
    _three(tmp_path)
    lines = (tmp_path / "audit.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == "0" * 64
    assert [r["action"] for r in records] == ["promote", "rollback", "approve"]
    assert audit.check_chain(tmp_path) == []
    head = json.loads((tmp_path / "audit.head").read_text())
    assert head["lines"] == 3


def test_one_edited_byte_breaks_the_chain(tmp_path: Path) -> None:
    _three(tmp_path)
    path = tmp_path / "audit.log"
    data = bytearray(path.read_bytes())
    data[data.index(b"reason 2") + 7] = ord("9")
    path.write_bytes(bytes(data))
    assert audit.check_chain(tmp_path) == [
        "line 2: content does not match its hash (edited)",
        "line 3: does not chain to the line before it (edited, removed or reordered)",
    ]


def test_removed_middle_line_and_reordered_lines_are_found(tmp_path: Path) -> None:
    _three(tmp_path)
    path = tmp_path / "audit.log"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])
    assert "line 2: sequence number 3 (removed or reordered)" in audit.check_chain(tmp_path)
    path.write_text(lines[1] + lines[0] + lines[2])
    problems = audit.check_chain(tmp_path)
    assert "line 1: does not chain to the line before it (edited, removed or reordered)" in problems


def test_removed_last_line_is_found_by_the_head(tmp_path: Path) -> None:
    _three(tmp_path)
    path = tmp_path / "audit.log"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
    [problem] = audit.check_chain(tmp_path)
    assert problem.startswith("audit.head records 3 line(s)")


def test_append_refuses_a_broken_chain(tmp_path: Path) -> None:
    _three(tmp_path)
    path = tmp_path / "audit.log"
    path.write_text(path.read_text().replace("alice", "mallo"))
    with pytest.raises(audit.IntegrityError, match="is damaged"):
        audit.append(tmp_path, "promote", model="churn", version="v0004", by="x", reason="y")


def test_verify_fails_with_77_after_one_byte_of_audit_log_changes(tmp_path_factory: pytest.TempPathFactory,
                                                                   tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    repo = project / "repo"
    _three(repo)
    runner = CliRunner()
    ok = runner.invoke(cli, ["-C", str(project), "verify"], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    path = repo / "audit.log"
    data = bytearray(path.read_bytes())
    data[data.index(b"alice")] = ord("A")
    path.write_bytes(bytes(data))
    bad = runner.invoke(cli, ["-C", str(project), "verify"])
    assert bad.exit_code == 77
    assert f"{path}: audit chain broken: line 1: content does not match its hash (edited)" in bad.output
    assert "Error: 2 integrity finding(s)" in bad.output
