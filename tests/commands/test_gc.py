"""``lowops gc``: what it removes, what it never removes, how it records it, and that the loop goes on after it.

The project: the drifted one (v0001 in the other slot, v0002 live; windows 2025-01 and 2025-09 run), then
versions trained by hand at 2025-03 (v0003, rejected), 2025-05 (v0004, pending), 2025-06 (v0005, alias @keep) and
2025-07 (v0006, the newest), each training on three windows ending there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_project, invoke
from ct_support import drifted_project, run_ok

_BUILT: dict[str, Path] = {}


def _versions(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "repo" / "models" / "churn").iterdir() if p.is_dir())


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    if "gc" not in _BUILT:
        built = copy_project(drifted_project(tmp_path_factory), tmp_path_factory.mktemp("gc") / "project")
        for window in ("2025-03", "2025-05", "2025-06", "2025-07"):
            run_ok(built, "train", "--window", window)
        from lowops.io import version_status

        # What `lowops retrain` under governance.promote: manual leaves: a winner waiting for approval.
        version_status.record(built / "repo", "churn", "v0003", "rejected", by="ana", reason="not better")
        version_status.record(built / "repo", "churn", "v0004", "pending", by="lowops", reason="won at 2025-05")
        run_ok(built, "models", "alias", "keep", "v0005", "--by", "ana")
        assert _versions(built) == ["v0001", "v0002", "v0003", "v0004", "v0005", "v0006"]
        _BUILT["gc"] = built
    return copy_project(_BUILT["gc"], tmp_path / "project")


def _ok(project: Path, *args: str) -> str:
    result = invoke(project, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _lineage(project: Path, version: str, window: str) -> set[str]:
    card = json.loads((project / "repo" / "models" / "churn" / version / "model.json").read_text())
    return {d[k] for d in card["lineage"]["data"] if d["window"] == window for k in ("features", "labels")}


def _snapshot_dirs(project: Path, window: str) -> set[str]:
    folder = project / "repo" / "data" / window
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()


def _digests(root: Path) -> dict[str, str]:
    """Every path under ``root`` (directories too) with the sha256 of each file's content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _audit(project: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (project / "repo" / "audit.log").read_text().splitlines()]


def _gc_events(project: Path) -> list[str]:
    lines = (project / "repo" / "logs" / "lowops.log").read_text().splitlines()
    return [line.split(" gc INFO ", 1)[1] for line in lines if " gc INFO " in line]


