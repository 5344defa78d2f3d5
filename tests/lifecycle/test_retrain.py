"""Continuous training: triggers, the T / T-1 / T-2 comparison, governance, A/B slots, the static path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from ct_support import base_project, clone, context, metric_lines, set_config
from lowops.cli import cli
from lowops.lifecycle import triggers
from lowops.lifecycle.compare import _weighted_auc, bootstrap_delta
from lowops.monitoring.verdict import DriftVerdict


def run(project: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(project), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0001 live; the run of 2025-09 (after the shift) retrained and switched automatically."""
    project = clone(base_project(tmp_path_factory), tmp_path_factory.mktemp("drifted"))
    run(project, "run", "--window", "2025-09")
    return project


def test_model_drift_retrains_and_the_winner_goes_live_blue_green(drifted: Path) -> None:
    repo = drifted / "repo"
    state = json.loads((repo / "deploy" / "churn.json").read_text())
    assert (state["live"], state["slots"]["green"]["version"], state["slots"]["blue"]["version"]) == \
        ("green", "v0002", "v0001")
    assert state["history"][-1]["action"] == "auto" and state["history"][-1]["window"] == "2025-09"
    text = (repo / "monitoring" / "2025-09" / "decision.txt").read_text()
    lines = text.splitlines()
    assert lines[0] == "decision at window 2025-09: hold-out 2025-09, 2000 labelled rows, primary metric roc_auc"
    end = next(i for i, line in enumerate(lines) if line.startswith("comparison"))
    assert lines[1] == "triggers:" and end > 2
    assert all(t.startswith(("  model_drift: ", "  data_drift: ")) for t in lines[2:end])
    assert lines[end + 2].split()[:2] == ["v0002", "new"] and lines[end + 2].endswith("passes")
    assert lines[end + 3].split()[:2] == ["v0001", "live,T-1,T-2"] and lines[end + 3].endswith("incumbent")
    assert "winner: v0002" in lines
    assert "outcome: v0002 promoted (blue/green), v0001 kept in the other slot" in lines
    ledger = json.loads((repo / "runs" / "r000002.json").read_text())
    decide = ledger["stages"][-1]
    assert decide["name"] == "decide" and decide["outputs"]["winner"] == "v0002"
    assert [row["version"] for row in decide["outputs"]["table"]] == ["v0002", "v0001"]
    log = (repo / "logs" / "lowops.log").read_text()
    assert "drift fired at 2025-09: " in log
    audit = [json.loads(line) for line in (repo / "audit.log").read_text().splitlines()]
    assert [(a["action"], a["version"], a["from"]) for a in audit] == [("promote", "v0002", "v0001")]


def test_comparison_and_static_path_go_to_metrics_log(drifted: Path) -> None:
    compare = metric_lines(drifted, "compare.roc_auc")
    assert sorted((line[1], line[3]) for line in compare) == [("2025-09", "v0001"), ("2025-09", "v0002")]
    gains = metric_lines(drifted, "compare.gain.roc_auc")
    assert [(line[3], float(line[5]) > 0.005) for line in gains] == [("v0002", True)]
    [decision] = metric_lines(drifted, "decision.switch")
    assert (decision[3], decision[5]) == ("v0002", "1.000000")
    static = metric_lines(drifted, "static.")
    assert {line[1] for line in static} == {"2025-01", "2025-09"}
    assert {line[3] for line in static} == {"v0001"}
    assert all(len(line) == 8 for line in static)
    live_0901 = [line for line in metric_lines(drifted, "roc_auc") if line[1] == "2025-09"]
    static_0901 = [line for line in static if line[1] == "2025-09" and line[4] == "static.roc_auc"]
    assert live_0901[0][5] == static_0901[0][5]  # v0001 scored 2025-09 on both paths


def test_next_window_is_scored_by_the_new_version_and_beats_the_static_path(drifted: Path, tmp_path: Path) -> None:
    project = clone(drifted, tmp_path)
    run(project, "run", "--window", "2025-10")
    [live] = [line for line in metric_lines(project, "roc_auc") if line[1] == "2025-10"]
    [static] = [line for line in metric_lines(project, "static.roc_auc") if line[1] == "2025-10"]
    assert live[3] == "v0002" and static[3] == "v0001"
    assert float(live[5]) > float(static[5])


def test_manual_governance_leaves_the_winner_pending_until_approved(tmp_path_factory: pytest.TempPathFactory,
                                                                    tmp_path: Path) -> None:
    project = clone(base_project(tmp_path_factory), tmp_path)
    inbox = tmp_path / "inbox.txt"
    set_config(project, {"governance": {"promote": "manual"},
                         "notify": {"command": {"argv": ["sh", "-c", f'echo "== $LOWOPS_EVENT" >> {inbox}']}}})
    run(project, "run", "--window", "2025-09")
    repo = project / "repo"
    state = json.loads((repo / "deploy" / "churn.json").read_text())
    assert state["live"] == "blue" and state["slots"]["blue"]["version"] == "v0001"
    assert "outcome: v0002 pending approval (governance.promote: manual); v0001 stays live" in \
        (repo / "monitoring" / "2025-09" / "decision.txt").read_text()
    assert inbox.read_text().split()[-4:] == ["==", "retrained", "==", "pending_approval"]
    status = json.loads(run(project, "status", "--json"))
    assert [p["version"] for p in status["pending"]] == ["v0002"] and status["governance"] == "manual"
    assert "pending approval:\n  v0002 since " in run(project, "status")
    wrong = CliRunner().invoke(cli, ["-C", str(project), "approve", "v0001", "--by", "al", "--reason", "x"])
    assert wrong.exit_code == 2
    assert wrong.output == "Error: churn v0001 is not pending approval (status: retired); pending: v0002.\n" or \
        wrong.output == "Error: churn v0001 is not pending approval (status: registered); pending: v0002.\n"
    out = run(project, "approve", "v0002", "--by", "alice", "--reason", "decision.txt checked")
    assert out == "churn v0002 approved by alice and live in slot green (was v0001)\n"
    actions = [json.loads(line)["action"] for line in (repo / "audit.log").read_text().splitlines()]
    assert actions == ["pending", "approve", "promote"]
    assert run(project, "verify").endswith(": ok\n")


