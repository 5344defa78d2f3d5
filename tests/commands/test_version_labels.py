"""Aliases, tags and descriptions of versions: set by the CLI, shown by list/show/report, usable as versions,
recorded in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_project, invoke
from ct_support import drifted_project


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(drifted_project(tmp_path_factory), tmp_path / "project")


def _ok(project: Path, *args: str) -> str:
    result = invoke(project, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _audit(project: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (project / "repo" / "audit.log").read_text().splitlines()]


def test_an_alias_names_a_version_wherever_one_is_asked_for(project: Path) -> None:
    assert _ok(project, "models", "alias", "candidate", "v0001", "--by", "ana") == "@candidate -> v0001\n"
    rows = json.loads(_ok(project, "models", "list", "--json"))
    assert {r["version"]: r["aliases"] for r in rows} == {"v0001": ["@candidate"], "v0002": ["@live"]}
    assert json.loads(_ok(project, "models", "show", "@candidate", "--json"))["version"] == "v0001"
    assert json.loads(_ok(project, "models", "show", "@live", "--json"))["version"] == "v0002"
    # promote @candidate switches to v0001 (smoke-tested as ever); @live follows the slot.
    promoted = json.loads(_ok(project, "promote", "@candidate", "--json"))
    assert (promoted["live"], promoted["previous"]) == ("v0001", "v0002")
    rows = json.loads(_ok(project, "models", "list", "--json"))
    assert {r["version"]: r["aliases"] for r in rows} == {"v0001": ["@live", "@candidate"], "v0002": []}
    entry = next(e for e in _audit(project) if e["action"] == "alias")
    assert (entry["by"], entry["version"], entry["reason"], entry["alias"]) == ("ana", "v0001", "@candidate -> v0001",
                                                                               "candidate")
    # Moving it says where it was; removing it is audited too.
    assert _ok(project, "models", "alias", "candidate", "v0002") == "@candidate -> v0002 (was v0001)\n"
    assert _ok(project, "models", "alias", "candidate", "--remove") == "@candidate removed (it named v0002)\n"
    assert [e["reason"] for e in _audit(project) if e["action"] == "alias"][-1] == "@candidate removed"
    assert _ok(project, "verify").endswith("ok\n")


def test_aliases_that_cannot_be(project: Path) -> None:
    live = invoke(project, "models", "alias", "live", "v0001")
    assert (live.exit_code, live.stderr) == (2, "Error: @live always names the live slot; switch it with "
                                                "`lowops promote`\n")
    bad = invoke(project, "models", "alias", "Champion", "v0001")
    assert bad.exit_code == 2
    assert "alias 'Champion' is not a name lowops accepts" in bad.stderr
    unknown = invoke(project, "models", "show", "@champion")
    assert (unknown.exit_code, unknown.stderr) == (2, "Error: Model 'churn' has no alias '@champion'; "
                                                      "aliases: @live.\n")
    missing = invoke(project, "models", "alias", "champion", "v0009")
    assert missing.exit_code == 2 and "has no version 'v0009'" in missing.stderr
    neither = invoke(project, "models", "alias", "champion")
    assert neither.exit_code == 2
    assert not (project / "repo" / "models" / "churn" / "labels.json").exists()


def test_tags_and_descriptions_show_in_list_show_and_report(project: Path) -> None:
    assert _ok(project, "models", "tag", "@live", "reviewed") == "v0002 tags: reviewed\n"
    assert _ok(project, "models", "tag", "v0002", "q3") == "v0002 tags: q3, reviewed\n"
    assert _ok(project, "models", "tag", "v0002", "q3", "--remove") == "v0002 tags: reviewed\n"
    text = "retrained after the   September shift"
    assert _ok(project, "models", "describe", "v0002", text) == "v0002: retrained after the September shift\n"
    listed = _ok(project, "models", "list").splitlines()
    assert listed[2].startswith("v0002 ") and listed[2].endswith("promoted  [reviewed]")
    shown = _ok(project, "models", "show", "v0002").splitlines()
    assert shown[1:4] == ["  description: retrained after the September shift", "  aliases:     @live",
                          "  tags:        reviewed"]
    _ok(project, "report")
    html = (project / "repo" / "reports" / "index.html").read_text()
    assert "@live [reviewed]" in html and "retrained after the September shift" in html
    actions = [(e["action"], e["version"]) for e in _audit(project) if e["action"] in ("tag", "untag", "describe")]
    assert actions == [("tag", "v0002"), ("tag", "v0002"), ("untag", "v0002"), ("describe", "v0002")]
