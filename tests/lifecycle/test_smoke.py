"""``lowops smoke``: positive checks, negative cases rejected cleanly, budgets, digests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import copy_project, open_context, set_config
from ct_support import base_project

from lowops.cli import cli
from lowops.errors import DataError
from lowops.io.layout import MODEL_FILE
from lowops.lifecycle.smoke import smoke_test
from lowops.model.predict import predict_frame


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(base_project(tmp_path_factory), tmp_path / "project")


def test_live_version_passes_every_check(project: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(project), "smoke", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["version"] == "v0001"
    assert [c["check"] for c in report["checks"]] == [
        "digest", "load", "golden sample", "outputs", "missing column", "wrong dtype", "empty frame",
        "latency", "memory"]
    details = {c["check"]: c["detail"] for c in report["checks"]}
    assert details["golden sample"] == "200 rows scored"
    assert details["empty frame"] == ("rejected cleanly (exit 65): smoke test (empty frame): the frame holds no "
                                      "rows; nothing to score.")
    assert details["missing column"].startswith("rejected cleanly (exit 65): smoke test (missing column): column(s) 'tenure_months'")


def test_golden_sample_the_model_cannot_score_fails_with_65(project: Path) -> None:
    golden = project / "sql" / "golden.sql"
    golden.write_text(golden.read_text().replace("    b.monthly_charge,\n", ""))
    result = CliRunner().invoke(cli, ["-C", str(project), "smoke", "v0001"])
    assert result.exit_code == 65
    assert "FAIL golden sample: the model cannot score it: smoke test (golden sample): column(s) 'monthly_charge'" \
        in result.output
    assert result.output.splitlines()[-1].startswith("Error: v0001 failed its smoke test: golden sample:")


def test_empty_golden_sample_and_budgets(project: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(project), "smoke", "--window", "2023-01"])
    assert result.exit_code == 65
    assert "FAIL golden sample: the golden sample holds no rows (sql/golden.sql)" in result.output
    set_config(project, {"smoke": {"max_ms_per_1000_rows": 0.000001, "max_memory_mb": 0.0001}})
    result = CliRunner().invoke(cli, ["-C", str(project), "smoke"])
    assert result.exit_code == 65
    lines = result.output.splitlines()
    assert any(line.startswith("FAIL latency: ") and line.endswith("ms per 1000 rows (budget 1e-06)") for line in lines)
    assert any(line.startswith("FAIL memory: peak ") for line in lines)


def test_holdout_golden_sample_needs_no_database(project: Path) -> None:
    set_config(project, {"smoke": {"golden": "holdout", "sample_rows": 50}})
    (project / "demo" / "store.sqlite").unlink()
    ctx = open_context(project)
    report = smoke_test(ctx, "v0001")
    assert report.ok, report.reason
    assert report.checks[2] == {"check": "golden sample", "ok": True, "detail": "50 rows scored"}


def test_tampered_model_fails_the_digest_check_with_77(project: Path) -> None:
    model = project / "repo" / "models" / "churn" / "v0001" / MODEL_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["-C", str(project), "smoke"])
    assert result.exit_code == 77
    assert "FAIL digest: " in result.output and "sha256 does not match SHA256SUMS (altered)" in result.output


def test_predict_frame_rejects_bad_frames_as_data_errors(project: Path) -> None:
    ctx = open_context(project)
    model, meta = ctx.load_model("v0001")
    import pandas as pd

    with pytest.raises(DataError, match="the frame holds no rows"):
        predict_frame(model, meta, pd.DataFrame(), "here")
    with pytest.raises(DataError, match="required by the model are missing"):
        predict_frame(model, meta, pd.DataFrame({"x": [1]}), "here")
