"""lowops.io.files: the one write path (atomic writes, staged directories, appended lines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PATIENCE

from lowops.errors import IntegrityError, WriteError
from lowops.io.files import (
    TMP_PREFIX,
    append_line,
    atomic_write,
    read_json,
    staged_dir,
    write_bytes,
    write_json,
    write_text,
)


class Boom(RuntimeError):
    pass


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TMP_PREFIX))


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_creates_the_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.txt"
    with atomic_write(target, binary=False) as handle:
        handle.write("line 1\nline 2\n")
    assert target.read_bytes() == b"line 1\nline 2\n"
    assert leftovers(target.parent) == []


def test_writer_raising_halfway_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "pointer.json"
    target.write_text("old content\n")
    with pytest.raises(Boom):
        with atomic_write(target, overwrite=True) as handle:
            handle.write(b"new content, first half")
            handle.flush()
            # the half-written temp file really exists while the writer works
            assert len(leftovers(tmp_path)) == 1
            raise Boom("disk pulled halfway")
    assert target.read_text() == "old content\n"
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pointer.json"]


def test_writer_raising_on_a_new_file_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "predictions.csv"
    with pytest.raises(Boom):
        with atomic_write(target, binary=False) as handle:
            handle.write("customer_id,score\n1,0.5\n")
            raise Boom()
    assert list(tmp_path.iterdir()) == []


def test_overwrite_true_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deploy.json"
    write_json(target, {"live": "blue"}, overwrite=True)
    write_json(target, {"live": "green"}, overwrite=True)
    assert read_json(target) == {"live": "green"}
    assert leftovers(tmp_path) == []


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "model.joblib"
    target.write_bytes(b"original bytes")
    before = os.stat(target)
    with pytest.raises(IntegrityError) as excinfo:
        write_bytes(target, b"replacement bytes")
    assert excinfo.value.exit_code == 77
    assert str(excinfo.value) == (
        f"Refusing to overwrite {target}: written files are immutable; "
        "remove it by hand only if you know it is a leftover."
    )
    assert target.read_bytes() == b"original bytes"
    assert os.stat(target).st_ino == before.st_ino
    assert leftovers(tmp_path) == []


def test_text_mode_keeps_newlines_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "metrics.txt"
    write_text(target, "a 1\r\nb 2\n")
    assert target.read_bytes() == b"a 1\r\nb 2\n"


def test_write_json_is_stable(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2], "é": "ü"})
    write_json(tmp_path / "b.json", {"é": "ü", "a": [1, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_text(encoding="utf-8").endswith("}\n")
    assert "ü" in (tmp_path / "a.json").read_text(encoding="utf-8")


def test_read_json_corruption_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "r000001.json"
    target.write_text('{"run_id": "r0000')
    with pytest.raises(IntegrityError) as excinfo:
        read_json(target)
    assert str(excinfo.value).startswith(f"{target} is not valid JSON (")
    assert str(excinfo.value).endswith("; run `lowops verify`.")


def test_write_error_names_file_and_hint(tmp_path: Path) -> None:
    # A regular file where a directory should be: mkdir fails with an OSError.
    (tmp_path / "blocker").write_text("I am a file")
    with pytest.raises(WriteError) as excinfo:
        write_text(tmp_path / "blocker" / "x.txt", "x")
    assert excinfo.value.exit_code == 73
    assert str(excinfo.value).startswith(f"Cannot write {tmp_path / 'blocker' / 'x.txt'}: ")
    assert "[errno " in str(excinfo.value)


# --------------------------------------------------------------------------- staged_dir


def test_staged_dir_renames_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "models" / "churn" / "v0001"
    with staged_dir(final) as stage:
        assert stage.parent == final.parent
        assert stage.name.startswith(TMP_PREFIX + "v0001.")
        write_text(stage / "a.txt", "a")
        write_text(stage / "b.txt", "b")
        assert not final.exists()  # invisible until complete
    assert final.is_dir()
    assert sorted(p.name for p in final.iterdir()) == ["a.txt", "b.txt"]
    assert (final / "b.txt").read_text() == "b"
    assert leftovers(final.parent) == []


def test_staged_dir_failure_removes_the_stage(tmp_path: Path) -> None:
    final = tmp_path / "v0002"
    with pytest.raises(Boom):
        with staged_dir(final) as stage:
            write_text(stage / "model.joblib", "half")
            raise Boom()
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_staged_dir_refuses_an_existing_version(tmp_path: Path) -> None:
    final = tmp_path / "v0001"
    final.mkdir()
    (final / "keep.txt").write_text("complete")
    with pytest.raises(IntegrityError, match="Refusing to overwrite .*v0001: versions are immutable"):
        with staged_dir(final) as stage:
            write_text(stage / "keep.txt", "impostor")
    assert (final / "keep.txt").read_text() == "complete"
    assert leftovers(tmp_path) == []


def test_staged_dir_racing_writer_loses_cleanly(tmp_path: Path) -> None:
    final = tmp_path / "v0003"
    with pytest.raises(IntegrityError):
        with staged_dir(final) as stage:
            write_text(stage / "x", "mine")
            final.mkdir()  # another writer finished first
            (final / "x").write_text("theirs")
    assert (final / "x").read_text() == "theirs"
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- append_line


def test_append_line_appends_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "metrics.log"
    append_line(log, "first")
    append_line(log, "second\n")
    append_line(log, "third\n\n")
    assert log.read_text() == "first\nsecond\nthird\n"


def test_append_line_never_touches_existing_content(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("genesis\n")
    append_line(log, "next")
    assert log.read_text() == "genesis\nnext\n"


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "lowops.log"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from lowops.io.files import append_line\n"
        "tag = sys.argv[1]\n"
        "for i in range(200):\n"
        "    append_line(Path(sys.argv[2]), f'{tag} {i:04d} ' + tag * 150)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, tag, str(log)]) for tag in "ABCD"]
    assert [p.wait(timeout=PATIENCE) for p in procs] == [0, 0, 0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 800
    for line in lines:
        tag, number, body = line.split(" ")
        assert body == tag * 150
    for tag in "ABCD":
        assert [line.split(" ")[1] for line in lines if line[0] == tag] == [f"{i:04d}" for i in range(200)]
