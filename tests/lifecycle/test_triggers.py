"""lifecycle.triggers: a config edit and the monitoring verdict fire a retrain; the cool-down after a switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_project, open_context, set_config
from ct_support import base_project, drifted_project, run_ok

from lowops.lifecycle import triggers
from lowops.monitoring.verdict import DriftVerdict


@pytest.fixture
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0001 live; the run of 2025-09 (after the shift) retrained and switched automatically (read-only)."""
    return drifted_project(tmp_path_factory)


def test_config_change_fires_once_then_waits_for_the_next_edit(tmp_path_factory: pytest.TempPathFactory,
                                                              tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    set_config(project, {"model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression",
                                                 "params": {"max_iter": 300, "C": 0.05}}},
                         "triggers": {"model_drift": False}})
    run_ok(project, "run", "--window", "2025-03")
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert "trigger INFO config_change fired at 2025-03: config sections model/train/features/labels hash" in log
    ctx = open_context(project)
    card = ctx.card("v0001")
    # v0002 was trained on the edited definition: no second retrain for the same edit.
    assert triggers.evaluate_triggers(ctx, ctx.window("2025-04"), None, {}, card) == []


def test_triggers_use_the_monitoring_verdict_when_present(tmp_path_factory: pytest.TempPathFactory) -> None:
    ctx = open_context(base_project(tmp_path_factory))
    card = ctx.card("v0001")
    verdict = DriftVerdict(window="2025-02", drift_that_matters=True, model_drift=False,
                           evidence=("monthly_charge: median shift 0.41 x importance 0.22",))
    fired = triggers.evaluate_triggers(ctx, ctx.window("2025-02"), verdict, {"roc_auc": 0.1}, card)
    assert [str(t) for t in fired] == [
        "data_drift: drift that matters at 2025-02: monthly_charge: median shift 0.41 x importance 0.22"]


def test_cooldown_counts_windows_since_the_last_switch(drifted: Path, tmp_path: Path) -> None:
    project = copy_project(drifted, tmp_path / "project")  # shared by three modules: edit a copy
    ctx = open_context(project)
    assert triggers.cooldown(ctx, ctx.window("2025-10")) is None  # the test config sets cooldown_windows: 0
    set_config(project, {"compare": {"cooldown_windows": 2}})
    ctx = open_context(project)
    assert triggers.cooldown(ctx, ctx.window("2025-10")) == (
        "cool-down: the last switch (v0001 -> v0002) was at window 2025-09, 1 window(s) ago; "
        "compare.cooldown_windows is 2")
    assert triggers.cooldown(ctx, ctx.window("2025-11")) is None
    # A window re-run before that switch (a backfill, --force) is counted forward, not as 0 windows.
    assert triggers.cooldown(ctx, ctx.window("2025-08")) == (
        "cool-down: the last switch (v0001 -> v0002) was at window 2025-09, 1 window(s) after 2025-08; "
        "compare.cooldown_windows is 2")
    assert triggers.cooldown(ctx, ctx.window("2025-09")) == (
        "cool-down: the last switch (v0001 -> v0002) was at window 2025-09, 0 window(s) ago; "
        "compare.cooldown_windows is 2")
    assert triggers.cooldown(ctx, ctx.window("2025-07")) is None
