"""Links planted in the repository lead nowhere: every command refuses them (77) before it writes.

A colleague (or an attacker) who can write ``repo/`` replaces the lock, a log,
``outputs/`` or a window's data directory with a symbolic link to a file or
directory elsewhere that the runner may write. lowops must neither truncate nor
write through it: the command exits 77 naming the link, and what it points to is
byte-for-byte as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_project, invoke
from reliability_support import fast_ran


def contents(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or ``path`` itself) with its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# (the link inside repo/, whether its target is a directory)
LINKS = [(".lock", False), ("logs/lowops.log", False), ("logs/metrics.log", False), ("outputs", True),
         ("data/2025-05", True)]


@pytest.mark.parametrize(("where", "is_dir"), LINKS, ids=[where for where, _ in LINKS])
def test_a_planted_link_is_refused_before_anything_is_written(tmp_path_factory: pytest.TempPathFactory,
                                                              tmp_path: Path, where: str, is_dir: bool) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    link = project / "repo" / where
    target = tmp_path / "precious"
    if is_dir:
        target.mkdir()
        (target / "keep.txt").write_text("do not touch\n")
    else:
        target.write_text("do not touch\n")
    if link.is_dir():
        for path in sorted(link.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        link.rmdir()
    elif link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=is_dir)
    before = contents(target)
    result = invoke(project, "run", "--window", "2025-05")
    assert result.exit_code == 77, (where, result.output)
    assert (f"{link} is a symbolic link (to {target}), and lowops never writes through a link inside the "
            "repository. Remove the link (`lowops verify` lists them) and run again." in result.stderr), result.stderr
    assert contents(target) == before
    assert link.is_symlink()
    found = invoke(project, "verify")
    assert found.exit_code == 77
    assert f"{link}: symbolic link leading outside the repository (to {target})" in found.stdout
