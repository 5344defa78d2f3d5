"""``lowops run`` as cron runs it: every complete window not done yet, holes and late data included,
and ``lowops status`` telling a run that failed and then resumed as what it became."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import time_machine
from conftest import copy_project, invoke
from reliability_support import fast_template


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(fast_template(tmp_path_factory), tmp_path / "churn")


def _windows(result_stdout: str) -> list[tuple[str, str]]:
    return [(o["window"], o["status"]) for o in json.loads(result_stdout)]


@time_machine.travel("2025-05-02 03:00:00+00:00", tick=False)
def test_catch_up_runs_a_hole_before_the_last_done_window(project: Path) -> None:
    for window in ("2025-01", "2025-03"):  # 2025-02 is skipped: a failed night, say
        assert invoke(project, "run", "--window", window).exit_code == 0
    result = invoke(project, "run", "--json")
    assert result.exit_code == 0, result.output
    assert _windows(result.stdout) == [("2025-02", "done"), ("2025-04", "done")]  # oldest first
    again = invoke(project, "run", "--json")
    assert _windows(again.stdout) == []  # nothing left to do


@time_machine.travel("2025-05-02 03:00:00+00:00", tick=False)
def test_a_window_found_empty_is_tried_again_when_its_data_arrives(project: Path, tmp_path: Path) -> None:
    store = project / "demo" / "store.sqlite"
    assert invoke(project, "run", "--window", "2025-03").exit_code == 0
    shutil.copy(store, tmp_path / "full.sqlite")
    with sqlite3.connect(store) as conn:  # the ETL is late: April is not loaded yet
        for table in ("customer_profile", "usage_monthly", "billing_monthly", "churn_labels"):
            conn.execute(f"DELETE FROM {table} WHERE month >= '2025-04-01'")
    first = invoke(project, "run", "--json")
    assert _windows(first.stdout) == [("2025-04", "empty")]
    shutil.copy(tmp_path / "full.sqlite", store)  # the ETL caught up
    second = invoke(project, "run", "--json")
    assert _windows(second.stdout) == [("2025-04", "done")]
    assert json.loads(second.stdout)[0]["rows"] == 500


def test_status_shows_a_failed_then_resumed_run_as_it_ended(project: Path) -> None:
    store = project / "demo" / "store.sqlite"
    moved = project / "demo" / "away.sqlite"
    store.rename(moved)
    assert invoke(project, "run", "--window", "2025-01").exit_code == 69
    moved.rename(store)
    assert invoke(project, "run", "--window", "2025-01").exit_code == 0  # resumes run r000001
    status = json.loads(invoke(project, "status", "--json").stdout)
    [run] = status["runs"]
    assert (run["run_id"], run["status"], run["message"]) == ("r000001", "done", None)
    ledger = json.loads((project / "repo" / "runs" / "r000001.json").read_text())
    assert ledger["resumed"][0]["after"].startswith("DatabaseError: Database sqlite:///")
