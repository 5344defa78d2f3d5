"""The label contract: the configured classes only, both of them where a model learns and is measured,
NULL labels counted, and a KPI that is undefined never logged as one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import copy_project, invoke, set_config
from reliability_support import fast_ran, fast_template, store_exec

from lowops.io.snapshots import latest, load


@pytest.fixture()
def template(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(fast_template(tmp_path_factory), tmp_path / "churn")


@pytest.fixture()
def ran(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")


def _labels_as(project: Path, expression: str, window: str = "2025-04") -> None:
    start = f"{window}-01"
    store_exec(project, f"UPDATE churn_labels SET churned = {expression} WHERE month >= ? AND month < "
                        "date(?, '+1 month')", params=(start, start))


def test_labels_outside_the_classes_are_bad_data_naming_the_values(ran: Path) -> None:
    _labels_as(ran, "CASE churned WHEN 1 THEN 2 ELSE 0 END")
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 65, result.output
    assert result.stderr.startswith("Error: window 2025-04: labels.target 'churned' holds '2' (")
    assert result.stderr.endswith("rows), outside labels.classes [0, 1]; map them in "
                                  f"{ran / 'sql' / 'labels.sql'} (CASE WHEN …) or set labels.classes to the "
                                  "negative and the positive class.\n")
    assert latest(ran / "repo", "2025-04", "labels", "churn") is None  # nothing stored


def test_text_labels_are_refused_unless_they_are_the_configured_classes(template: Path) -> None:
    for window in ("2024-10", "2024-11", "2024-12", "2025-01"):
        _labels_as(template, "CASE churned WHEN 1 THEN 'yes' ELSE 'no' END", window)
    result = invoke(template, "run", "--window", "2025-01")
    assert result.exit_code == 65, result.output
    assert "labels.target 'churned' holds 'no', 'yes' (" in result.stderr
    set_config(template, {"labels": {"classes": ["no", "yes"]}})
    result = invoke(template, "run", "--window", "2025-01")
    assert result.exit_code == 0, result.output
    stored = load(latest(template / "repo", "2024-12", "labels", "churn"))  # type: ignore[arg-type]
    assert sorted(stored["churned"].unique().tolist()) == [0, 1]  # stored as the classes lowops uses


def test_null_labels_are_counted_and_left_out(ran: Path) -> None:
    april = "month >= '2025-04-01' AND month < '2025-05-01'"
    store_exec(ran, f"UPDATE churn_labels SET churned = NULL WHERE {april} AND customer_id % 4 = 0")
    with sqlite3.connect(ran / "demo" / "store.sqlite") as conn:
        (nulls,) = conn.execute(f"SELECT count(*) FROM churn_labels WHERE {april} AND churned IS NULL").fetchone()
    assert 100 < nulls < 400
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    log = (ran / "repo" / "logs" / "lowops.log").read_text()
    assert f" 2025-04 labels WARN 2025-04: {nulls} of 500 labels are NULL; those rows are left out of every KPI" in log
    rows = {line.split()[4]: int(line.split()[6]) for line in (ran / "repo" / "logs" / "metrics.log").read_text()
            .splitlines() if line.split()[1] == "2025-04" and line.split()[4] == "roc_auc"}
    assert rows == {"roc_auc": 500 - nulls}


def test_a_window_of_one_class_logs_no_undefined_kpi(ran: Path) -> None:
    _labels_as(ran, "0")
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    metrics = [line.split() for line in (ran / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    logged = {m[4] for m in metrics if m[1] == "2025-04"}
    assert "roc_auc" not in logged and "pr_auc" not in logged and "kpi.roc_auc" not in logged
    assert "accuracy" in logged  # what is defined on one class is still logged
    assert not any(m[5] == "nan" and m[4] in ("roc_auc", "pr_auc") for m in metrics)
    log = (ran / "repo" / "logs" / "lowops.log").read_text()
    assert "evaluate WARN pr_auc, roc_auc undefined on the 500 labelled rows of 2025-04 (labels [0]): not logged" \
        in log


def test_training_needs_both_classes_in_its_range_and_its_hold_out(template: Path) -> None:
    _labels_as(template, "0", "2024-12")  # the first version's hold-out
    result = invoke(template, "run", "--window", "2025-01")
    assert result.exit_code == 65, result.output
    assert result.stderr == ("Error: The hold-out window 2024-12 holds only class 0 label of labels.target "
                             "'churned' (91 rows: its held-out entities); training and its benchmark need both "
                             "classes. Check labels.sql, or widen train.windows.\n")
    assert not (template / "repo" / "models").exists()


@pytest.mark.parametrize(("estimator", "fix"), [
    ("sklearn.preprocessing.StandardScaler",
     ": choose a classifier (e.g. sklearn.ensemble.HistGradientBoostingClassifier)."),
    ("sklearn.linear_model.LinearRegression",
     ", which is a regressor: choose a classifier or set model.task: regression."),
])
def test_an_estimator_that_cannot_classify_is_a_config_error(template: Path, estimator: str, fix: str) -> None:
    set_config(template, {"model": {"estimator": {"class": estimator, "params": {}}}})
    result = invoke(template, "run", "--window", "2025-01")
    assert result.exit_code == 78, result.output
    assert result.stderr == (f"Error: {template / 'config' / 'lowops.yaml'}: the 'model.estimator.class' parameter "
                             "must be a classifier for model.task 'classification' (it needs predict_proba). Got "
                             f"{estimator!r} instead{fix}\n")
    ledger = json.loads(sorted((template / "repo" / "runs").glob("r*.json"))[-1].read_text())
    assert ledger["status"] == "failed"