def test_reject_closes_a_pending_version(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    project = clone(base_project(tmp_path_factory), tmp_path)
    set_config(project, {"governance": {"promote": "manual"}})
    run(project, "retrain", "--window", "2025-09", "--by", "tester")
    out = run(project, "reject", "v0002", "--by", "bob", "--reason", "outage week in the data")
    assert out == "churn v0002 rejected by bob; v0001 stays live\n"
    assert json.loads(run(project, "status", "--json"))["pending"] == []
    text = (project / "repo" / "monitoring" / "2025-09" / "decision.txt").read_text()
    assert "triggers:\n  manual: lowops retrain --window 2025-09 by tester\n" in text


def test_config_change_fires_once_then_waits_for_the_next_edit(tmp_path_factory: pytest.TempPathFactory,
                                                              tmp_path: Path) -> None:
    project = clone(base_project(tmp_path_factory), tmp_path)
    set_config(project, {"model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression",
                                                 "params": {"max_iter": 300, "C": 0.05}}},
                         "triggers": {"model_drift": False}})
    run(project, "run", "--window", "2025-03")
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert "trigger INFO config_change fired at 2025-03: config sections model/train/features/labels hash" in log
    ctx = context(project)
    card = ctx.card("v0001")
    # v0002 was trained on the edited definition: no second retrain for the same edit.
    assert triggers.evaluate_triggers(ctx, ctx.window("2025-04"), None, {}, card) == []


def test_triggers_use_the_monitoring_verdict_when_present(tmp_path_factory: pytest.TempPathFactory) -> None:
    ctx = context(base_project(tmp_path_factory))
    card = ctx.card("v0001")
    verdict = DriftVerdict(window="2025-02", drift_that_matters=True, model_drift=False,
                           evidence=("monthly_charge: median shift 0.41 x importance 0.22",))
    fired = triggers.evaluate_triggers(ctx, ctx.window("2025-02"), verdict, {"roc_auc": 0.1}, card)
    assert [str(t) for t in fired] == [
        "data_drift: drift that matters at 2025-02: monthly_charge: median shift 0.41 x importance 0.22"]


def test_cooldown_counts_windows_since_the_last_switch(drifted: Path) -> None:
    ctx = context(drifted)
    assert triggers.cooldown(ctx, ctx.window("2025-10")) is None  # the test config sets cooldown_windows: 0
    set_config(drifted, {"compare": {"cooldown_windows": 2}})
    ctx = context(drifted)
    assert triggers.cooldown(ctx, ctx.window("2025-10")) == (
        "cool-down: the last switch (v0001 -> v0002) was at window 2025-09, 1 window(s) ago; "
        "compare.cooldown_windows is 2")
    assert triggers.cooldown(ctx, ctx.window("2025-11")) is None
    set_config(drifted, {"compare": {"cooldown_windows": 0}})


def test_split_mode_scores_a_deterministic_share_with_the_idle_slot(drifted: Path, tmp_path: Path) -> None:
    project = clone(drifted, tmp_path)
    set_config(project, {"deploy": {"mode": "split", "split_share": 0.25}})
    run(project, "run", "--window", "2025-10")
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
    status = json.loads(run(project, "status", "--json"))
    [row] = status["slot_kpis"]
    assert row["window"] == "2025-10" and row["green"]["version"] == "v0002" and row["blue"]["version"] == "v0001"
    assert row["blue"]["rows"] + row["green"]["rows"] == 2000
    assert "roc_auc per slot by window:\n  2025-10    blue v0001 " in run(project, "status")


def test_weighted_auc_matches_sklearn_and_bootstrap_finds_real_gains() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    score = np.round(rng.random(400), 2)  # ties on purpose
    weights = rng.integers(0, 3, (3, 400))
    assert np.allclose(_weighted_auc(y, score, weights), [roc_auc_score(y, score, sample_weight=w) for w in weights])
    good, weak = y * 0.5 + rng.random(400), y * 0.1 + rng.random(400)
    gain, low, high = bootstrap_delta("roc_auc", "classification", y, good, weak, threshold=0.5, resamples=300,
                                      confidence=0.95, seed=0)
    assert low > 0 and low < gain < high
    gain, low, high = bootstrap_delta("roc_auc", "classification", y, good, good, threshold=0.5, resamples=300,
                                      confidence=0.95, seed=0)
    assert (gain, low, high) == (0.0, 0.0, 0.0)
    gain, low, high = bootstrap_delta("log_loss", "classification", y, np.clip(good / 1.5, 0, 1),
                                      np.clip(weak / 1.1, 0, 1), threshold=0.5, resamples=100, confidence=0.9, seed=1)
    assert gain > 0 and low > 0


@pytest.mark.parametrize("command", ["retrain", "promote", "rollback", "smoke", "approve", "reject"])
def test_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and f"lowops {command}" in result.output
    assert "-C, --project DIR" in result.output and "--json" in result.output


def test_retrain_pipeline_script_is_valid_bash() -> None:
    import subprocess

    script = ROOT / "pipelines" / "retrain.sh"
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    assert "pipelines/retrain.sh" in (script.parents[1] / "crontab.example").read_text()
