"""Monitoring through the CLI on the small demo: the ``monitor`` stage of ``lowops run``,
``lowops drift``, late labels, the reference choices, status, and a quiet Sweetviz under cron."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import copy_project, home_with_keys, invoke, set_config

FEATURES = {"plan", "contract", "tenure_months", "age", "region", "payment_method", "data_gb", "call_minutes",
            "sms_count", "support_calls", "dropped_calls", "app_sessions", "monthly_charge", "discount_pct",
            "late_payments", "total_charges"}
WINDOW_FILES = {"data_drift.csv", "impact.csv", "model_drift.txt", "verdict.json"}


def configure(project: Path, **drift: object) -> None:
    """Switch monitoring on (the shared demo template has it off) and set ``drift`` keys, as a user would."""
    set_config(project, {"drift": {"enabled": True, "sweetviz": {"enabled": False}, **drift}})


@pytest.fixture(scope="module")
def monitored(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo run over 2025-06 … 2025-09 with monitoring on (v0001 trained on 2025-03 … 05)."""
    project = copy_project(demo_template, tmp_path_factory.mktemp("monitored") / "churn")
    configure(project)
    result = invoke(project, "backfill", "--from", "2025-06", "--to", "2025-09")
    assert result.exit_code == 0, result.output
    return project


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_window_gets_its_monitoring_files(monitored: Path) -> None:
    base = monitored / "repo" / "monitoring"
    assert sorted(p.name for p in base.iterdir()) == ["2025-06", "2025-07", "2025-08", "2025-09"]
    for window in base.iterdir():
        assert {p.name for p in window.iterdir()} == WINDOW_FILES
    rows = read_csv(base / "2025-09" / "data_drift.csv")
    assert {r["feature"] for r in rows} == FEATURES
    numeric = next(r for r in rows if r["feature"] == "monthly_charge")
    for column in ("median_shift", "psi", "ks", "ks_pvalue", "wasserstein_norm", "missing_change", "drifted"):
        assert numeric[column] != ""
    categorical = next(r for r in rows if r["feature"] == "contract")
    for column in ("psi", "jensen_shannon", "chi2_pvalue", "unseen_share"):
        assert categorical[column] != ""
    impact = read_csv(base / "2025-09" / "impact.csv")
    assert [int(r["rank"]) for r in impact] == list(range(1, 17))
    assert {"impact", "counterfactual_impact", "counterfactual_flip_share"} <= set(impact[0])


def test_the_shift_is_seen(monitored: Path) -> None:
    base = monitored / "repo" / "monitoring"
    before = json.loads((base / "2025-07" / "verdict.json").read_text())
    after = json.loads((base / "2025-08" / "verdict.json").read_text())
    assert "monthly_charge" not in before["drifted"] and "monthly_charge" in after["drifted"]
    assert not before["model_drift"] and after["model_drift"]  # labels (delay 0) show the drop at once
    assert after["model_drift_basis"] == "realised"
    assert after["ranking"][0] in after["drifted"]  # drifted features lead the ranking
    text = (base / "2025-08" / "model_drift.txt").read_text()
    assert "MODEL DRIFT" in text and "vs benchmark" in text and "CBPE estimate" in text


def test_metrics_log_lines(monitored: Path) -> None:
    lines = (monitored / "repo" / "logs" / "metrics.log").read_text().splitlines()
    assert all(len(line.split(" ")) == 8 for line in lines)
    names = {line.split(" ")[4] for line in lines if line.split(" ")[1] == "2025-09"}
    assert {"drift.monthly_charge.median_shift", "drift.contract.psi", "drift.contract.jensen_shannon",
            "impact.monthly_charge", "impact.monthly_charge.counterfactual", "cbpe.roc_auc", "kpi.roc_auc",
            "cbpe.roc_auc.error", "prediction.psi", "kpi.roc_auc.drop_t1", "kpi.roc_auc.drop_benchmark",
            "verdict.drift_that_matters", "verdict.model_drift"} <= names


def test_run_ledger_records_the_monitor_stage(monitored: Path) -> None:
    runs = [json.loads(p.read_text()) for p in sorted((monitored / "repo" / "runs").glob("r*.json"))]
    stage = next(s for s in runs[-1]["stages"] if s["name"] == "monitor")
    assert stage["status"] == "done"
    assert {"drift_that_matters", "model_drift", "evidence", "files"} <= set(stage["outputs"])
    names = [s["name"] for s in runs[-1]["stages"]]
    assert names.index("evaluate") < names.index("monitor")


def test_status_shows_the_latest_verdicts(monitored: Path) -> None:
    result = invoke(monitored, "status", catch_exceptions=False)
    assert result.exit_code == 0
    assert "latest monitoring (2025-09, v0001): drift that matters" in result.output
    data = json.loads(invoke(monitored, "status", "--json").output)
    assert data["drift"]["window"] == "2025-09" and isinstance(data["drift"]["model_drift"], bool)


