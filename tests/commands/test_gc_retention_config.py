"""``lowops gc`` and the ``retention:`` section, and a removed version's tags and description.

The project: the small continuous-training one (v0001 trained and live at 2025-01), then versions trained by
hand at 2025-02 (v0002, tagged and described), 2025-03 (v0003) and 2025-04 (v0004, the newest, tagged and
described). With one window and one version kept, v0002 and v0003 go: nothing protects them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_project, invoke, set_config
from ct_support import base_project, run_ok

_BUILT: dict[str, Path] = {}
KEEP_ONE = {"retention": {"keep_windows": 1, "keep_versions": 1}}


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    if "labelled" not in _BUILT:
        built = copy_project(base_project(tmp_path_factory), tmp_path_factory.mktemp("gc-retention") / "project")
        for window in ("2025-02", "2025-03", "2025-04"):
            run_ok(built, "train", "--window", window)
        run_ok(built, "models", "tag", "v0002", "q3-review", "--by", "ana")
        run_ok(built, "models", "tag", "v0002", "old", "--by", "ana")
        run_ok(built, "models", "describe", "v0002", "trained on the spring windows", "--by", "ana")
        run_ok(built, "models", "tag", "v0004", "regulator-approved", "--by", "ana")
        run_ok(built, "models", "describe", "v0004", "the newest", "--by", "ana")
        assert _versions(built) == ["v0001", "v0002", "v0003", "v0004"]
        _BUILT["labelled"] = built
    return copy_project(_BUILT["labelled"], tmp_path / "project")


def _versions(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "repo" / "models" / "churn").iterdir() if p.is_dir())


def _ok(project: Path, *args: str) -> str:
    result = invoke(project, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _plan(project: Path, *args: str) -> dict[str, Any]:
    """What a gc did (or would do): its plan without the run id."""
    out = json.loads(_ok(project, "gc", "--json", *args))
    return {k: v for k, v in out.items() if k not in ("run_id", "dry_run")}


def _kept(project: Path) -> list[str]:
    """Every path under repo/ but the logs, ledgers and audit trail, which every command adds to."""
    repo = project / "repo"
    return sorted(str(p.relative_to(repo)) for p in repo.rglob("*")
                  if p.relative_to(repo).parts[0] not in ("logs", "runs", "audit.log", "audit.head", "locks"))


def _labels(project: Path) -> dict[str, Any]:
    return json.loads((project / "repo" / "models" / "churn" / "labels.json").read_text())


def _audit(project: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (project / "repo" / "audit.log").read_text().splitlines()]


def _gc_events(project: Path) -> list[str]:
    lines = (project / "repo" / "logs" / "lowops.log").read_text().splitlines()
    return [line.split(" gc INFO ", 1)[1] for line in lines if " gc INFO " in line]


def test_the_config_s_retention_removes_what_the_same_flags_would(project: Path, tmp_path: Path) -> None:
    by_flags = copy_project(project, tmp_path / "by-flags")
    set_config(project, KEEP_ONE)

    dry = _plan(project, "--dry-run")
    assert dry == _plan(by_flags, "--dry-run", "--keep-windows", "1", "--keep-versions", "1")
    assert [r["what"] for r in dry["remove"] if r["version"]] == ["churn v0002", "churn v0003"]
    assert (dry["keep_windows"], dry["keep_versions"]) == (1, 1)

    done = _plan(project)
    assert done == _plan(by_flags, "--keep-windows", "1", "--keep-versions", "1")
    assert done["remove"] == dry["remove"]
    assert _kept(project) == _kept(by_flags)
    assert _versions(project) == ["v0001", "v0004"]
    assert _ok(project, "verify").endswith(": ok\n")


def test_flags_override_the_config_and_a_null_keep_windows_is_the_grain_s_default(project: Path) -> None:
    set_config(project, KEEP_ONE)
    out = _ok(project, "gc", "--dry-run", "--keep-windows", "4", "--keep-versions", "3")
    assert out.splitlines()[0] == "keep: the newest 4 window(s) and 3 version(s), and:"
    assert not [line for line in out.splitlines() if line.startswith("remove churn")]
    # One flag: the other value still comes from the config.
    out = _ok(project, "gc", "--dry-run", "--keep-versions", "2")
    assert out.splitlines()[0] == "keep: the newest 1 window(s) and 2 version(s), and:"
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("remove churn")] == [
        "remove churn v0002"]

    set_config(project, {"retention": {"keep_windows": None, "keep_versions": 2}})
    out = _ok(project, "gc", "--dry-run")
    assert out.splitlines()[0] == "keep: the newest 24 window(s) and 2 version(s), and:"  # monthly windows


@pytest.mark.parametrize(("updates", "message"), [
    ({"keep_versions": 0}, ("the 'retention.keep_versions' parameter must be greater than or equal to 1. "
                            "Got 0 instead.")),
    ({"keep_windows": -1}, ("the 'retention.keep_windows' parameter must be greater than or equal to 0. "
                            "Got -1 instead.")),
])
def test_a_retention_gc_could_not_honour_is_a_config_error(project: Path, updates: dict[str, int],
                                                           message: str) -> None:
    path = set_config(project, {"retention": updates})
    before = _kept(project)
    result = invoke(project, "gc")
    assert (result.exit_code, result.stderr) == (78, f"Error: {path}: {message}\n")
    assert _kept(project) == before


def test_a_removed_version_s_tags_and_description_go_with_it(project: Path) -> None:
    labels_before = _labels(project)
    assert labels_before["tags"] == {"v0002": ["q3-review", "old"], "v0004": ["regulator-approved"]}
    audited = len(_audit(project))

    dry = _ok(project, "gc", "--dry-run", "--keep-windows", "1", "--keep-versions", "1").splitlines()
    assert [line for line in dry if line.startswith("remove churn")] == [
        f"remove churn v0002: models/churn/v0002 ({_size(line)}), with its tag(s) old, q3-review and description"
        for line in dry if line.startswith("remove churn v0002")] + [
        f"remove churn v0003: models/churn/v0003 ({_size(line)})" for line in dry
        if line.startswith("remove churn v0003")]
    assert _labels(project) == labels_before

    _ok(project, "gc", "--keep-windows", "1", "--keep-versions", "1", "--by", "ana")
    assert _labels(project) == {"aliases": {}, "tags": {"v0004": ["regulator-approved"]},
                                "descriptions": {"v0004": "the newest"}}
    removes = [e for e in _audit(project)[audited:] if e["action"] == "remove"]
    assert [(e["version"], e["by"], e["labels"]) for e in removes] == [
        ("v0002", "ana", {"aliases": [], "tags": ["old", "q3-review"], "description": "trained on the spring windows"}),
        ("v0003", "ana", {"aliases": [], "tags": [], "description": None})]
    events = [e for e in _gc_events(project) if e.startswith("removed churn")]
    assert len(events) == 2
    assert events[0].startswith("removed churn v0002: models/churn/v0002 (")
    assert events[0].endswith("); dropped its tag(s) old, q3-review and description from models/churn/labels.json")
    assert events[1].startswith("removed churn v0003: models/churn/v0003 (") and events[1].endswith(")")
    assert _ok(project, "verify").endswith(": ok\n")
    shown = json.loads(_ok(project, "models", "show", "v0004", "--json"))["labels"]
    assert (shown["tags"], shown["description"]) == (["regulator-approved"], "the newest")


def _size(line: str) -> str:
    return line.split(" (", 1)[1].split(")", 1)[0]


@pytest.mark.parametrize("fault", ["gc:v0002", "gc-audit:v0002"])
def test_an_interrupted_gc_s_next_run_drops_the_labels_and_audits_them(project: Path, tmp_path: Path,
                                                                      fault: str) -> None:
    from reliability_support import forked

    audited = len(_audit(project))
    code, _ = forked(project, "gc", "--keep-windows", "1", "--keep-versions", "1",
                     out=tmp_path / "killed.txt", LOWOPS_FAULT=fault)
    assert code == -9
    assert _versions(project) == ["v0001", "v0003", "v0004"]  # v0002 went whole, before anything else
    # Killed just after the rename, the labels still name v0002; killed before its audit line, they are gone.
    assert ("v0002" in _labels(project)["tags"]) == (fault == "gc:v0002")
    assert not [e for e in _audit(project)[audited:] if e["action"] == "remove"]

    _ok(project, "gc", "--keep-windows", "1", "--keep-versions", "1")
    assert _labels(project) == {"aliases": {}, "tags": {"v0004": ["regulator-approved"]},
                                "descriptions": {"v0004": "the newest"}}
    removes = [e for e in _audit(project)[audited:] if e["action"] == "remove"]
    assert [(e["version"], e["labels"]) for e in removes] == [
        ("v0002", {"aliases": [], "tags": ["old", "q3-review"], "description": "trained on the spring windows"}),
        ("v0003", {"aliases": [], "tags": [], "description": None})]
    assert removes[0]["reason"] == f"removed by gc run {removes[0]['run']}, which was interrupted before recording it"
    dropped = [e for e in _gc_events(project) if e.startswith("dropped")]
    expected = (f"dropped the tag(s) old, q3-review and description of churn v0002 from models/churn/labels.json: "
                f"gc run {removes[0]['run']} removed the version and was interrupted before dropping them")
    assert dropped == ([expected] if fault == "gc:v0002" else [])
    assert _ok(project, "verify").endswith(": ok\n")
