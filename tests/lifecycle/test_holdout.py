"""A retrain at T trains on T: the hold-out is a sample of T's entities that no version ever learns.

On the small demo (2,000 customers a month) whose world shifts from 2025-08: the challenger
trained at the first drifted window learns that window and wins; a version's KPI is never
measured, logged or compared on rows it learnt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project, open_context, set_config
from ct_support import base_project, metric_lines, run_ok

from lowops.io import snapshots
from lowops.model.holdout import HoldoutRule


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base project (v0001 trained on 2024-10 … 12) after `lowops retrain --window 2025-08`."""
    project = copy_project(base_project(tmp_path_factory), tmp_path_factory.mktemp("shifted") / "project")
    run_ok(project, "retrain", "--window", "2025-08")
    return project


def _keys(project: Path, window: str) -> np.ndarray:
    ctx = open_context(project)
    snap = snapshots.latest(ctx.repo, window, "labels", ctx.name)
    assert snap is not None
    return snapshots.load(snap)["customer_id"].to_numpy()


def test_the_hold_out_rule_is_a_hash_of_the_key() -> None:
    keys = np.arange(10_000)
    rule = HoldoutRule(0.2)
    held = rule.held_out(keys)
    assert np.array_equal(held, HoldoutRule(0.2).held_out(keys[::-1])[::-1])  # per key, not per position
    assert 0.19 < held.mean() < 0.21
    assert not (held & ~HoldoutRule(0.3).held_out(keys)).any()  # a larger share holds out a superset
    assert HoldoutRule.from_dict(rule.to_dict()) == rule


def test_the_first_drifted_windows_challenger_learns_that_window_and_wins(shifted: Path) -> None:
    card = json.loads((shifted / "repo" / "models" / "churn" / "v0002" / "model.json").read_text())
    lineage = card["lineage"]
    assert lineage["train_windows"] == ["2025-06", "2025-07", "2025-08"]
    assert lineage["holdout_window"] == "2025-08" and lineage["holdout"] == {"share": 0.2, "salt": "lowops-holdout"}
    held = {w: HoldoutRule(0.2).held_out(_keys(shifted, w)) for w in lineage["train_windows"]}
    assert lineage["rows"] == {"train": sum(int((~h).sum()) for h in held.values()),
                               "holdout": int(held["2025-08"].sum())}
    text = (shifted / "repo" / "monitoring" / "2025-08" / "decision.txt").read_text()
    rows = int(held["2025-08"].sum())
    assert text.splitlines()[0] == (f"decision at window 2025-08: hold-out 2025-08, {rows} labelled rows, "
                                    "primary metric roc_auc")
    assert "winner: v0002" in text.splitlines()
    assert "outcome: v0002 promoted (blue/green), v0001 kept in the other slot" in text.splitlines()
    [gain] = metric_lines(shifted, "compare.gain.roc_auc")
    assert gain[3] == "v0002" and float(gain[5]) > 0.05 and int(gain[6]) == rows


def test_training_on_one_window(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    set_config(project, {"train": {"windows": 1}})
    out = run_ok(project, "train", "--window", "2025-02")
    assert re.search(r"v0002: hold-out 2025-02 ", out), out
    card = json.loads((project / "repo" / "models" / "churn" / "v0002" / "model.json").read_text())
    held = HoldoutRule(0.2).held_out(_keys(project, "2025-02"))
    assert card["lineage"]["train_windows"] == ["2025-02"]
    assert card["lineage"]["rows"] == {"train": int((~held).sum()), "holdout": int(held.sum())}


def test_a_kpi_is_never_logged_on_rows_the_version_learnt(shifted: Path, tmp_path: Path) -> None:
    project = copy_project(shifted, tmp_path / "project")
    run_ok(project, "run", "--window", "2025-08", "--force")  # v0002, trained on 2025-08, scores it
    held = HoldoutRule(0.2).held_out(_keys(project, "2025-08"))
    mine = [line for line in metric_lines(project, "roc_auc") if line[1] == "2025-08" and line[3] == "v0002"]
    assert [int(line[6]) for line in mine] == [int(held.sum())]  # its hold-out entities only
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert (f"v0002 trained on {int((~held).sum())} of the labelled rows of 2025-08; its KPIs there are on the "
            f"{int(held.sum())} rows it did not learn") in log


def test_a_version_that_learnt_hold_out_rows_is_compared_only_on_the_others(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    set_config(project, {"train": {"holdout_share": 0.1}})
    run_ok(project, "train", "--window", "2025-08")
    run_ok(project, "promote", "v0002", "--reason", "a version under another hold-out rule")
    set_config(project, {"train": {"holdout_share": 0.2}})
    run_ok(project, "retrain", "--window", "2025-08")
    keys = _keys(project, "2025-08")
    held, held_before = HoldoutRule(0.2).held_out(keys), HoldoutRule(0.1).held_out(keys)
    text = (project / "repo" / "monitoring" / "2025-08" / "decision.txt").read_text().splitlines()
    assert text[0] == (f"decision at window 2025-08: hold-out 2025-08, {int(held_before.sum())} labelled rows, "
                       "primary metric roc_auc")
    assert (f"excluded: {int((held & ~held_before).sum())} of the {int(held.sum())} hold-out rows of 2025-08 "
            "left out: v0002 trained on them") in text
