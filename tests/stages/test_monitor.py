"""Monitoring through the CLI on the small demo: the ``monitor`` stage of ``lowops run``,
``lowops drift``, late labels, the reference choices, status, and a quiet Sweetviz under cron."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import PATIENCE, copy_project, home_with_keys, invoke, set_config
from ct_support import drifted_project

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
    # 2025-09 has its record (against the training range): the other references are re-checks beside it.
    data = json.loads(invoke(work, "drift", "--window", "2025-09", "--json", catch_exceptions=False).stdout)
    assert data["reference"]["kind"] == "training"
    recheck = data["recheck"]
    assert recheck["reference"]["kind"] == "previous" and recheck["reference"]["windows"] == ["2025-08"]
    # August to September: the price rise is already in both, so the charge barely moves.
    assert recheck["features"]["monthly_charge"]["median_shift"] < 0.1
    configure(work, reference="baseline", baseline_window="2025-06")
    recheck = json.loads(invoke(work, "drift", "--window", "2025-09", "--json", catch_exceptions=False).stdout)["recheck"]
    assert recheck["reference"] == {"kind": "baseline", "windows": ["2025-06"], "rows": 2000}
    assert recheck["features"]["monthly_charge"]["drifted"]  # June is before the price rise


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


def test_sweetviz_report_only_where_a_person_looks_and_on_demand_quietly(monitored: Path, tmp_path: Path,
                                                                        lowops_bin: Path) -> None:
    work = copy_project(monitored, tmp_path / "churn")
    configure(work, sweetviz={"enabled": True, "max_rows": 500, "reference_rows": 500})
    quiet = invoke(work, "drift", "--window", "2025-03", "--json", catch_exceptions=False)
    assert quiet.exit_code == 0, quiet.output
    verdict = json.loads(quiet.stdout)
    assert "recheck" not in verdict  # a first check: the record itself
    assert verdict["drift_that_matters"] is False and verdict["model_drift"] is False
    assert "sweetviz_compare.html" not in verdict["files"]  # drift.sweetviz.when: attention
    assert not list((work / "repo" / "monitoring" / "2025-03").rglob("sweetviz_compare.html"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home_with_keys(tmp_path)), "LANG": "C.UTF-8"}  # cron's bare one
    done = subprocess.run([str(lowops_bin), "-C", str(work), "drift", "--window", "2025-03", "--sweetviz"],
                          env=env, capture_output=True, text=True, timeout=PATIENCE, check=False)
    assert done.returncode == 0, done.stderr
    html = work / "repo" / "monitoring" / "2025-03" / f"recheck-{_last_run(work)}" / "sweetviz_compare.html"
    assert html.stat().st_size > 10_000 and b"<html" in html.read_bytes()[:2000].lower()
    noise = ("findfont", "it/s", "%|", "Feature:", "Report ", "[Step", "Done!")
    for stream in (done.stdout, done.stderr):
        assert not [n for n in noise if n in stream], stream


def _sweetviz_lines(project: Path, run_id: str) -> list[str]:
    log = (project / "repo" / "logs" / "lowops.log").read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 4)[4] for line in log if line.split(" ")[1] == run_id and line.split(" ")[3] == "sweetviz"]


def test_a_runs_sweetviz_report_comes_after_its_results_and_never_holds_it_up(monitored: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    from lowops.commands._background import wait_for_reports
    from lowops.io.lock import holder_if_locked, queue_lock

    work = copy_project(monitored, tmp_path / "churn")
    configure(work, sweetviz={"enabled": True, "when": "always", "max_rows": 300})
    monkeypatch.delenv("LOWOPS_SWEETVIZ_WAIT")  # as under cron: the run does not wait for its report
    folder = work / "repo" / "monitoring" / "2025-10"
    # A report still being built (here: queued behind another) keeps neither the run nor the repository.
    with queue_lock(work / "repo" / ".sweetviz.lock"):
        result = invoke(work, "run", "--window", "2025-10", catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert {p.name for p in folder.iterdir()} == WINDOW_FILES  # the results, and no report yet
        assert holder_if_locked(work / "repo") is None
        run_id = _last_run(work)
        assert json.loads((work / "repo" / "runs" / f"{run_id}.json").read_text())["status"] == "done"
    assert wait_for_reports() == [0]
    assert {p.name for p in folder.iterdir()} == WINDOW_FILES | {"sweetviz_compare.html"}
    assert b"<html" in (folder / "sweetviz_compare.html").read_bytes()[:2000].lower()
    started, written = _sweetviz_lines(work, run_id)
    assert started.startswith("INFO Sweetviz report of 2025-10 started in the background (pid ")
    assert written.startswith("INFO Sweetviz report of 2025-10 (v0001; 300 reference rows, 300 window rows) "
                              "written to monitoring/2025-10/sweetviz_compare.html in ")


@pytest.mark.parametrize("signal", ["ERROR", "KILL"])
def test_a_failing_sweetviz_report_leaves_the_run_done_and_its_results_intact(monitored: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch,
                                                                               signal: str) -> None:
    work = copy_project(monitored, tmp_path / "churn")
    configure(work, sweetviz={"enabled": True, "when": "always", "max_rows": 300})
    monkeypatch.setenv("LOWOPS_FAULT", "sweetviz:build")  # reached in the report's process only
    monkeypatch.setenv("LOWOPS_FAULT_SIGNAL", signal)
    result = invoke(work, "run", "--window", "2025-10", "--json", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "done"
    folder = work / "repo" / "monitoring" / "2025-10"
    assert {p.name for p in folder.iterdir()} == WINDOW_FILES  # no report, no half-written file
    assert json.loads((folder / "verdict.json").read_text())["window"] == "2025-10"
    run_id = _last_run(work)
    assert json.loads((work / "repo" / "runs" / f"{run_id}.json").read_text())["status"] == "done"
    assert (work / "repo" / "outputs" / "2025-10").is_dir()
    last = _sweetviz_lines(work, run_id)[-1]
    if signal == "ERROR":
        assert last == ("WARN Sweetviz report of 2025-10 failed (InjectedFault: fault injected at sweetviz:build "
                        "(LOWOPS_FAULT)); the window's drift results are unaffected; `lowops report --sweetviz "
                        "2025-10` tries again")
    else:
        assert last.startswith("WARN the Sweetviz report of 2025-10 (pid ")
        assert last.endswith(") was killed by SIGKILL; the window's results are unaffected")
    monkeypatch.delenv("LOWOPS_FAULT")
    again = invoke(work, "report", "--sweetviz", "2025-10", catch_exceptions=False)  # one command away
    assert again.exit_code == 0, again.output
    assert again.output == f"wrote {folder / 'sweetviz_compare.html'} (2025-10 against v0001)\n"


def test_report_sweetviz_names_what_is_missing(monitored: Path, tmp_path: Path) -> None:
    work = copy_project(monitored, tmp_path / "churn")
    configure(work, sweetviz={"enabled": True})
    result = invoke(work, "report", "--sweetviz", "2024-01")
    assert result.exit_code == 65
    assert result.output == ("Error: Window 2024-01 has no stored feature snapshot from today's SQL; run "
                             "`lowops run --window 2024-01` (or `lowops drift`) first.\n")


# --------------------------------------------------------------------------- re-checking a past window


def _last_run(project: Path) -> str:
    return sorted((project / "repo" / "runs").glob("r*.json"))[-1].stem


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def rechecked(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A copy of the project whose 2025-09 run (v0001, model drift) retrained and made v0002 live; Sweetviz off."""
    project = copy_project(drifted_project(tmp_path_factory), tmp_path / "project")
    configure(project)
    return project