def test_drift_command_json_and_fail_on_drift(monitored: Path, tmp_path: Path) -> None:
    work = copy_project(monitored, tmp_path / "churn")
    result = invoke(work, "drift", "--window", "2025-09", "--json", catch_exceptions=False)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert isinstance(data["drift_that_matters"], bool) and isinstance(data["model_drift"], bool)
    assert set(data["features"]) == FEATURES
    charge = data["features"]["monthly_charge"]
    assert {"median_shift", "psi", "ks", "ks_pvalue", "wasserstein_norm", "impact", "counterfactual_impact",
            "drifted"} <= set(charge)
    assert data["model_drift"]  # 2025-09 is after the shift
    failing = invoke(work, "drift", "--window", "2025-09", "--fail-on-drift")
    assert failing.exit_code == 3
    assert "drift that matters" in failing.output and "model drift:        YES" in failing.output


def test_drift_before_any_model(project: Path) -> None:
    configure(project)
    result = invoke(project, "drift", "--window", "2025-03")
    assert result.exit_code == 78
    assert "No version of model 'churn' is live yet" in result.output


def test_baseline_reference_needs_a_window(project: Path) -> None:
    configure(project, reference="baseline")
    result = invoke(project, "status")
    assert result.exit_code == 78
    assert "'drift' parameter must be given a baseline_window" in result.output


def test_previous_and_baseline_windows_as_reference(monitored: Path, tmp_path: Path) -> None:
    work = copy_project(monitored, tmp_path / "churn")
    configure(work, reference="previous")
    data = json.loads(invoke(work, "drift", "--window", "2025-09", "--json", catch_exceptions=False).stdout)
    assert data["reference"]["kind"] == "previous" and data["reference"]["windows"] == ["2025-08"]
    # August to September: the price rise is already in both, so the charge barely moves.
    assert data["features"]["monthly_charge"]["median_shift"] < 0.1
    configure(work, reference="baseline", baseline_window="2025-06")
    data = json.loads(invoke(work, "drift", "--window", "2025-09", "--json", catch_exceptions=False).stdout)
    assert data["reference"] == {"kind": "baseline", "windows": ["2025-06"], "rows": 2000}
    assert data["features"]["monthly_charge"]["drifted"]  # June is before the price rise


def test_late_labels_are_estimated_then_back_filled(monitored: Path, tmp_path: Path) -> None:
    from lowops.windows import last_complete, parse_window

    work = copy_project(monitored, tmp_path / "churn")
    newest, september = last_complete("monthly"), parse_window("2025-09")
    delay = (newest.start.year - september.start.year) * 12 + newest.start.month - september.start.month
    configure(work)
    set_config(work, {"windows": {"label_delay": delay}})  # labels up to 2025-09 are due today, 2025-10's are not
    assert invoke(work, "run", "--window", "2025-10").exit_code == 0
    october = json.loads((work / "repo" / "monitoring" / "2025-10" / "verdict.json").read_text())
    assert october["model_drift_basis"] == "estimated" and october["kpi"]["realised"] == {}
    set_config(work, {"windows": {"label_delay": 0}})
    assert invoke(work, "run", "--window", "2025-11").exit_code == 0
    lines = [line.split(" ") for line in (work / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    october_metrics = {p[4]: float(p[5]) for p in lines if p[1] == "2025-10"}
    assert {"roc_auc", "cbpe.roc_auc"} <= set(october_metrics)  # the estimate and, now, the realised KPI
    text = (work / "repo" / "monitoring" / "2025-11" / "model_drift.txt").read_text()
    assert "late labels: 2025-10 realised roc_auc=" in text


@pytest.mark.timeout(300)
def test_sweetviz_report_is_written_quietly(monitored: Path, tmp_path: Path, lowops_bin: Path) -> None:
    work = copy_project(monitored, tmp_path / "churn")
    configure(work, sweetviz={"enabled": True, "max_rows": 500, "reference_rows": 500})
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home_with_keys(tmp_path)), "LANG": "C.UTF-8"}  # cron's bare one
    done = subprocess.run([str(lowops_bin), "-C", str(work), "drift", "--window", "2025-08"], env=env,
                          capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr
    html = work / "repo" / "monitoring" / "2025-08" / "sweetviz_compare.html"
    assert html.stat().st_size > 10_000 and b"<html" in html.read_bytes()[:2000].lower()
    noise = ("findfont", "it/s", "%|", "Feature:", "Report ", "[Step", "Done!")
    for stream in (done.stdout, done.stderr):
        assert not [n for n in noise if n in stream], stream
