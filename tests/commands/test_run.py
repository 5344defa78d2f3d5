"""The loop end to end, in-process: what ``lowops backfill --from 2025-01 --to 2025-12`` leaves behind,
and how reruns, tampering and broken SQL are handled."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from conftest import WINDOWS_2025, copy_project, invoke, tree

METRICS = ["roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "log_loss"]
FEATURES = ["plan", "contract", "tenure_months", "age", "region", "payment_method",
            "data_gb", "call_minutes", "sms_count", "support_calls", "dropped_calls", "app_sessions",
            "monthly_charge", "discount_pct", "late_payments", "total_charges"]
CSV_COLUMNS = ["customer_id", "score", "prediction", "label", "model", "version", "slot", "run_id", "scored_at"]
MODEL_FILES = ["SHA256SUMS", "importance.png", "metrics.txt", "model.json", "model.skops", "pr.png", "roc.png"]
FOUNDATION_STAGES = ["extract", "train", "score", "evaluate"]
IGNORED = ("logs/lowops.log", ".lock")


def store_rows(project: Path, table: str, window: str) -> pd.DataFrame:
    """A table's rows for one month, read straight from the demo SQLite file (not through lowops)."""
    with sqlite3.connect(project / "demo" / "store.sqlite") as conn:
        return pd.read_sql_query(f"SELECT * FROM {table} WHERE strftime('%Y-%m', month) = ? ORDER BY customer_id",
                                 conn, params=(window,))


def predictions(project: Path, window: str) -> list[Path]:
    folder = project / "repo" / "outputs" / window
    return sorted(folder.glob("predictions-*.csv")) if folder.is_dir() else []


def data_versions(project: Path, window: str) -> list[str]:
    """The window's data version directories (not the latest-extract pointer files beside them)."""
    return sorted(p.name for p in (project / "repo" / "data" / window).iterdir() if p.is_dir())


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def work(ran_project: Path, tmp_path: Path) -> Path:
    """A private copy of the ran project, for tests that write."""
    return copy_project(ran_project, tmp_path / "churn")


# --------------------------------------------------------------------------- what the backfill wrote


def test_one_predictions_file_per_window(ran_project: Path) -> None:
    assert sorted(p.name for p in (ran_project / "repo" / "outputs").iterdir()) == WINDOWS_2025
    for number, window in enumerate(WINDOWS_2025, start=1):
        assert [p.name for p in predictions(ran_project, window)] == [f"predictions-r{number:06d}.csv"]


@pytest.mark.parametrize("window", WINDOWS_2025)
def test_predictions_match_the_store(ran_project: Path, window: str) -> None:
    (path,) = predictions(ran_project, window)
    frame = pd.read_csv(path)
    profile = store_rows(ran_project, "customer_profile", window)
    labels = store_rows(ran_project, "churn_labels", window)
    assert len(profile) > 0
    # rows in the store = rows in the snapshot manifest = rows scored
    (features_dir,) = (ran_project / "repo" / "data" / window).glob("features-*")
    manifest = json.loads((features_dir / "manifest.json").read_text())
    assert len(frame) == len(profile) == manifest["rows"]
    assert frame["customer_id"].tolist() == profile["customer_id"].tolist()
    assert frame["customer_id"].is_unique
    # header: key first, then every feature used, then the documented output columns
    assert list(frame.columns)[0] == "customer_id"
    assert set(CSV_COLUMNS) <= set(frame.columns)
    assert set(FEATURES) <= set(frame.columns)
    run_id = path.stem.removeprefix("predictions-")
    assert frame["score"].between(0, 1).all()
    assert frame["score"].notna().all()
    assert (frame["prediction"] == (frame["score"] >= 0.5).astype(int)).all()
    assert frame["label"].tolist() == labels["churned"].tolist()
    assert set(frame["model"]) == {"churn"}
    assert set(frame["version"]) == {"v0001"}
    assert set(frame["slot"]) == {"blue"}
    assert set(frame["run_id"]) == {run_id}
    assert frame["scored_at"].nunique() == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", frame["scored_at"].iloc[0])