def test_a_past_window_is_rechecked_with_the_version_that_scored_it_beside_the_record(rechecked: Path) -> None:
    september = rechecked / "repo" / "monitoring" / "2025-09"
    record, recorded = _files(september), json.loads((september / "verdict.json").read_text())
    assert recorded["version"] == "v0001" and recorded["model_drift"] is True
    assert json.loads((rechecked / "repo" / "deploy" / "churn.json").read_text())["slots"]["green"]["version"] == "v0002"
    result = invoke(rechecked, "drift", "--window", "2025-09", "--json", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = _last_run(rechecked)
    data = json.loads(result.stdout)
    # The answer is the record: v0001's verdict as the 2025-09 run wrote it ...
    for key in ("version", "run_id", "drift_that_matters", "model_drift", "evidence", "drifted", "kpi", "reference"):
        assert data[key] == recorded[key], key
    assert data["files"] == {name: f"monitoring/2025-09/{name}" for name in WINDOW_FILES | {"sweetviz_compare.html"}}
    # ... and the re-check, by v0001 against v0001's reference, agrees with it.
    recheck = data["recheck"]
    assert recheck.pop("features") == recorded["features"] and recheck.pop("reference") == recorded["reference"]
    assert recheck == {
        "run_id": run, "version": "v0001", "drift_that_matters": recorded["drift_that_matters"],
        "model_drift": True, "model_drift_basis": "realised", "drifted": recorded["drifted"],
        "evidence": recorded["evidence"], "agrees": True, "differences": [],
        "files": {name: f"monitoring/2025-09/recheck-{run}/{name}" for name in WINDOW_FILES}}
    assert _files(september) == record  # the record is byte for byte as written
    again = json.loads((september / f"recheck-{run}" / "verdict.json").read_text())
    assert again["run_id"] == run and again["features"] == recorded["features"]
    ledger = json.loads((rechecked / "repo" / "runs" / f"{run}.json").read_text())
    monitor_stage = next(s for s in ledger["stages"] if s["name"] == "monitor")["outputs"]
    assert (monitor_stage["version"], monitor_stage["recheck_of"], monitor_stage["agrees"]) == (
        "v0001", recorded["run_id"], True)

    text = invoke(rechecked, "drift", "--window", "2025-09", "--fail-on-drift")
    assert text.exit_code == 3  # the recorded verdict: model drift
    second = _last_run(rechecked)
    lines = text.stdout.splitlines()
    assert lines[0] == f"2025-09 against v0001 (training reference, recorded by run {recorded['run_id']}):"
    assert f"  re-check {second} with v0001: agrees" in lines
    assert lines[-1] == "  written: " + ", ".join(sorted(f"monitoring/2025-09/recheck-{second}/{name}"
                                                         for name in WINDOW_FILES))
    assert _files(september) == record


def test_a_recheck_that_differs_says_how_and_a_window_never_monitored_is_checked_as_today(rechecked: Path) -> None:
    september = rechecked / "repo" / "monitoring" / "2025-09"
    record, recorded = _files(september), json.loads((september / "verdict.json").read_text())
    assert recorded["drifted"] == ["discount_pct", "monthly_charge"] and recorded["model_drift"] is True
    # Thresholds nothing passes and a fixed tolerance nothing passes: the same window, checked under
    # another config, drifts nowhere.
    configure(rechecked, thresholds={"median_shift": 1000, "psi": 1000, "missing_rate": 1.0},
              model_drift={"noise_sigmas": None, "absolute_tolerance": 1.0})
    data = json.loads(invoke(rechecked, "drift", "--window", "2025-09", "--json", catch_exceptions=False).stdout)
    assert data["model_drift"] is True and data["recheck"]["agrees"] is False
    assert data["recheck"]["differences"] == [
        "model_drift: recorded True, re-check False", "drifted: recorded discount_pct, monthly_charge, re-check none"]
    assert _files(september) == record

    # 2025-10 was never run: checked with today's live version, and that answer is its record.
    configure(rechecked, thresholds={"median_shift": 0.1, "psi": 0.1, "missing_rate": 0.05},
              model_drift={"noise_sigmas": 3, "absolute_tolerance": None})
    october = json.loads(invoke(rechecked, "drift", "--window", "2025-10", "--json", catch_exceptions=False).stdout)
    assert october["version"] == "v0002" and "recheck" not in october
    assert october["files"] == {name: f"monitoring/2025-10/{name}" for name in WINDOW_FILES}
    assert sorted(p.name for p in (rechecked / "repo" / "monitoring" / "2025-10").iterdir()) == sorted(WINDOW_FILES)


# --------------------------------------------------------------------------- late labels close the loop


def test_late_labels_bring_the_window_to_the_realised_basis_and_fire_the_trigger(monitored: Path,
                                                                                 tmp_path: Path) -> None:
    from lowops.windows import last_complete, parse_window, window_range

    work = copy_project(monitored, tmp_path / "churn")
    delay = len(window_range(parse_window("2025-09"), last_complete("monthly"))) - 1
    set_config(work, {"windows": {"label_delay": delay}})  # 2025-09's labels are due today, 2025-10's are not
    assert invoke(work, "run", "--window", "2025-10").exit_code == 0
    estimated_run = _last_run(work)
    october = work / "repo" / "monitoring" / "2025-10"
    as_estimated = _files(october)
    before = json.loads(as_estimated["verdict.json"])
    assert before["model_drift_basis"] == "estimated" and before["kpi"]["realised"] == {}
    estimate = before["kpi"]["estimated"]["roc_auc"]

    # October's labels arrive. On 500 customers a window the KPI's noise hides v0001's drop there:
    # the fixed tolerance (the rule's option) makes it model drift, which is what this test follows.
    set_config(work, {"windows": {"label_delay": 0}, "triggers": {"model_drift": True},
                      "drift": {"model_drift": {"noise_sigmas": None, "absolute_tolerance": 0.02}}})
    assert invoke(work, "run", "--window", "2025-11").exit_code == 0
    run = _last_run(work)
    lines = [line.split(" ") for line in (work / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    [realised] = [float(p[5]) for p in lines if p[1:5] == ["2025-10", "churn", "v0001", "roc_auc"]]
    logged = {p[4]: float(p[5]) for p in lines if p[1] == "2025-10" and p[7] == run}
    assert logged["cbpe.roc_auc.error"] == pytest.approx(estimate - realised, abs=2e-6)
    assert logged["roc_auc"] == realised and logged["verdict.model_drift"] == 1.0
    assert {"kpi.roc_auc.drop_t1", "kpi.roc_auc.drop_t2", "kpi.roc_auc.drop_benchmark"} <= set(logged)

    # The estimate as first written stays readable, byte for byte, beside the realised record.
    assert _files(october / "estimated") == {"model_drift.txt": as_estimated["model_drift.txt"],
                                             "verdict.json": as_estimated["verdict.json"]}
    after = json.loads((october / "verdict.json").read_text())
    assert after["model_drift_basis"] == "realised" and after["model_drift"] is True
    assert after["kpi"]["value"] == pytest.approx(realised, abs=1e-6) and after["kpi"]["estimated"]["roc_auc"] == estimate
    assert after["run_id"] == estimated_run and after["late_labels"]["run_id"] == run
    assert after["late_labels"]["window"] == "2025-11"
    assert after["late_labels"]["cbpe_error"]["roc_auc"] == pytest.approx(estimate - after["kpi"]["value"])
    assert after["late_labels"]["before"]["model_drift_basis"] == "estimated"
    assert after["late_labels"]["before"]["model_drift"] == before["model_drift"]
    flagged = [c for c in after["kpi"]["comparisons"] if c["flagged"]]
    assert flagged and [e for e in after["evidence"] if e.startswith("roc_auc ")] == [
        f"roc_auc realised {after['kpi']['value']:.4f} vs {c['against']} {c['reference']:.4f} (drop {c['drop']:+.4f})"
        for c in flagged]
    text = (october / "model_drift.txt").read_text().splitlines()
    assert text[2] == f"roc_auc at 2025-10: {after['kpi']['value']:.4f}, realised (labels)"
    assert f"estimate error (roc_auc): {estimate - after['kpi']['value']:+.4f}" in text
    assert (f"labels arrived late: realised by run {run} at window 2025-11; before them, run {estimated_run} "
            f"judged roc_auc estimated {estimate:.4f} -> {'MODEL DRIFT' if before['model_drift'] else 'no model drift'}"
            " (as first written: monitoring/2025-10/estimated/)") in text
    assert text[-1] == "verdict: MODEL DRIFT (basis: realised)"

    # The window at which they arrived names the late window, and its trigger fires on it.
    evidence = (f"late labels for 2025-10 (v0001): roc_auc realised {after['kpi']['value']:.4f} vs "
                + ", ".join(f"{c['against']} {c['reference']:.4f} (drop {c['drop']:+.4f})" for c in flagged))
    november = json.loads((work / "repo" / "monitoring" / "2025-11" / "verdict.json").read_text())
    assert november["late_labels"] == [{"window": "2025-10", "version": "v0001", "metric": "roc_auc",
                                        "realised": after["kpi"]["value"], "estimated": estimate,
                                        "model_drift": True, "updated": True, "evidence": evidence}]
    ledger = json.loads((work / "repo" / "runs" / f"{run}.json").read_text())
    decide = next(s for s in ledger["stages"] if s["name"] == "decide")["outputs"]
    [trigger] = [t for t in decide["triggers"] if t.startswith("model_drift: ")]
    assert trigger.endswith(evidence)
    assert "model_drift fired at 2025-11: " in (work / "repo" / "logs" / "lowops.log").read_text()
