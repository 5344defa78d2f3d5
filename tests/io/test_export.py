"""Metrics export: the Prometheus textfile (read back with prometheus_client's own parser) and the
SQL table, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import copy_project, invoke, set_config
from ct_support import base_project, run_ok
from db_support import scratch
from prometheus_client.parser import text_string_to_metric_families

from lowops.io import export
from lowops.io.logs import read_metrics


def _families(path: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(path.read_text(encoding="utf-8"))}


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(base_project(tmp_path_factory), tmp_path / "project")


def test_textfile_and_table_hold_what_the_run_logged(project: Path, tmp_path: Path) -> None:
    textfile = tmp_path / "node_exporter" / "lowops.prom"
    textfile.parent.mkdir()
    set_config(project, {"export": {"prometheus_textfile": str(textfile), "sql_table": "lowops_metrics"}})
    run_ok(project, "run", "--window", "2025-02")
    families = _families(textfile)
    assert list(families) == ["lowops_kpi", "lowops_drift_statistic", "lowops_feature_impact",
                              "lowops_drift_that_matters", "lowops_model_drift", "lowops_prediction_psi",
                              "lowops_live_version", "lowops_last_success_timestamp_seconds",
                              "lowops_run_duration_seconds", "lowops_run_success"]
    logged = {r["metric"]: r["value"] for r in read_metrics(project / "repo") if r["run"] == "r000002"}
    realised = {s[0]["metric"]: s[1] for s in families["lowops_kpi"] if s[0]["source"] == "realised"}
    assert realised["roc_auc"] == logged["roc_auc"]
    assert {s[0]["window"] for s in families["lowops_kpi"]} == {"2025-02"}
    assert families["lowops_live_version"] == [({"model": "churn", "version": "v0001"}, 1.0)]
    assert families["lowops_run_success"] == [({"model": "churn", "command": "run"}, 1.0)]
    assert families["lowops_drift_that_matters"][0][1] == logged["verdict.drift_that_matters"]
    psi = {(s[0]["feature"], s[0]["statistic"]): s[1] for s in families["lowops_drift_statistic"]}
    assert psi[("region", "psi")] == logged["drift.region.psi"]
    assert not list(textfile.parent.glob(".*")), "no temporary file left beside the textfile"
    # The table holds one row per metric line of the run, in the project's own database.
    store = sa.create_engine(f"sqlite:///{project / 'demo' / 'store.sqlite'}")
    with store.connect() as conn:
        rows = conn.execute(sa.text("SELECT metric, value, run_id FROM lowops_metrics")).all()
    assert len(rows) == len(logged) > 100
    assert {r.run_id for r in rows} == {"r000002"}
    assert {r.metric: r.value for r in rows}["roc_auc"] == logged["roc_auc"]
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert f"export INFO {len(logged)} metric line(s) appended to table lowops_metrics" in log


def test_a_failed_run_says_so_in_the_textfile_and_keeps_its_exit_code(project: Path, tmp_path: Path) -> None:
    textfile = tmp_path / "lowops.prom"
    set_config(project, {"export": {"prometheus_textfile": str(textfile)}})
    (project / "demo" / "store.sqlite").unlink()
    result = invoke(project, "run", "--window", "2025-02")
    assert result.exit_code == 69
    families = _families(textfile)
    assert families["lowops_run_success"] == [({"model": "churn", "command": "run"}, 0.0)]
    # The last success is the 2025-01 run that built the project; the live version is unchanged.
    assert len(families["lowops_last_success_timestamp_seconds"]) == 1
    assert families["lowops_live_version"] == [({"model": "churn", "version": "v0001"}, 1.0)]


def test_textfile_must_end_in_prom(project: Path) -> None:
    set_config(project, {"export": {"prometheus_textfile": "/var/lib/node_exporter/lowops.txt"}})
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert ("the 'export.prometheus_textfile' parameter must be a path ending in .prom (node_exporter's "
            "textfile collector reads no other file). Got '/var/lib/node_exporter/lowops.txt' instead.") \
        in result.output


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_table_on_a_server_is_created_once_and_appended(server: str) -> None:
    rows = [{"time": "2026-12-03T08:00:00Z", "window": "2025-02", "model": "churn", "version": "v0001",
             "metric": "roc_auc", "value": 0.8123, "rows": 2000, "run": "r000002"},
            {"time": "2026-12-03T08:00:00Z", "window": "2025-02", "model": "churn", "version": "v0001",
             "metric": "cbpe.roc_auc.error", "value": math.nan, "rows": 2000, "run": "r000002"}]
    with scratch(server) as url:
        assert export.append_sql(sa.make_url(url), "lowops_metrics", rows) == 2
        assert export.append_sql(sa.make_url(url), "lowops_metrics", rows[:1]) == 1
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                found = conn.execute(sa.text("SELECT metric, value, row_count, run_id FROM lowops_metrics "
                                             "ORDER BY metric, value")).all()
        finally:
            engine.dispose()
    assert [tuple(r) for r in found] == [("cbpe.roc_auc.error", None, 2000, "r000002"),
                                         ("roc_auc", 0.8123, 2000, "r000002"), ("roc_auc", 0.8123, 2000, "r000002")]


def test_an_unreachable_table_is_an_export_error_with_the_reason(tmp_path: Path) -> None:
    rows = [{"time": "t", "window": "2025-02", "model": "m", "version": "v0001", "metric": "x", "value": 1.0,
             "rows": 1, "run": "r000001"}]
    url = sa.make_url(f"sqlite:///{tmp_path / 'no-such-folder' / 'store.sqlite'}")
    with pytest.raises(export.ExportError, match="^unable to open database file$"):
        export.append_sql(url, "lowops_metrics", rows)
