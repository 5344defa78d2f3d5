"""The keyed, chained audit log: any edited, removed, reordered or forged line is found (exit 77)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import copy_project
from ct_support import base_project, drifted_project

from lowops.cli import cli
from lowops.commands import load
from lowops.context import use_model_key
from lowops.io import audit, keys

KEY = b"the repository's key, 32 bytes.."


@pytest.fixture(autouse=True)
def signed(tmp_path: Path) -> None:
    """The unit tests' repository (tmp_path) signs and checks with KEY."""
    keys.use(tmp_path, lambda: keys.Keys(KEY, {keys.key_id(KEY): KEY}, "the test key"))


def forged_line(record: dict[str, object], previous: str | None) -> str:
    """An audit line as someone without the key writes it: chained and hashed with plain sha256."""
    body = {k: v for k, v in record.items() if k != "hash"}
    body["prev"] = hashlib.sha256(previous.encode()).hexdigest() if previous is not None else "0" * 64
    body["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def forged_chain(lines: list[str]) -> tuple[list[str], dict[str, object]]:
    """The whole chain rebuilt without the key (no key id on its lines); and its head."""
    out: list[str] = []
    for line in lines:
        record = {k: v for k, v in json.loads(line).items() if k != "key"}
        out.append(forged_line(record, out[-1] if out else None))
    return out, {"lines": len(out), "last": hashlib.sha256(out[-1].encode()).hexdigest()}


def _three(repo: Path) -> None:
    for i, action in enumerate(("promote", "rollback", "approve"), 1):
        audit.append(repo, action, model="churn", version=f"v000{i}", by="alice", reason=f"reason {i}")


def test_append_builds_a_chain(tmp_path: Path) -> None:
    _three(tmp_path)
    lines = (tmp_path / "audit.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == "0" * 64
    assert {r["key"] for r in records} == {keys.key_id(KEY)}
    assert records[1]["prev"] == keys.mac(KEY, lines[0].encode())
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


def _audited_project(factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy of the base project, opened with its key, whose audit log holds the three lines of ``_three``."""
    project = copy_project(base_project(factory), tmp_path / "project")
    use_model_key(load(project))
    _three(project / "repo")
    return project


def test_append_refuses_a_broken_chain(tmp_path: Path) -> None:
    _three(tmp_path)
    path = tmp_path / "audit.log"
    path.write_text(path.read_text().replace("alice", "mallo"))
    with pytest.raises(audit.IntegrityError, match="is damaged"):
        audit.append(tmp_path, "promote", model="churn", version="v0004", by="x", reason="y")


def test_verify_fails_with_77_after_one_byte_of_audit_log_changes(tmp_path_factory: pytest.TempPathFactory,
                                                                   tmp_path: Path) -> None:
    project = _audited_project(tmp_path_factory, tmp_path)
    repo = project / "repo"
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


def test_a_chain_rewritten_without_the_key_is_found(tmp_path: Path) -> None:
    _three(tmp_path)
    path = tmp_path / "audit.log"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("alice", "mallory")
    rewritten, head = forged_chain(lines)
    path.write_text("\n".join(rewritten) + "\n")
    (tmp_path / "audit.head").write_text(json.dumps(head))
    assert audit.check_chain(tmp_path)[:3] == [
        f"line {n}: not signed with the repository's key (edited or forged)" for n in (1, 2, 3)]
    # An unkeyed check (a repository opened without keys) would have passed it: the key is what catches it.
    keys.use(tmp_path, lambda: keys.Keys(None, {}, "none"))
    assert audit.check_chain(tmp_path) == []


def test_a_line_signed_with_another_key_is_found(tmp_path: Path) -> None:
    _three(tmp_path)
    other = b"a key of the attacker's own....."
    keys.use(tmp_path, lambda: keys.Keys(other, {keys.key_id(other): other}, "other"))
    # Under another key the chain cannot be verified, and nothing is appended to a chain that cannot be.
    with pytest.raises(audit.IntegrityError, match="is damaged"):
        audit.append(tmp_path, "approve", model="churn", version="v0009", by="mallory", reason="trust me")
    keys.use(tmp_path, lambda: keys.Keys(KEY, {keys.key_id(KEY): KEY}, "the test key"))
    assert audit.check_chain(tmp_path) == []


def test_verify_repair_never_blesses_a_forged_line(tmp_path_factory: pytest.TempPathFactory,
                                                   tmp_path: Path) -> None:
    project = _audited_project(tmp_path_factory, tmp_path)
    repo = project / "repo"
    path = repo / "audit.log"
    lines = path.read_text().splitlines()
    forged = {**json.loads(lines[-1]), "seq": 4, "action": "approve", "version": "v0009", "by": "mallory",
              "reason": "looks fine"}  # it claims the repository's key id, which it cannot sign with
    with path.open("a") as handle:
        handle.write(forged_line(forged, lines[-1]) + "\n")
    before = path.read_bytes(), (repo / "audit.head").read_bytes()
    for args in (["verify", "--repair"], ["verify"]):
        result = CliRunner().invoke(cli, ["-C", str(project), *args])
        assert result.exit_code == 77, result.output
        assert (f"{path}: audit chain broken: line 4: content does not match its hash (edited)"
                in result.output)
    assert (path.read_bytes(), (repo / "audit.head").read_bytes()) == before


def test_deleting_the_audit_log_and_its_head_is_found(tmp_path_factory: pytest.TempPathFactory,
                                                      tmp_path: Path) -> None:
    project = copy_project(drifted_project(tmp_path_factory), tmp_path / "project")
    repo = project / "repo"
    assert CliRunner().invoke(cli, ["-C", str(project), "verify"]).exit_code == 0
    (repo / "audit.log").unlink()
    (repo / "audit.head").unlink()
    result = CliRunner().invoke(cli, ["-C", str(project), "verify"])
    assert result.exit_code == 77
    assert (f"{repo / 'audit.log'}: audit chain broken: audit.log and audit.head are missing, yet "
            f"{repo / 'deploy' / 'churn.json'} records 1 switch(es) that each appended to it (removed)"
            in result.output)
