"""No write through a link: below a repository root, every write refuses a symbolic link on its way.

The repository root itself may be a link; nothing inside it may lead a write elsewhere.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lowops.errors import IntegrityError, WriteError
from lowops.io import files, verify
from lowops.io.lock import repository_lock


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    files.confine(root)
    return root


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me\n")
    return folder


def _link_message(path: Path, link: Path, target: Path) -> str:
    return (f"Refusing to write {path}: {link} is a symbolic link (to {target}), and lowops never writes through "
            "a link inside the repository. Remove the link (`lowops verify` lists them) and run again.")


def test_a_linked_directory_stops_an_atomic_write_before_anything_is_created(repo: Path, outside: Path) -> None:
    (repo / "outputs").symlink_to(outside)
    target = repo / "outputs" / "2025-05" / "predictions-r000001.csv"
    with pytest.raises(IntegrityError) as excinfo:
        files.write_text(target, "key,score\n")
    assert excinfo.value.exit_code == 77
    assert str(excinfo.value) == _link_message(target, repo / "outputs", outside)
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_a_linked_file_is_never_replaced(repo: Path, outside: Path) -> None:
    (repo / "deploy").mkdir()
    pointer = repo / "deploy" / "churn.json"
    pointer.symlink_to(outside / "precious.txt")
    with pytest.raises(IntegrityError, match="is a symbolic link"):
        files.write_json(pointer, {"live": "blue"}, overwrite=True)
    assert pointer.is_symlink()
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_an_append_through_a_linked_log_is_refused(repo: Path, outside: Path) -> None:
    (repo / "logs").mkdir()
    log = repo / "logs" / "lowops.log"
    log.symlink_to(outside / "precious.txt")
    with pytest.raises(IntegrityError) as excinfo:
        files.append_line(log, "2026-12-01T00:00:00Z r000001 - score INFO hello")
    assert str(excinfo.value) == _link_message(log, log, outside / "precious.txt")
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_a_linked_lock_is_never_opened_nor_truncated(repo: Path, outside: Path) -> None:
    (repo / ".lock").symlink_to(outside / "precious.txt")
    with pytest.raises(IntegrityError, match=r"\.lock is a symbolic link"):
        with repository_lock(repo):
            pass
    assert (outside / "precious.txt").read_text() == "keep me\n"


def test_a_version_is_never_staged_through_a_link(repo: Path, outside: Path) -> None:
    (repo / "models").symlink_to(outside)
    with pytest.raises(IntegrityError, match="models is a symbolic link"):
        with files.staged_dir(repo / "models" / "churn" / "v0001"):
            pass
    with pytest.raises(IntegrityError, match="models is a symbolic link"):
        files.make_dir(repo / "models" / "churn")
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_the_root_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "big-disk" / "repo"
    real.mkdir(parents=True)
    (tmp_path / "repo").symlink_to(real)
    files.confine(tmp_path / "repo")
    files.write_text(tmp_path / "repo" / "runs" / "r000001.json", "{}\n")
    files.append_line(tmp_path / "repo" / "logs" / "lowops.log", "a line")
    assert (real / "runs" / "r000001.json").read_text() == "{}\n"
    assert (real / "logs" / "lowops.log").read_text() == "a line\n"


def test_writes_outside_every_repository_are_not_confined(tmp_path: Path, outside: Path) -> None:
    # `lowops report --output FILE` writes where the user says, links included.
    (tmp_path / "www").symlink_to(outside)
    files.write_text(tmp_path / "www" / "report.html", "<html></html>")
    assert (outside / "report.html").read_text() == "<html></html>"


def test_a_short_append_is_cut_back_and_reported(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = repo / "logs" / "metrics.log"
    files.append_line(log, "first line")
    real_write = os.write

    def short(fd: int, data: bytes) -> int:
        return real_write(fd, data[:5])  # a disk that fills up mid-line

    monkeypatch.setattr(os, "write", short)
    with pytest.raises(WriteError) as excinfo:
        files.append_line(log, "second line that does not fit")
    monkeypatch.undo()
    assert excinfo.value.exit_code == 73
    assert str(excinfo.value) == (f"Cannot write {log}: {os.strerror(errno.ENOSPC)} [errno {errno.ENOSPC}]; "
                                  "free some disk space and run again.")
    assert log.read_text() == "first line\n"  # no torn line for the next append to be glued to
    files.append_line(log, "third line")
    assert log.read_text() == "first line\nthird line\n"


def test_verify_finds_a_torn_line_and_repair_cuts_it(repo: Path) -> None:
    log = repo / "logs" / "lowops.log"
    files.append_line(log, "whole line")
    with open(log, "ab") as handle:
        handle.write(b"half a li")  # what a power cut during an append leaves
    findings, _ = verify.verify(repo)
    assert [str(f) for f in findings] == [
        f"{log}: its last line is cut (no newline at the end): an append was interrupted (removable with --repair)"]
    findings, removed = verify.verify(repo, repair=True)
    assert (findings, removed) == ([], [log])
    assert log.read_text() == "whole line\n"


def test_repair_removes_a_leftover_link_itself_never_what_it_points_to(repo: Path, outside: Path) -> None:
    (repo / "data").mkdir()
    leftover = repo / "data" / ".tmp-features.abc123"
    leftover.symlink_to(outside, target_is_directory=True)
    findings, removed = verify.verify(repo, repair=True)
    assert removed == [leftover] and not leftover.is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert [f for f in findings if "could not remove" in f.problem] == []
