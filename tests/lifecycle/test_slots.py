"""lifecycle.slots and the score stage: split mode serves a deterministic share of rows from the idle slot."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

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
    from lowops.stages.score import split_share

    expected = split_share(frame["customer_id"].to_numpy(), "lowops") < 0.25
    assert ((frame["served_slot"] == "blue").to_numpy() == expected).all()
    assert (frame.loc[expected, "served_score"] == frame.loc[expected, "challenger_score"]).all()
    status = json.loads(run_ok(project, "status", "--json"))
    [row] = status["slot_kpis"]
    assert row["window"] == "2025-10" and row["green"]["version"] == "v0002" and row["blue"]["version"] == "v0001"
    assert row["blue"]["rows"] + row["green"]["rows"] == 2000
    assert "roc_auc per slot by window:\n  2025-10    blue v0001 " in run_ok(project, "status")


def _split_run(drifted: Path, dest: Path, **config: Any) -> Path:
    project = copy_project(drifted, dest)
    set_config(project, {"deploy": {"mode": "split", "split_share": 0.25}, **config})
    return project


def test_split_mode_predictions_hold_the_score_each_row_was_served(drifted: Path, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    project = _split_run(drifted, tmp_path / "project")
    run_ok(project, "run", "--window", "2025-10")
    outputs = project / "repo" / "outputs" / "2025-10"
    [slots_csv] = outputs.glob("slots-*.csv")
    [predictions_csv] = outputs.glob("predictions-*.csv")
    slots, served = pd.read_csv(slots_csv), pd.read_csv(predictions_csv)
    assert len(served) == len(slots) == 2000 and (served["customer_id"] == slots["customer_id"]).all()
    by_challenger = (slots["served_slot"] == "blue").to_numpy()
    assert 0 < by_challenger.sum() < 2000
    assert (served.loc[by_challenger, "version"] == "v0001").all() and (served.loc[by_challenger, "slot"] == "blue").all()
    assert (served.loc[~by_challenger, "version"] == "v0002").all()
    assert (served.loc[~by_challenger, "slot"] == "green").all()
    assert np.allclose(served["score"], slots["served_score"], rtol=1e-12, atol=0)
    assert not np.allclose(served["score"], slots["live_score"], rtol=1e-12, atol=0)
    thresholds = {v: json.loads((project / "repo" / "models" / "churn" / v / "model.json").read_text())["metrics"]["threshold"]
                  for v in ("v0001", "v0002")}
    expected = (served["score"] >= served["version"].map(thresholds)).astype(int)
    assert (served["prediction"] == expected).all()
    # The live version's own KPI is still taken on its score of every row.
    [kpi] = [line.split(" ") for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines()
             if line.split(" ")[1:5] == ["2025-10", "churn", "v0002", "roc_auc"]]
    from sklearn.metrics import roc_auc_score

    assert kpi[6] == "2000"
    assert float(kpi[5]) == pytest.approx(roc_auc_score(slots["label"], slots["live_score"]), abs=1e-6)
    # `lowops score` of a window not extracted yet (extract and score in one pass) serves the same way.
    from lowops.stages.score import split_share

    run_ok(project, "score", "--window", "2025-11")
    [november_csv] = (project / "repo" / "outputs" / "2025-11").glob("predictions-*.csv")
    november = pd.read_csv(november_csv)
    routed = split_share(november["customer_id"].to_numpy(), "lowops") < 0.25
    assert len(november) == 2000 and 0 < routed.sum() < 2000
    # No trigger fired at 2025-10 (v0002 holds its KPI): the idle slot still holds v0001, which serves
    # the challenger's share.
    pointer = json.loads((project / "repo" / "deploy" / "churn.json").read_text())
    assert pointer["live"] == "green" and pointer["slots"]["blue"]["version"] == "v0001"
    assert "no retraining trigger fired at 2025-10; v0002 stays live" in (project / "repo" / "logs" / "lowops.log").read_text()
    assert (november["version"] == np.where(routed, "v0001", "v0002")).all()
    assert (november["slot"] == np.where(routed, "blue", "green")).all()


def test_a_resumed_split_run_judges_the_live_version_on_its_own_scores(drifted: Path, tmp_path: Path) -> None:
    from reliability_support import forked, lock_free

    clean = _split_run(drifted, tmp_path / "clean")
    run_ok(clean, "run", "--window", "2025-10")
    killed = _split_run(drifted, tmp_path / "killed")
    code, output = forked(killed, "run", "--window", "2025-10", out=tmp_path / "killed.txt",
                          LOWOPS_FAULT="before:evaluate@1")
    assert code == -signal.SIGKILL, output
    assert lock_free(killed / "repo")
    run_ok(killed, "run", "--window", "2025-10")
    assert "already complete for run" in (killed / "repo" / "logs" / "lowops.log").read_text()

    def kpis(project: Path) -> list[list[str]]:
        lines = (project / "repo" / "logs" / "metrics.log").read_text().splitlines()
        return [line.split(" ")[1:7] for line in lines if line.split(" ")[1] == "2025-10"]

    assert kpis(killed) == kpis(clean) and len(kpis(clean)) > 0


def test_late_labels_in_split_mode_judge_the_live_version_on_the_rows_it_served(drifted: Path,
                                                                                 tmp_path: Path) -> None:
    import pandas as pd

    from lowops.windows import last_complete, parse_window

    newest, september = last_complete("monthly"), parse_window("2025-09")
    delay = (newest.start.year - september.start.year) * 12 + newest.start.month - september.start.month
    # Labels up to 2025-09 are due today, 2025-10's are not; then they arrive.
    project = _split_run(drifted, tmp_path / "project", windows={"label_delay": delay})
    run_ok(project, "run", "--window", "2025-10")
    assert not (project / "repo" / "data" / "2025-10" / "labels.churn.latest.json").exists()
    set_config(project, {"windows": {"label_delay": 0}})
    [predictions_csv] = (project / "repo" / "outputs" / "2025-10").glob("predictions-*.csv")
    served = pd.read_csv(predictions_csv)
    run_ok(project, "run", "--window", "2025-11")
    [kpi] = [line.split(" ") for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines()
             if line.split(" ")[1:5] == ["2025-10", "churn", "v0002", "roc_auc"]]
    live_rows = int((served["version"] == "v0002").sum())
    assert 0 < live_rows < 2000 and kpi[6] == str(live_rows)
