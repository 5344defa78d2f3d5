"""The loop end to end on a regression target: next month's charge of each demo customer.

Customers who leave have no next month, so every window's labels are partly missing. The
project runs 2025-05 to 2025-07 with labels on time (v0001 trained on 2025-02..04; the demo
world's shift reaches the charges of 2025-08, the labels of 2025-07), then 2025-08 with its
labels late (judged on the DLE estimate) and 2025-09 once they are in.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke, make_project, set_config

REGRESSION: dict[str, Any] = {
    "model": {"name": "charge", "task": "regression",
              "estimator": {"class": "sklearn.ensemble.HistGradientBoostingRegressor", "params": {"max_iter": 40}}},
    "labels": {"sql": "sql/charge_labels.sql", "target": "next_charge"},
    "train": {"primary_metric": "rmse"},
    # Monitoring on, retraining off: v0001 stays live, so every window is judged against the same version.
    "triggers": {"model_drift": False, "data_drift": False, "every_windows": 0, "config_change": False},
    # No report in the background at every window that needs attention: the one Sweetviz test builds its own.
    "drift": {"sweetviz": {"enabled": False}},
}
# Words of a classifier's monitoring that have no meaning for a regressor.
CLASSIFICATION_WORDS = re.compile(r"class flip|flip_share|CBPE|cbpe|roc_auc|probabilit|threshold 0\.5", re.IGNORECASE)


def _metrics(project: Path) -> list[list[str]]:
    return [line.split(" ") for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines()]


def _label_delay_until(window: str) -> int:
    """The ``windows.label_delay`` at which ``window``'s labels are due today and the next window's are not."""
    from lowops.windows import last_complete, parse_window, window_range

    return len(window_range(parse_window(window), last_complete("monthly"))) - 1


# What the commands of the module's project printed, in order.
PRINTED: list[str] = []


def _ok(project: Path, *args: str) -> None:
    result = invoke(project, *args)
    assert result.exit_code == 0, result.output
    PRINTED.append(result.output)


@pytest.fixture(scope="module")
def charge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("regression") / "charge", REGRESSION, customers=1000)
    assert (project / "sql" / "charge_labels.sql").is_file()  # the demo's own, copied by lowops init
    _ok(project, "backfill", "--from", "2025-05", "--to", "2025-07")
    set_config(project, {"windows": {"label_delay": _label_delay_until("2025-07")}})
    _ok(project, "run", "--window", "2025-08")
    set_config(project, {"windows": {"label_delay": 0}})
    _ok(project, "run", "--window", "2025-09")
    _ok(project, "drift", "--window", "2025-08")
    _ok(project, "status")
    return project


def test_regression_metrics_are_logged_and_match_the_predictions(charge: Path) -> None:
    from lowops.model.metrics import regression_metrics

    [predictions] = (charge / "repo" / "outputs" / "2025-06").glob("predictions-*.csv")
    with predictions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1000
    labelled = [r for r in rows if r["label"] != ""]
    assert 0 < len(labelled) < len(rows)  # the customers who left have no next month
    # The labels, read here from the store itself: the next month's charge of each customer.
    store = sqlite3.connect(charge / "demo" / "store.sqlite")
    truth = dict(store.execute(
        "SELECT b.customer_id, n.monthly_charge FROM billing_monthly b JOIN billing_monthly n "
        "ON n.customer_id = b.customer_id AND n.month = (SELECT MIN(month) FROM billing_monthly "
        "WHERE month >= '2025-07-01') WHERE b.month >= '2025-06-01' AND b.month < '2025-07-01'").fetchall())
    store.close()
    assert {int(r["customer_id"]) for r in labelled} == set(truth)
    expected = regression_metrics([truth[int(r["customer_id"])] for r in labelled],
                                  [float(r["prediction"]) for r in labelled])
    logged = {p[4]: (float(p[5]), int(p[6])) for p in _metrics(charge)
              if p[1:4] == ["2025-06", "charge", "v0001"] and p[4] in expected}
    assert set(logged) == {"rmse", "mae", "r2", "mape"}
    for name, value in expected.items():
        assert logged[name] == (pytest.approx(value, abs=1e-6), len(labelled))


def test_a_clearly_worse_window_is_model_drift_in_the_targets_units_and_noise_is_not(charge: Path) -> None:
    verdicts = {w: json.loads((charge / "repo" / "monitoring" / w / "verdict.json").read_text())
                for w in ("2025-05", "2025-06", "2025-07")}
    assert [verdicts[w]["model_drift"] for w in ("2025-05", "2025-06", "2025-07")] == [False, False, True]
    july = verdicts["2025-07"]["kpi"]
    benchmark = next(c for c in july["comparisons"] if c["against"].startswith("benchmark"))
    # RMSE: lower is better, so a higher RMSE is a positive drop; its tolerance is 3 standard errors, in charge units.
    assert benchmark["drop"] == pytest.approx(july["value"] - benchmark["reference"])
    assert benchmark["drop"] > benchmark["tolerance"] > 0.02
    assert benchmark["rule"].startswith("3 x se ")
    text = (charge / "repo" / "monitoring" / "2025-06" / "model_drift.txt").read_text()
    assert "rmse at 2025-06:" in text and "-> within tolerance" in text and "verdict: no model drift" in text


def test_dle_estimates_the_unlabelled_window_and_its_error_is_logged_when_labels_arrive(charge: Path) -> None:
    august = charge / "repo" / "monitoring" / "2025-08"
    first = json.loads((august / "estimated" / "verdict.json").read_text())
    assert first["model_drift_basis"] == "estimated" and first["kpi"]["realised"] == {}
    estimate = first["kpi"]["estimated"]
    assert set(estimate) == {"rmse", "mae"} and 0 < estimate["mae"] < estimate["rmse"]
    assert "rmse at 2025-08: " in (august / "estimated" / "model_drift.txt").read_text()
    assert "estimated by DLE (no labels yet)" in (august / "estimated" / "model_drift.txt").read_text()
    lines = _metrics(charge)
    estimated_run = first["run_id"]
    logged = {p[4]: float(p[5]) for p in lines if p[1] == "2025-08" and p[7] == estimated_run}
    assert logged["dle.rmse"] == pytest.approx(estimate["rmse"], abs=1e-6)
    assert logged["dle.mae"] == pytest.approx(estimate["mae"], abs=1e-6)
    assert "rmse" not in logged  # no labels at that run

    after = json.loads((august / "verdict.json").read_text())
    late_run = after["late_labels"]["run_id"]
    late = {p[4]: float(p[5]) for p in lines if p[1] == "2025-08" and p[7] == late_run}
    for name in ("rmse", "mae"):
        assert late[f"dle.{name}.error"] == pytest.approx(estimate[name] - late[name], abs=2e-6)
    assert after["model_drift_basis"] == "realised"
    assert after["late_labels"]["dle_error"]["rmse"] == pytest.approx(estimate["rmse"] - late["rmse"], abs=1e-6)
    assert "DLE estimate: mae=" in (august / "model_drift.txt").read_text()


def test_sweetviz_builds_with_a_partly_missing_target(charge: Path) -> None:
    result = invoke(charge, "report", "--sweetviz", "2025-08")
    assert result.exit_code == 0, result.output
    report = charge / "repo" / "monitoring" / "2025-08" / "sweetviz_compare.html"
    assert report.is_file() and "next_charge" in report.read_text(encoding="utf-8")
    log = (charge / "repo" / "logs" / "lowops.log").read_text()
    assert "Sweetviz report of 2025-08" in log
    assert "failed" not in log and "MUST NOT have any missing values" not in log


def test_no_classification_wording_in_the_outputs_and_logs(charge: Path) -> None:
    repo = charge / "repo"
    files = [*sorted((repo / "monitoring").rglob("*.txt")), *sorted((repo / "monitoring").rglob("*.json")),
             *sorted((repo / "monitoring").rglob("*.csv")), repo / "logs" / "lowops.log", repo / "logs" / "metrics.log"]
    found = {str(f.relative_to(repo)): sorted(set(CLASSIFICATION_WORDS.findall(f.read_text()))) for f in files}
    found.update({f"output {i}": sorted(set(CLASSIFICATION_WORDS.findall(text))) for i, text in enumerate(PRINTED)})
    assert {name: words for name, words in found.items() if words} == {}
    assert len(PRINTED) == 5 and "rmse=" in PRINTED[0] and "[rmse " in PRINTED[3]
    assert not any(math.isnan(float(p[5])) for p in _metrics(charge) if p[4].startswith("impact."))
