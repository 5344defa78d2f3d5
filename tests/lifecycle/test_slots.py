"""lifecycle.slots: split mode scores a deterministic share of rows with the idle slot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_project, set_config
from ct_support import drifted_project, run_ok


@pytest.fixture
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0001 live; the run of 2025-09 (after the shift) retrained and switched automatically (read-only)."""
    return drifted_project(tmp_path_factory)


def test_split_mode_scores_a_deterministic_share_with_the_idle_slot(drifted: Path, tmp_path: Path) -> None:
    project = copy_project(drifted, tmp_path / "project")
    set_config(project, {"deploy": {"mode": "split", "split_share": 0.25}})
    run_ok(project, "run", "--window", "2025-10")
    import pandas as pd

    [path] = (project / "repo" / "outputs" / "2025-10").glob("slots-*.csv")
    frame = pd.read_csv(path)
    assert set(frame["live_version"]) == {"v0002"} and set(frame["challenger_version"]) == {"v0001"}
    share = (frame["served_slot"] == "blue").mean()
    assert 0.18 < share < 0.32
    from lowops.lifecycle.slots import split_share

    expected = split_share(frame["customer_id"].to_numpy(), "lowops") < 0.25
    assert ((frame["served_slot"] == "blue").to_numpy() == expected).all()
    assert (frame.loc[expected, "served_score"] == frame.loc[expected, "challenger_score"]).all()
    status = json.loads(run_ok(project, "status", "--json"))
    [row] = status["slot_kpis"]
    assert row["window"] == "2025-10" and row["green"]["version"] == "v0002" and row["blue"]["version"] == "v0001"
    assert row["blue"]["rows"] + row["green"]["rows"] == 2000
    assert "roc_auc per slot by window:\n  2025-10    blue v0001 " in run_ok(project, "status")
