"""lifecycle.retrain: after the shift, model drift retrains, the T / T-1 / T-2 comparison picks the winner and
it goes live blue/green; the static (no-retraining) path is logged beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_project
from ct_support import drifted_project, metric_lines, run_ok


@pytest.fixture
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0001 live; the run of 2025-09 (after the shift) retrained and switched automatically (read-only)."""
    return drifted_project(tmp_path_factory)


def test_model_drift_retrains_and_the_winner_goes_live_blue_green(drifted: Path) -> None:
    repo = drifted / "repo"
    state = json.loads((repo / "deploy" / "churn.json").read_text())
    assert (state["live"], state["slots"]["green"]["version"], state["slots"]["blue"]["version"]) == \
        ("green", "v0002", "v0001")
    assert state["history"][-1]["action"] == "auto" and state["history"][-1]["window"] == "2025-09"
    text = (repo / "monitoring" / "2025-09" / "decision.txt").read_text()
    lines = text.splitlines()
    assert lines[0] == "decision at window 2025-09: hold-out 2025-09, 424 labelled rows, primary metric roc_auc"
    end = next(i for i, line in enumerate(lines) if line.startswith("comparison"))
    assert lines[1] == "triggers:" and end > 2
    assert all(t.startswith(("  model_drift: ", "  data_drift: ")) for t in lines[2:end])
    assert lines[end + 2].split()[:2] == ["v0002", "new"] and lines[end + 2].endswith("passes")
    assert lines[end + 3].split()[:2] == ["v0001", "live,T-1,T-2"] and lines[end + 3].endswith("incumbent")
    assert "winner: v0002" in lines
    assert "outcome: v0002 promoted (blue/green), v0001 kept in the other slot" in lines
    ledger = json.loads((repo / "runs" / "r000002.json").read_text())
    decide = ledger["stages"][-1]
    assert decide["name"] == "decide" and decide["outputs"]["winner"] == "v0002"
    assert [row["version"] for row in decide["outputs"]["table"]] == ["v0002", "v0001"]
    log = (repo / "logs" / "lowops.log").read_text()
    assert "drift fired at 2025-09: " in log
    audit = [json.loads(line) for line in (repo / "audit.log").read_text().splitlines()]
    assert [(a["action"], a["version"], a["from"]) for a in audit] == [("promote", "v0002", "v0001")]


def test_comparison_and_static_path_go_to_metrics_log(drifted: Path) -> None:
    compare = metric_lines(drifted, "compare.roc_auc")
    assert sorted((line[1], line[3]) for line in compare) == [("2025-09", "v0001"), ("2025-09", "v0002")]
    gains = metric_lines(drifted, "compare.gain.roc_auc")
    assert [(line[3], float(line[5]) > 0.005) for line in gains] == [("v0002", True)]
    [decision] = metric_lines(drifted, "decision.switch")
    assert (decision[3], decision[5]) == ("v0002", "1.000000")
    static = metric_lines(drifted, "static.")
    assert {line[1] for line in static} == {"2025-01", "2025-09"}
    assert {line[3] for line in static} == {"v0001"}
    assert all(len(line) == 8 for line in static)
    live_0901 = [line for line in metric_lines(drifted, "roc_auc") if line[1] == "2025-09"]
    static_0901 = [line for line in static if line[1] == "2025-09" and line[4] == "static.roc_auc"]
    assert live_0901[0][5] == static_0901[0][5]  # v0001 scored 2025-09 on both paths


def test_next_window_is_scored_by_the_new_version_and_beats_the_static_path(drifted: Path, tmp_path: Path) -> None:
    project = copy_project(drifted, tmp_path / "project")
    run_ok(project, "run", "--window", "2025-10")
    [live] = [line for line in metric_lines(project, "roc_auc") if line[1] == "2025-10"]
    [static] = [line for line in metric_lines(project, "static.roc_auc") if line[1] == "2025-10"]
    assert live[3] == "v0002" and static[3] == "v0001"
    assert float(live[5]) > float(static[5])


