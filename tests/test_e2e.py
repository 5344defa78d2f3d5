"""End to end through the installed ``lowops`` script and the cron pipeline, in subprocesses."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import LIGHT, PATIENCE, ROOT, copy_project, home_with_keys, set_config

from lowops.windows import last_complete, parse_window, window_range


def lowops(lowops_bin: Path, *args: str, cwd: Path, timeout: float = PATIENCE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(lowops_bin), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def daily(project: Path, lowops_bin: Path, home: Path, timeout: float = PATIENCE) -> subprocess.CompletedProcess[str]:
    """pipelines/daily.sh the way cron runs it: an empty environment, no virtualenv on PATH."""
    home.mkdir(exist_ok=True)
    home_with_keys(home)
    return subprocess.run(
        ["/usr/bin/env", "-i", f"HOME={home}", f"LOWOPS_BIN={lowops_bin}", str(project / "pipelines" / "daily.sh")],
        cwd=home, capture_output=True, text=True, timeout=timeout)


def ledgers(project: Path) -> list[dict]:
    runs = project / "repo" / "runs"
    return [json.loads(p.read_text()) for p in sorted(runs.glob("r*.json"))] if runs.is_dir() else []


def pipeline_logs(project: Path) -> list[Path]:
    folder = project / "repo" / "logs" / "pipelines"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# The end-to-end project's size: what it proves does not depend on it.
E2E_CUSTOMERS = 500


@pytest.mark.slow
def test_installed_script_init_validate_backfill_list(lowops_bin: Path, tmp_path: Path) -> None:
    target = tmp_path / "churn"
    done = lowops(lowops_bin, "init", str(target), "--customers", str(E2E_CUSTOMERS), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"created {target / 'config'}" in done.stdout.splitlines()
    assert (f"demo store {target / 'demo' / 'store.sqlite'}: customer_profile {15 * E2E_CUSTOMERS}, "
            f"usage_monthly {15 * E2E_CUSTOMERS}, billing_monthly {15 * E2E_CUSTOMERS}, "
            f"churn_labels {15 * E2E_CUSTOMERS} rows"
            ) in done.stdout
    set_config(target, LIGHT)

    done = lowops(lowops_bin, "-C", str(target), "validate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "ready"
    assert len([line for line in done.stdout.splitlines() if line.startswith("sql ")]) == 5  # + smoke.golden_sql

    done = lowops(lowops_bin, "backfill", "--from", "2025-01", "--to", "2025-03", cwd=target)  # project = cwd
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    for number, (line, window) in enumerate(zip(lines, ["2025-01", "2025-02", "2025-03"]), start=1):
        assert line.startswith(f"{window}: scored {E2E_CUSTOMERS} rows with v0001 -> "
                               f"{target / 'repo' / 'outputs' / window / f'predictions-r{number:06d}.csv'}; roc_auc=")

    done = lowops(lowops_bin, "-C", str(target), "models", "list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["model"], r["version"], r["live"], r["slot"], r["holdout_window"]) for r in rows] == [
        ("churn", "v0001", True, "blue", "2024-12")]
    assert 0.5 < rows[0]["primary_value"] <= 1

    done = lowops(lowops_bin, "-C", str(target), "verify", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{target / 'repo'}: ok\n")


def test_daily_pipeline_under_an_empty_environment(ran_project: Path, lowops_bin: Path, tmp_path: Path) -> None:
    project = copy_project(ran_project, tmp_path / "churn").resolve()
    before = len(ledgers(project))
    done = daily(project, lowops_bin, tmp_path / "home")
    assert done.returncode == 0, done.stderr + "".join(p.read_text() for p in pipeline_logs(project))
    assert (done.stdout, done.stderr) == ("", "")  # everything went to the dated log

    (log,) = pipeline_logs(project)
    assert re.fullmatch(r"daily-\d{8}T\d{6}Z-\d+\.log", log.name)
    text = log.read_text()
    assert re.search(rf"^\S+Z daily start \(project {re.escape(str(project))}, pid \d+\)$", text, re.M)
    for command in ("$ lowops validate", "$ lowops run", "$ lowops status"):
        assert command in text
    assert text.rstrip().endswith("daily end exit=0")
    assert "ready" in text and "model churn: v0001 live in slot blue" in text

    # cron's default run: every complete window after the last done one, oldest first
    expected = [w.label for w in window_range(parse_window("2026-01"), last_complete("monthly"))]
    new = ledgers(project)[before:]
    assert [(r["command"], r["window"], r["status"]) for r in new] == [("run", w, "empty") for w in expected]
    for window in expected:
        assert f"{window}: empty window, nothing to score" in text


def test_second_tick_steps_aside_while_the_first_holds_the_lock(
        ran_project: Path, lowops_bin: Path, tmp_path: Path) -> None:
    project = copy_project(ran_project, tmp_path / "churn").resolve()
    lock_path = project / "repo" / ".pipeline.lock"
    before = len(ledgers(project))
    with open(lock_path, "a") as first_tick:
        fcntl.flock(first_tick.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = daily(project, lowops_bin, tmp_path / "home")
    assert done.returncode == 75
    assert done.stderr == f"daily: another pipeline holds {lock_path}; stepping aside (exit 75)\n"
    assert len(ledgers(project)) == before
    assert pipeline_logs(project) == []


def test_pipeline_failure_passes_the_exit_code_through(project: Path, lowops_bin: Path, tmp_path: Path) -> None:
    project = project.resolve()
    config = project / "config" / "lowops.yaml"
    config.write_text(config.read_text().replace("\ntrain:\n", "\ntrian:\n", 1))
    done = daily(project, lowops_bin, tmp_path / "home")
    assert done.returncode == 78
    (log,) = pipeline_logs(project)
    assert done.stderr.startswith(f"daily failed with exit 78; log: {log}\n")
    assert f"Error: {config}: unknown key 'trian'. Did you mean 'train'?" in done.stderr
    text = log.read_text()
    assert "$ lowops validate" in text and "$ lowops run" not in text  # stopped at the first failure
    assert text.rstrip().endswith("daily end exit=78")
    assert ledgers(project) == []


def test_pipeline_without_lowops_says_how_to_fix_it(project: Path, tmp_path: Path) -> None:
    done = daily(project, tmp_path / "no" / "lowops", tmp_path / "home")
    assert done.returncode == 78
    assert done.stderr == "daily: lowops not found; set LOWOPS_VENV or LOWOPS_BIN (see crontab.example)\n"


def test_pipeline_scripts_are_executable_in_a_new_project(project: Path) -> None:
    assert os.access(project / "pipelines" / "daily.sh", os.X_OK)
    assert (project / "pipelines" / "daily.sh").read_text().startswith("#!/usr/bin/env bash\n")


def test_retrain_pipeline_script_is_valid_bash() -> None:
    script = ROOT / "pipelines" / "retrain.sh"
    assert subprocess.run(["bash", "-n", str(script)], timeout=PATIENCE).returncode == 0
    assert "pipelines/retrain.sh" in (script.parents[1] / "crontab.example").read_text()
