"""`lowops verify` checks labels.json: lowops's own JSON, and every alias, tag and description names a
complete version (a file restored from another backup, or edited by hand, can name one that is gone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_project, invoke
from ct_support import drifted_project


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(drifted_project(tmp_path_factory), tmp_path / "project")


def _labels(project: Path) -> Path:
    return project / "repo" / "models" / "churn" / "labels.json"


def test_verify_passes_labels_that_name_complete_versions(project: Path) -> None:
    for args in (("alias", "candidate", "v0001"), ("tag", "v0002", "reviewed"), ("describe", "v0001", "first")):
        assert invoke(project, "models", *args).exit_code == 0
    result = invoke(project, "verify")
    assert (result.exit_code, result.stdout.endswith("ok\n")) == (0, True), result.output


def test_verify_reports_labels_naming_a_version_that_is_gone(project: Path) -> None:
    _labels(project).write_text(json.dumps({"aliases": {"candidate": "v0009", "champion": "v0002"},
                                            "tags": {"v0009": ["reviewed"], "v0001": ["first"]},
                                            "descriptions": {"v0007": "lost"}}))
    result = invoke(project, "verify")
    assert result.exit_code == 77, result.output
    path = _labels(project)
    found = [line for line in result.stdout.splitlines() if line.startswith(str(path))]
    assert found == [
        f"{path}: alias @candidate names v0009, which is not a complete version (dangling alias); point it "
        "elsewhere with `lowops models alias candidate VERSION` or remove it with "
        "`lowops models alias candidate --remove`",
        f"{path}: holds tags for v0009, which is not a complete version",
        f"{path}: holds a description for v0007, which is not a complete version",
    ]
    assert result.stderr.endswith("3 integrity finding(s) in " + str(project / "repo") + "; see above.\n")


@pytest.mark.parametrize("content", ["[1, 2]", '{"aliases": [], "tags": {}}', '{"tags": {"v0001": 3}}', "{"])
def test_verify_reports_a_labels_file_lowops_did_not_write(project: Path, content: str) -> None:
    _labels(project).write_text(content)
    result = invoke(project, "verify")
    assert result.exit_code == 77, result.output
    path = _labels(project)
    found = [line for line in result.stdout.splitlines() if line.startswith(str(path))]
    assert found == [f"{path}: is not a labels file lowops wrote; restore it from a backup or remove it"]
