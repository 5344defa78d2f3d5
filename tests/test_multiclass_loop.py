"""The loop end to end on a multiclass target, as a user sets it up: a card tier of three classes.

The feature store is built here (SQLite: 1,500 new customers a month, 2025-01 to 2025-08, two
numeric features and a categorical one; the tier depends on ``x1`` and ``x2``); the project is
laid out by ``lowops init --no-demo`` with its SQL and YAML written as a user would, and the
installed ``lowops`` runs the backfill 2025-04..2025-06 in a subprocess (v0001 trained on
2025-01..03). From 2025-05 ``x1``, the tier's driver, moves by 1.5 standard deviations: drift
that matters, a retrain, and the comparison of generations on the macro ROC AUC. Then 2025-07
runs with its labels late (judged on the CBPE estimate) and 2025-08 once they are in (2025-07's
stored predictions evaluated from the CSV's per-class columns).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

CLASSES = ["bronze", "silver", "gold"]
WINDOWS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-08"]
ROWS = 1500
LOWOPS = Path(sys.executable).parent / "lowops"  # the installed console script, as cron runs it


def _store(path: Path, windows: list[str], rename: dict[str, str]) -> None:
    """Features and labels; each month's customers are new (their ids say the month)."""
    rng = np.random.default_rng(7)
    features, labels = [], []
    for w, window in enumerate(windows):
        x1 = rng.normal(1.5 if window >= "2025-05" else 0.0, 1.0, ROWS)
        x2 = rng.normal(0.0, 1.0, ROWS)
        cat = rng.choice(["north", "south", "east"], ROWS)
        logits = np.column_stack([np.zeros(ROWS), 2.0 * x1 + 0.5 * (cat == "south"), 2.0 * x2 - 1.0 * x1])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        tier = [CLASSES[int(np.searchsorted(np.cumsum(row), u))] for row, u in zip(p, rng.random(ROWS), strict=True)]
        for i in range(ROWS):
            ts = f"{window}-{1 + i % 28:02d} 12:00:00"
            features.append((w * 100_000 + i, ts, float(x1[i]), float(x2[i]), str(cat[i])))
            labels.append((w * 100_000 + i, ts, rename.get(tier[i], tier[i])))
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE features (id INTEGER, ts TEXT, x1 REAL, x2 REAL, region TEXT)")
        conn.execute("CREATE TABLE labels (id INTEGER, ts TEXT, tier TEXT)")
        conn.executemany("INSERT INTO features VALUES (?, ?, ?, ?, ?)", features)
        conn.executemany("INSERT INTO labels VALUES (?, ?, ?)", labels)


def _label_delay_until(window: str) -> int:
    """The ``windows.label_delay`` at which ``window``'s labels are due today and the next window's are not."""
    from lowops.windows import last_complete, parse_window, window_range

    return len(window_range(parse_window(window), last_complete("monthly"))) - 1


def _lowops(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LOWOPS), *args], cwd=project, capture_output=True, text=True, check=False)