def test_feature_values_are_captured_as_extracted(ran_project: Path) -> None:
    frame = pd.read_csv(predictions(ran_project, "2025-07")[0])
    usage = store_rows(ran_project, "usage_monthly", "2025-07")
    billing = store_rows(ran_project, "billing_monthly", "2025-07")
    for column in ("dropped_calls", "support_calls", "data_gb"):
        pd.testing.assert_series_equal(frame[column], usage[column], check_names=False, check_dtype=False)
    pd.testing.assert_series_equal(frame["monthly_charge"], billing["monthly_charge"], check_names=False)


def test_model_version_directory(ran_project: Path) -> None:
    base = ran_project / "repo" / "models" / "churn"
    assert sorted(p.name for p in base.iterdir()) == ["v0001"]
    version = base / "v0001"
    present = sorted(p.name for p in version.iterdir())
    assert set(MODEL_FILES) <= set(present)
    lines = (version / "SHA256SUMS").read_text().splitlines()
    # every file of the version, and only those, is listed
    assert sorted(line.split("  ")[1] for line in lines) == [f for f in present if f not in ("SHA256SUMS", "SIGNATURE")]
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((version / name).read_bytes()).hexdigest() == digest, name
    for plot in ("roc.png", "pr.png", "importance.png"):
        assert (version / plot).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    metrics_txt = (version / "metrics.txt").read_text().splitlines()
    assert [line.split(" ")[0] for line in metrics_txt] == sorted(f"holdout.{m}" for m in METRICS) + [
        "cv.roc_auc.mean"]


def test_deploy_pointer(ran_project: Path) -> None:
    state = json.loads((ran_project / "repo" / "deploy" / "churn.json").read_text())
    assert state["live"] == "blue"
    assert state["slots"]["blue"]["version"] == "v0001"
    assert state["slots"]["green"] is None
    assert [(h["from"], h["to"], h["slot"]) for h in state["history"]] == [(None, "v0001", "blue")]