def test_gc_removes_old_windows_and_versions_and_nothing_anything_needs(project: Path) -> None:
    repo = project / "repo"
    windows_before = sorted(p.name for p in (repo / "data").iterdir())
    assert windows_before[-3:] == ["2025-07", "2025-08", "2025-09"]
    logs_before = {name: (repo / "logs" / name).read_bytes() for name in ("metrics.log",)}
    audit_before = (repo / "audit.log").read_bytes()

    # A dry run prints the plan and changes nothing, byte for byte.
    before = _digests(repo)
    dry = _ok(project, "gc", "--keep-windows", "1", "--keep-versions", "1", "--dry-run")
    assert _digests(repo) == before
    assert dry.splitlines()[-1].startswith("dry run: would remove 1 version(s) and ")
    assert dry.splitlines()[-1].endswith("; nothing was changed")

    done = _ok(project, "gc", "--keep-windows", "1", "--keep-versions", "1", "--by", "ana")
    # The same plan, then what was done.
    assert done.splitlines()[:-1] == dry.splitlines()[:-1]
    plan = done.splitlines()
    assert plan[0] == "keep: the newest 1 window(s) and 1 version(s), and:"
    assert [line for line in plan if line.startswith("keep churn")] == [
        "keep churn v0001: in slot blue; what `lowops rollback` switches to; scored kept window 2025-09",
        "keep churn v0002: live in slot green",
        "keep churn v0004: pending (the governance gate has not acted on it)",
        "keep churn v0005: alias @keep"]
    assert any(line.startswith("keep window 2025-08: one of the 3 newest") for line in plan)

    # Versions: live, slot, pending, alias and the newest stay; v0003 (none of these) goes with its status file.
    assert _versions(project) == ["v0001", "v0002", "v0004", "v0005", "v0006"]
    assert not (repo / "models" / "churn" / "v0003.status").exists()
    assert (repo / "models" / "churn" / "v0004.status").exists()
    # Windows: the next run's three stay whole; older ones keep only what a kept version trained on.
    for window in ("2025-07", "2025-08", "2025-09"):
        assert (repo / "data" / window).is_dir()
    assert (repo / "outputs" / "2025-09").is_dir() and (repo / "monitoring" / "2025-09").is_dir()
    assert not (repo / "outputs" / "2025-01").exists() and not (repo / "monitoring" / "2025-01").exists()
    assert not (repo / "data" / "2025-02").exists()  # only v0003 (removed) trained on it
    assert _snapshot_dirs(project, "2025-01") == _lineage(project, "v0001", "2025-01")
    assert _snapshot_dirs(project, "2025-03") == _lineage(project, "v0004", "2025-03")
    assert _snapshot_dirs(project, "2025-06") == _lineage(project, "v0005", "2025-06") | _lineage(
        project, "v0006", "2025-06")
    assert not list(repo.glob(".tmp-*"))

    # Logs and the audit trail only grew: one audit line for the version, one summary.
    assert (repo / "logs" / "metrics.log").read_bytes() == logs_before["metrics.log"]
    assert (repo / "audit.log").read_bytes().startswith(audit_before)
    added = _audit(project)[len(audit_before.splitlines()):]
    assert [(e["action"], e["version"], e["by"]) for e in added] == [("remove", "v0003", "ana"), ("gc", None, "ana")]
    assert added[1]["versions"] == ["churn v0003"]
    removed_windows = added[1]["windows"]
    assert "2025-02" in removed_windows and "2025-09" not in removed_windows
    events = _gc_events(project)
    assert events[0].startswith("removed churn v0003: models/churn/v0003, models/churn/v0003.status (")
    assert any(e.startswith("removed window 2025-02: data/2025-02 (") for e in events)
    assert events[-1].startswith("removed 1 version(s) and ")

    # The repository is whole, and the loop goes on.
    assert _ok(project, "verify").endswith(": ok\n")
    _ok(project, "status")
    _ok(project, "report")
    _ok(project, "run", "--window", "2025-10")
    assert _ok(project, "verify").endswith(": ok\n")
    # A removed version is a usage error naming what is held; rollback goes to the kept one.
    promote = invoke(project, "promote", "v0003")
    assert (promote.exit_code, promote.stderr) == (
        2, "Error: Model 'churn' has no version 'v0003'; versions: v0001, v0002, v0004, v0005, v0006.\n")
    assert json.loads(_ok(project, "rollback", "--json"))["live"] == "v0001"


def test_gc_with_nothing_to_remove_still_records_itself(project: Path) -> None:
    out = _ok(project, "gc")  # defaults: 24 monthly windows and 10 versions
    assert out.splitlines() == ["keep: the newest 24 window(s) and 10 version(s), and:",
                                out.splitlines()[-1]]
    assert out.splitlines()[-1].startswith("removed 0 version(s) and 0 window(s) (0 bytes) (run r")
    assert _audit(project)[-1]["action"] == "gc"
    assert _ok(project, "verify").endswith(": ok\n")


def test_an_interrupted_gc_never_leaves_half_a_version_and_the_next_one_finishes_it(
        project: Path, tmp_path: Path) -> None:
    from reliability_support import forked

    repo = project / "repo"
    code, _ = forked(project, "gc", "--keep-windows", "1", "--keep-versions", "1",
                     out=tmp_path / "killed.txt", LOWOPS_FAULT="gc:v0003")
    assert code == -9
    # Killed just after the rename: v0003 is gone whole (not a version any more), its files in the trash.
    assert _versions(project) == ["v0001", "v0002", "v0004", "v0005", "v0006"]
    trash = list(repo.glob(".tmp-gc-*"))
    assert len(trash) == 1 and (next(trash[0].iterdir()) / "model.skops").is_file()
    findings = invoke(project, "verify")
    assert findings.exit_code == 77
    assert f"{trash[0]}: leftover of an interrupted write (removable with --repair)" in findings.stdout
    assert not [e for e in _audit(project) if e["action"] == "remove"]

    _ok(project, "gc", "--keep-windows", "1", "--keep-versions", "1")
    assert not list(repo.glob(".tmp-*"))
    assert not (repo / "models" / "churn" / "v0003.status").exists()
    removes = [e for e in _audit(project) if e["action"] == "remove"]
    assert [(e["version"], e["reason"].split(",")[0]) for e in removes] == [("v0003", f"removed by gc run "
                                                                               f"{removes[0]['run']}")]
    assert _ok(project, "verify").endswith(": ok\n")