def _lay_out(project: Path, windows: list[str] = WINDOWS, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """``lowops init --no-demo``, the store (``rename``: tiers the store calls otherwise), SQL and YAML; the YAML."""
    done = subprocess.run([str(LOWOPS), "init", str(project), "--no-demo"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    _store(project / "store.sqlite", windows, rename or {})
    for old in (project / "sql").glob("*.sql"):
        old.unlink()
    window = "WHERE ts >= :window_start AND ts < :window_end"
    (project / "sql" / "features.sql").write_text(f"SELECT id, x1, x2, region\nFROM features\n{window}\nORDER BY id\n")
    (project / "sql" / "labels.sql").write_text(f"SELECT id, tier\nFROM labels\n{window}\nORDER BY id\n")
    config = project / "config" / "lowops.yaml"
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["project"] = "tiers"
    data["database"]["url"] = "sqlite:///store.sqlite"
    data["entity_key"] = "id"
    data["features"]["marts"] = {"features": "sql/features.sql"}
    data["labels"] = {"sql": "sql/labels.sql", "target": "tier", "classes": CLASSES}
    data["model"]["name"] = "tier"
    data["model"]["estimator"] = {"class": "sklearn.ensemble.HistGradientBoostingClassifier",
                                  "params": {"max_iter": 40}}
    data["train"]["windows"] = 3
    data["compare"]["bootstrap"] = 200
    data["smoke"]["golden"] = "holdout"
    data["smoke"].pop("golden_sql", None)
    data["drift"]["sweetviz"]["enabled"] = False
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


@pytest.fixture(scope="module")
def tiers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("multiclass") / "tiers"
    data = _lay_out(project)
    config = project / "config" / "lowops.yaml"
    done = _lowops(project, "backfill", "--from", "2025-04", "--to", "2025-06")
    assert done.returncode == 0, done.stderr
    for window, delay in (("2025-07", _label_delay_until("2025-06")), ("2025-08", 0)):
        data["windows"]["label_delay"] = delay
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        done = _lowops(project, "run", "--window", window)
        assert done.returncode == 0, done.stderr
    return project


def _metrics(project: Path) -> list[list[str]]:
    return [line.split(" ") for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines()]


def _predictions(project: Path, window: str) -> list[dict[str, str]]:
    [path] = (project / "repo" / "outputs" / window).glob("predictions-*.csv")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_predictions_name_the_class_and_give_each_class_its_probability(tiers: Path) -> None:
    rows = _predictions(tiers, "2025-04")
    assert list(rows[0]) == ["id", "x1", "x2", "region", "score", "prediction", "label", "score_bronze",
                             "score_silver", "score_gold", "model", "version", "slot", "run_id", "scored_at"]
    assert len(rows) == ROWS
    for row in rows:
        proba = {c: float(row[f"score_{c}"]) for c in CLASSES}
        assert sum(proba.values()) == pytest.approx(1.0, abs=1e-9)
        assert row["prediction"] == max(proba, key=lambda c: proba[c])
        assert float(row["score"]) == proba[row["prediction"]]
        assert row["label"] in CLASSES
    card = json.loads((tiers / "repo" / "models" / "tier" / "v0001" / "model.json").read_text())
    assert card["classes"] == CLASSES and card["task"] == "classification"


def test_macro_and_per_class_metrics_are_logged_as_sklearn_computes_them(tiers: Path) -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    rows = _predictions(tiers, "2025-04")
    y = np.array([CLASSES.index(r["label"]) for r in rows])
    proba = np.array([[float(r[f"score_{c}"]) for c in CLASSES] for r in rows])
    logged = {p[4]: (float(p[5]), int(p[6])) for p in _metrics(tiers) if p[1:4] == ["2025-04", "tier", "v0001"]}
    assert logged["roc_auc"] == (pytest.approx(roc_auc_score(y, proba, multi_class="ovr"), abs=1e-6), ROWS)
    assert logged["f1"][0] == pytest.approx(f1_score(y, proba.argmax(axis=1), average="macro"), abs=1e-6)
    for c, name in enumerate(CLASSES):
        assert logged[f"roc_auc_{name}"][0] == pytest.approx(roc_auc_score(y == c, proba[:, c]), abs=1e-6)
        assert logged[f"f1_{name}"][0] == pytest.approx(f1_score(y == c, proba.argmax(axis=1) == c), abs=1e-6)
    assert {"accuracy", "log_loss", "se.roc_auc", "prediction.psi", "prediction.psi_bronze", "cbpe.roc_auc",
            "cbpe.f1_gold"} <= set(logged)


def test_the_cbpe_estimate_is_near_the_realised_macro_auc(tiers: Path) -> None:
    # Covariate shift only (the tier's relation to x1 and x2 never changes): calibration holds,
    # so the estimate stays within 0.03 of the realised macro AUC, shift or not.
    lines = _metrics(tiers)
    for window in ("2025-04", "2025-05", "2025-06", "2025-07", "2025-08"):
        found = {p[4]: float(p[5]) for p in lines if p[1] == window and p[4] in ("roc_auc", "cbpe.roc_auc")}
        assert abs(found["cbpe.roc_auc"] - found["roc_auc"]) < 0.03, (window, found)


def test_drift_in_the_driver_retrains_and_generations_compare_on_the_macro_auc(tiers: Path) -> None:
    may = json.loads((tiers / "repo" / "monitoring" / "2025-05" / "verdict.json").read_text())
    assert may["drift_that_matters"] is True and "x1" in may["drifted"]
    assert may["features"]["x1"]["counterfactual_flip_share"] > 0
    decision = (tiers / "repo" / "monitoring" / "2025-05" / "decision.txt").read_text()
    assert "primary metric roc_auc" in decision and "roc_auc_silver" in decision
    assert "v0002" in decision
    listed = _lowops(tiers, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [v["version"] for v in json.loads(listed.stdout)][:2] == ["v0001", "v0002"]


def test_late_labels_judge_the_estimated_window_from_its_stored_probabilities(tiers: Path) -> None:
    july = tiers / "repo" / "monitoring" / "2025-07"
    first = json.loads((july / "estimated" / "verdict.json").read_text())
    assert first["model_drift_basis"] == "estimated" and first["kpi"]["realised"] == {}
    assert {"roc_auc", "f1", "accuracy", "roc_auc_gold", "f1_bronze"} <= set(first["kpi"]["estimated"])
    after = json.loads((july / "verdict.json").read_text())
    assert after["model_drift_basis"] == "realised"
    lines = _metrics(tiers)
    late = {p[4]: float(p[5]) for p in lines if p[1] == "2025-07" and p[7] == after["late_labels"]["run_id"]}
    rows = _predictions(tiers, "2025-07")
    assert all(r["label"] == "" for r in rows)  # scored before its labels existed
    from sklearn.metrics import roc_auc_score

    store = sqlite3.connect(tiers / "store.sqlite")
    truth = dict(store.execute("SELECT id, tier FROM labels WHERE ts >= '2025-07' AND ts < '2025-08'").fetchall())
    store.close()
    y = np.array([CLASSES.index(truth[int(r["id"])]) for r in rows])
    proba = np.array([[float(r[f"score_{c}"]) for c in CLASSES] for r in rows])
    assert late["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"), abs=1e-6)
    assert late["cbpe.roc_auc.error"] == pytest.approx(first["kpi"]["estimated"]["roc_auc"] - late["roc_auc"],
                                                       abs=2e-6)


def test_verify_passes(tiers: Path) -> None:
    verified = _lowops(tiers, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_smoke_test_checks_every_probability(tiers: Path) -> None:
    smoke = _lowops(tiers, "smoke", "v0001")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "in range [" in smoke.stdout


def test_the_dashboard_status_and_a_sweetviz_report_without_the_multiclass_target(tiers: Path) -> None:
    for args in (("report",), ("status",), ("models", "show", "v0001"), ("models", "diff", "v0001", "v0002")):
        done = _lowops(tiers, *args)
        assert done.returncode == 0, (args, done.stderr)
    assert "roc_auc" in (tiers / "repo" / "reports" / "index.html").read_text(encoding="utf-8")
    # A re-check computes the realised KPIs itself, from the snapshot's rows and the stored labels.
    done = _lowops(tiers, "drift", "--window", "2025-04")
    assert done.returncode == 0, done.stderr
    [recheck] = (tiers / "repo" / "monitoring" / "2025-04").glob("recheck-*/verdict.json")
    realised = json.loads(recheck.read_text())["kpi"]["realised"]
    logged = {p[4]: float(p[5]) for p in _metrics(tiers) if p[1:4] == ["2025-04", "tier", "v0001"]}
    assert realised["roc_auc"] == pytest.approx(logged["roc_auc"], abs=1e-6)
    assert realised["f1_silver"] == pytest.approx(logged["f1_silver"], abs=1e-6)
    done = _lowops(tiers, "report", "--sweetviz", "2025-05")
    assert done.returncode == 0, done.stderr
    assert (tiers / "repo" / "monitoring" / "2025-05" / "sweetviz_compare.html").is_file()
    log = (tiers / "repo" / "logs" / "lowops.log").read_text()
    assert ("without the target tier: Sweetviz takes a boolean or numeric target, not a multiclass one) "
            "written to monitoring/2025-05/sweetviz_compare.html") in log


def test_a_label_outside_the_classes_is_bad_data_naming_it(tmp_path: Path) -> None:
    project = tmp_path / "tiers"
    _lay_out(project, WINDOWS[:3], rename={"gold": "diamond"})
    done = _lowops(project, "train", "--window", "2025-03")
    assert done.returncode == 65, done.stderr
    store = sqlite3.connect(project / "store.sqlite")
    [(count,)] = store.execute("SELECT COUNT(*) FROM labels WHERE tier = 'diamond' AND ts < '2025-02'").fetchall()
    store.close()
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: window 2025-01: labels.target 'tier' holds 'diamond' ({count} of {ROWS} rows), outside "
        f"labels.classes ['bronze', 'silver', 'gold']; map them in {project / 'sql' / 'labels.sql'} (CASE WHEN …) "
        "or list every class in labels.classes.")


def test_training_needs_every_class_and_a_multiclass_primary_metric(tmp_path: Path) -> None:
    project = tmp_path / "tiers"
    data = _lay_out(project, WINDOWS[:3], rename={"gold": "silver"})
    done = _lowops(project, "train", "--window", "2025-03")
    assert done.returncode == 65, done.stderr
    assert done.stderr.strip() == (
        "Error: The training range 2025-01, 2025-02, 2025-03 holds no label 'gold' of labels.target 'tier' "
        "(labels.classes ['bronze', 'silver', 'gold']); a multiclass model learns every class. Check labels.sql "
        "and labels.classes, or widen train.windows.")
    data["train"]["primary_metric"] = "pr_auc"
    (project / "config" / "lowops.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    done = _lowops(project, "validate")
    assert done.returncode == 78, done.stderr
    assert done.stderr.strip() == (
        f"Error: {project / 'config' / 'lowops.yaml'}: the 'train.primary_metric' parameter must be one of roc_auc, "
        "f1, accuracy, log_loss for a multiclass target (labels.classes lists 3 classes). Got 'pr_auc' instead.")


def test_a_resumed_run_reads_the_probabilities_back_from_its_predictions(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    project = tmp_path / "tiers"
    _lay_out(project, WINDOWS[:4])
    killed = subprocess.run([str(LOWOPS), "run", "--window", "2025-04"], cwd=project, capture_output=True, text=True,
                            check=False, env={**os.environ, "LOWOPS_FAULT": "before:evaluate@1"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = _lowops(project, "run", "--window", "2025-04")
    assert done.returncode == 0, done.stderr
    assert "already complete for run" in (project / "repo" / "logs" / "lowops.log").read_text()
    rows = _predictions(project, "2025-04")
    y = np.array([CLASSES.index(r["label"]) for r in rows])
    proba = np.array([[float(r[f"score_{c}"]) for c in CLASSES] for r in rows])
    [logged] = [float(p[5]) for p in _metrics(project) if p[1] == "2025-04" and p[4] == "roc_auc"]
    assert logged == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"), abs=1e-6)