def kpi_rows(project: Path) -> list[list[str]]:
    """The lines of metrics.log that carry one of the seven classification KPIs."""
    rows = [line.split(" ") for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    assert all(len(row) == 8 for row in rows)
    return [row for row in rows if row[4] in METRICS]


def test_metrics_log_has_seven_lines_per_window(ran_project: Path) -> None:
    rows = kpi_rows(ran_project)
    assert len(rows) == 7 * 12
    for number, window in enumerate(WINDOWS_2025, start=1):
        mine = [row for row in rows if row[1] == window]
        assert sorted(row[4] for row in mine) == sorted(METRICS), window
        assert {(row[2], row[3], row[6], row[7]) for row in mine} == {("churn", "v0001", "2000", f"r{number:06d}")}


def test_metrics_log_values_are_the_predictions_kpis(ran_project: Path) -> None:
    from sklearn.metrics import accuracy_score, roc_auc_score

    rows = kpi_rows(ran_project)
    for window in ("2025-02", "2025-09"):
        frame = pd.read_csv(predictions(ran_project, window)[0])
        logged = {row[4]: float(row[5]) for row in rows if row[1] == window}
        assert logged["roc_auc"] == pytest.approx(roc_auc_score(frame["label"], frame["score"]), abs=1e-6)
        assert logged["accuracy"] == pytest.approx(accuracy_score(frame["label"], frame["prediction"]), abs=1e-6)


def test_run_ledgers(ran_project: Path) -> None:
    runs = sorted((ran_project / "repo" / "runs").glob("r*.json"))
    assert [p.stem for p in runs] == [f"r{i:06d}" for i in range(1, 13)]
    first = json.loads(runs[0].read_text())
    assert (first["command"], first["window"], first["status"]) == ("run", "2025-01", "done")
    assert {s["status"] for s in first["stages"]} == {"done"}
    names = [s["name"] for s in first["stages"]]
    assert [n for n in names if n in FOUNDATION_STAGES] == FOUNDATION_STAGES  # in this order
    for path in runs[1:]:
        record = json.loads(path.read_text())
        assert record["status"] == "done"
        assert {s["status"] for s in record["stages"]} == {"done"}
        names = [s["name"] for s in record["stages"]]
        assert [n for n in names if n in FOUNDATION_STAGES] == ["extract", "score", "evaluate"]
    # Every stage says what it cost in CPU seconds; training the first version costs more than
    # reading its window back.
    cpu = {s["name"]: s["cpu_seconds"] for s in first["stages"]}
    assert all(isinstance(v, float) and v >= 0 for v in cpu.values()), cpu
    assert cpu["train"] > cpu["extract"]


def test_models_show_json(ran_project: Path) -> None:
    result = invoke(ran_project, "models", "show", "v0001", "--json", catch_exceptions=False)
    assert result.exit_code == 0
    meta = json.loads(result.stdout)
    assert (meta["model"], meta["version"], meta["task"]) == ("churn", "v0001", "classification")
    lineage = meta["lineage"]
    assert [d["window"] for d in lineage["data"]] == ["2024-10", "2024-11", "2024-12"]
    for entry in lineage["data"]:
        for kind in ("features", "labels"):
            assert (ran_project / "repo" / "data" / entry["window"] / entry[kind] / "manifest.json").is_file()
    assert lineage["train_windows"] == ["2024-10", "2024-11", "2024-12"]  # all but the held-out entities
    assert lineage["holdout_window"] == "2024-12"
    # Three windows of 2,000 customers but the held-out ones; the held-out customers of 2024-12.
    assert 0.15 * 2000 < lineage["rows"]["holdout"] < 0.25 * 2000
    assert 0.75 * 6000 < lineage["rows"]["train"] < 0.85 * 6000  # exact counts: tests/lifecycle/test_holdout.py
    assert re.fullmatch(r"[0-9a-f]{64}", lineage["config_hash"])
    for package in ("python", "scikit-learn", "pandas", "numpy", "skops", "joblib"):
        assert lineage["packages"][package], package
    assert set(meta["metrics"]["holdout"]) == set(METRICS)
    assert meta["metrics"]["primary"] == "roc_auc"
    assert 0.5 < meta["metrics"]["holdout"]["roc_auc"] <= 1
    assert meta["metrics"]["cv"]["folds"] == 3 and len(meta["metrics"]["cv"]["scores"]) == 3
    importance = meta["importance"]["values"]
    assert sorted(importance) == sorted(FEATURES)
    assert all(v >= 0 for v in importance.values())
    assert sum(importance.values()) == pytest.approx(1, abs=1e-6)
    columns = {c["name"]: c for c in meta["schema"]["columns"]}
    assert sorted(columns) == sorted(FEATURES)
    assert meta["schema"]["entity_key"] == "customer_id" and meta["schema"]["target"] == "churned"
    assert columns["plan"]["kind"] == "categorical"
    assert columns["plan"]["categories"] == ["basic", "premium", "standard"]
    assert columns["dropped_calls"]["kind"] == "numeric"
    artifact = ran_project / "repo" / "models" / "churn" / "v0001" / "model.skops"
    assert meta["artifact"]["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert meta["path"] == str(artifact.parent)


def test_models_show_text_and_list(ran_project: Path) -> None:
    shown = invoke(ran_project, "models", "show", "v0001", catch_exceptions=False)
    assert shown.exit_code == 0
    assert shown.stdout.startswith("churn v0001  (classification, created ")
    rows = json.loads((ran_project / "repo" / "models" / "churn" / "v0001" / "model.json").read_text())["lineage"]["rows"]
    assert 0.15 * 2000 < rows["holdout"] < 0.25 * 2000  # train.holdout_share 0.2 of the window's customers
    assert f"  hold-out:    2024-12 ({rows['holdout']} rows)" in shown.stdout
    listed = invoke(ran_project, "models", "list", "--json", catch_exceptions=False)
    rows = json.loads(listed.stdout)
    assert [(r["version"], r["live"], r["slot"], r["holdout_window"], r["primary_metric"]) for r in rows] == [
        ("v0001", True, "blue", "2024-12", "roc_auc")]


def test_status_json_shows_the_live_version(ran_project: Path) -> None:
    result = invoke(ran_project, "status", "--json", catch_exceptions=False)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["model"] == "churn"
    assert data["live"]["version"] == "v0001" and data["live"]["slot"] == "blue"
    assert [r["window"] for r in data["runs"]] == WINDOWS_2025[-5:]
    assert {r["status"] for r in data["runs"]} == {"done"}
    assert data["primary_metric"] == "roc_auc"
    assert [k["window"] for k in data["kpis"]] == WINDOWS_2025


def test_verify_clean_repository(ran_project: Path) -> None:
    result = invoke(ran_project, "verify", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == f"{ran_project / 'repo'}: ok\n"


# --------------------------------------------------------------------------- reruns


def test_rerun_of_a_done_window_is_a_no_op(work: Path) -> None:
    before = tree(work / "repo", IGNORED)
    contents = {name: (work / "repo" / name).read_bytes() for name in before}
    result = invoke(work, "run", "--window", "2025-03", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == "2025-03: already done by run r000003; nothing to do (--force runs it again)\n"
    assert tree(work / "repo", IGNORED) == before
    assert {name: (work / "repo" / name).read_bytes() for name in before} == contents
    assert "window 2025-03 already done by run r000003" in (work / "repo" / "logs" / "lowops.log").read_text()


def test_backfill_again_skips_everything(work: Path) -> None:
    before = tree(work / "repo", IGNORED)
    result = invoke(work, "backfill", "--from", "2025-01", "--to", "2025-12", "--json", catch_exceptions=False)
    assert result.exit_code == 0
    assert [(o["window"], o["status"]) for o in json.loads(result.stdout)] == [(w, "skipped") for w in WINDOWS_2025]
    assert tree(work / "repo", IGNORED) == before


def test_force_writes_a_new_file_and_keeps_the_old(work: Path) -> None:
    (old,) = predictions(work, "2025-03")
    old_bytes = old.read_bytes()
    versions_before = data_versions(work, "2025-03")
    result = invoke(work, "run", "--window", "2025-03", "--force", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.startswith("2025-03: scored 2000 rows with v0001 -> ")
    paths = predictions(work, "2025-03")
    assert [p.name for p in paths] == ["predictions-r000003.csv", "predictions-r000013.csv"]
    assert old.read_bytes() == old_bytes
    new = pd.read_csv(paths[1])
    assert len(new) == 2000 and set(new["run_id"]) == {"r000013"}
    pd.testing.assert_series_equal(new["score"], pd.read_csv(old)["score"])  # same model, same data
    assert data_versions(work, "2025-03") == versions_before  # the same data, so no new data version
    rows = kpi_rows(work)
    assert len(rows) == 7 * 13
    assert sorted(row[4] for row in rows if row[7] == "r000013") == sorted(METRICS)


def test_re_extracting_unchanged_data_creates_no_version(work: Path) -> None:
    before = data_versions(work, "2025-03")
    assert len(before) == 2
    result = invoke(work, "extract", "--window", "2025-03", catch_exceptions=False)
    assert result.exit_code == 0
    features = next(v for v in before if v.startswith("features-"))
    assert (f"2025-03 features: 2000 rows, {features} (unchanged) -> "
            f"{work / 'repo' / 'data' / '2025-03' / features}") in result.stdout.splitlines()
    assert data_versions(work, "2025-03") == before
    manifests = {v: (work / "repo" / "data" / "2025-03" / v / "manifest.json").read_bytes() for v in before}
    invoke(work, "extract", "--window", "2025-03", catch_exceptions=False)
    assert {v: (work / "repo" / "data" / "2025-03" / v / "manifest.json").read_bytes() for v in before} == manifests


# --------------------------------------------------------------------------- tampering


def test_flipped_model_byte_stops_scoring(work: Path) -> None:
    model = work / "repo" / "models" / "churn" / "v0001" / "model.skops"
    flip_byte(model)
    before = [p.name for p in predictions(work, "2025-04")]
    result = invoke(work, "score", "--window", "2025-04")
    assert result.exit_code == 77
    assert f"Error: Refusing to load {model}: its sha256 " in result.stderr
    assert "so the file was altered or truncated" in result.stderr
    assert [p.name for p in predictions(work, "2025-04")] == before
    assert not list((work / "repo" / "outputs" / "2025-04").glob(".tmp-*"))
    ledger = json.loads(sorted((work / "repo" / "runs").glob("r*.json"))[-1].read_text())
    assert (ledger["command"], ledger["status"]) == ("score", "failed")
    assert ledger["message"].startswith("IntegrityError: Refusing to load ")


def test_flipped_model_byte_stops_run_force(work: Path) -> None:
    flip_byte(work / "repo" / "models" / "churn" / "v0001" / "model.skops")
    result = invoke(work, "run", "--window", "2025-04", "--force")
    assert result.exit_code == 77
    assert "model.skops" in result.stderr
    assert [p.name for p in predictions(work, "2025-04")] == ["predictions-r000004.csv"]


def test_verify_detects_the_flip(work: Path) -> None:
    assert invoke(work, "verify").exit_code == 0
    model = work / "repo" / "models" / "churn" / "v0001" / "model.skops"
    flip_byte(model)
    result = invoke(work, "verify")
    assert result.exit_code == 77
    assert f"{model}: sha256 does not match SHA256SUMS (altered)" in result.stdout.splitlines()
    assert f"{model}: sha256 differs from model.json (altered)" in result.stdout.splitlines()
    assert result.stderr == f"Error: 2 integrity finding(s) in {work / 'repo'}; see above.\n"
    data = json.loads(invoke(work, "verify", "--json").stdout)
    assert data["ok"] is False and len(data["findings"]) == 2


def test_verify_detects_an_altered_snapshot_and_a_dangling_pointer(work: Path) -> None:
    (features,) = (work / "repo" / "data" / "2025-06").glob("features-*")
    flip_byte(features / "features.parquet")
    pointer = work / "repo" / "deploy" / "churn.json"
    state = json.loads(pointer.read_text())
    state["slots"]["blue"]["version"] = "v0042"
    pointer.write_text(json.dumps(state))
    result = invoke(work, "verify")
    assert result.exit_code == 77
    out = result.stdout
    assert f"{features / 'features.parquet'}: {features / 'features.parquet'} does not match its manifest" in out
    assert f"{pointer}: slot blue names v0042, which is not a complete version (dangling pointer)" in out


def test_verify_repair_removes_only_leftovers(work: Path) -> None:
    leftover = work / "repo" / "outputs" / "2025-02" / ".tmp-predictions-r000099.csv.abc"
    leftover.write_text("half a file")
    assert invoke(work, "verify").exit_code == 77
    before = tree(work / "repo", (*IGNORED, str(leftover.relative_to(work / "repo"))))
    result = invoke(work, "verify", "--repair", catch_exceptions=False)
    assert result.exit_code == 0
    assert f"removed {leftover}" in result.stdout
    assert not leftover.exists()
    assert tree(work / "repo", IGNORED) == before


# --------------------------------------------------------------------------- training again


def test_train_then_diff(work: Path) -> None:
    result = invoke(work, "train", "--window", "2025-06", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.startswith("churn v0002: hold-out 2025-06 roc_auc=")
    assert "(live)" not in result.stdout  # a second version never goes live by itself
    assert sorted(p.name for p in (work / "repo" / "models" / "churn").iterdir()) == ["v0001", "v0002"]
    assert json.loads((work / "repo" / "deploy" / "churn.json").read_text())["slots"]["blue"]["version"] == "v0001"

    diff = invoke(work, "models", "diff", "v0001", "v0002", catch_exceptions=False)
    assert diff.exit_code == 0
    lines = diff.stdout.splitlines()
    assert "lineage.holdout_window: 2024-12 -> 2025-06" in lines
    assert "lineage.train_windows: ['2024-10', '2024-11', '2024-12'] -> ['2025-04', '2025-05', '2025-06']" in lines
    changed_metrics = {line.split(":")[0] for line in lines if line.startswith("metrics.holdout.")}
    assert changed_metrics == {f"metrics.holdout.{m}" for m in METRICS}
    assert not any(line.startswith(("created_at", "run_id", "version:")) for line in lines)

    as_json = json.loads(invoke(work, "models", "diff", "v0001", "v0002", "--json").stdout)
    v1 = json.loads((work / "repo" / "models" / "churn" / "v0001" / "model.json").read_text())
    v2 = json.loads((work / "repo" / "models" / "churn" / "v0002" / "model.json").read_text())
    roc = next(c for c in as_json if c["path"] == "metrics.holdout.roc_auc")
    assert (roc["a"], roc["b"]) == (v1["metrics"]["holdout"]["roc_auc"], v2["metrics"]["holdout"]["roc_auc"])
    assert f"profile.train_seconds: {v1['profile']['train_seconds']} -> {v2['profile']['train_seconds']}" in lines
    same = invoke(work, "models", "diff", "v0002", "v0002", catch_exceptions=False)
    assert same.stdout == "v0002 and v0002 do not differ.\n"

    listed = json.loads(invoke(work, "models", "list", "--json").stdout)
    assert [(r["version"], r["live"]) for r in listed] == [("v0001", True), ("v0002", False)]
    assert invoke(work, "verify").exit_code == 0


# --------------------------------------------------------------------------- broken data


def drop_column(project: Path, column: str) -> None:
    sql = project / "sql" / "usage.sql"
    text = sql.read_text()
    assert f"    {column},\n" in text
    sql.write_text(text.replace(f"    {column},\n", ""))


def test_missing_column_is_bad_data(work: Path) -> None:
    drop_column(work, "dropped_calls")
    # A finished window stays finished, whatever changed since: a plain run is a no-op.
    skipped = invoke(work, "run", "--window", "2025-05")
    assert skipped.exit_code == 0 and "already done" in skipped.stdout
    result = invoke(work, "run", "--window", "2025-05", "--force")
    assert result.exit_code == 65
    assert result.stderr.endswith(
        "Error: window 2025-05: column(s) 'dropped_calls' required by the model are missing; restore them "
        "in the feature SQL or retrain the model without them.\n")
    assert [p.name for p in predictions(work, "2025-05")] == ["predictions-r000005.csv"]
    ledger = json.loads((work / "repo" / "runs" / "r000013.json").read_text())
    assert (ledger["window"], ledger["status"]) == ("2025-05", "failed")
    assert "'dropped_calls'" in ledger["message"]


def test_restored_sql_scores_again(work: Path) -> None:
    usage = work / "sql" / "usage.sql"
    original = usage.read_text()
    drop_column(work, "dropped_calls")
    assert invoke(work, "run", "--window", "2025-05", "--force").exit_code == 65
    usage.write_text(original)
    # Re-extracting finds the original data version again ("unchanged") ...
    extracted = invoke(work, "extract", "--window", "2025-05", "--json", catch_exceptions=False)
    assert extracted.exit_code == 0
    features = json.loads(extracted.stdout)["features"]
    assert features["new"] is False
    # ... so scoring must use that version, not the one extracted while the SQL was broken.
    result = invoke(work, "score", "--window", "2025-05")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(predictions(work, "2025-05")[-1])) == 2000


def test_empty_window_from_an_empty_database(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.sqlite"
    with sqlite3.connect(project / "demo" / "store.sqlite") as src, sqlite3.connect(empty) as dst:
        for (ddl,) in src.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"):
            dst.execute(ddl)
        tables = [name for (name,) in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert sorted(tables) == ["billing_monthly", "churn_labels", "customer_profile", "usage_monthly"]
    monkeypatch.setenv("LOWOPS_DB_URL", f"sqlite:///{empty}")
    result = invoke(project, "run", "--window", "2025-03", "--json", catch_exceptions=False)
    assert result.exit_code == 0
    outcome = json.loads(result.stdout)
    assert (outcome["window"], outcome["status"]) == ("2025-03", "empty")
    ledger = json.loads((project / "repo" / "runs" / f"{outcome['run_id']}.json").read_text())
    assert ledger["status"] == "empty"
    assert not (project / "repo" / "outputs").exists()
    assert not (project / "repo" / "models").exists()
    assert not list((project / "repo").rglob("manifest.json"))  # no data version of nothing
    assert "2025-03 is empty: no feature rows (status=empty)" in (project / "repo" / "logs" / "lowops.log").read_text()
    assert invoke(project, "verify").exit_code == 0  # and no leftovers of the attempt
    # an empty window is not done: its data may arrive late, so the next run tries it again
    again = invoke(project, "run", "--window", "2025-03", catch_exceptions=False)
    assert again.stdout == "2025-03: empty window, nothing to score (run r000002)\n"
