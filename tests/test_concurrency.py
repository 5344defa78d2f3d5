"""One writer at a time: two cron ticks at once, promotion while another process scores,
a lock descriptor inherited by a long-lived child. (scripts/chaos.sh runs the 50-round
and 1,000-switch versions.)"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PATIENCE, copy_project, invoke, set_config
from reliability_support import Forked, assert_same_outcome, barrier, fast_ran, lock_free, outcome


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What one `lowops run --window 2025-04` leaves after the 2025-01 … 2025-03 backfill."""
    project = copy_project(fast_ran(tmp_path_factory), tmp_path_factory.mktemp("single") / "churn")
    assert invoke(project, "run", "--window", "2025-04").exit_code == 0
    return outcome(project)


def test_two_runs_started_together_one_works_the_other_exits_75(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, single: dict[str, Any]) -> None:
    for round_ in range(3):
        project = copy_project(fast_ran(tmp_path_factory), tmp_path / f"round{round_}" / "churn")
        gate = barrier(2)
        ticks = [Forked(project, "run", "--window", "2025-04", out=tmp_path / f"r{round_}-{i}.txt", barrier=gate)
                 for i in range(2)]
        for tick in ticks:
            tick.start()
        codes = [tick.wait() for tick in ticks]
        assert sorted(codes) == [0, 75], [t.output() for t in ticks]
        winner, loser = (ticks[0], ticks[1]) if codes[0] == 0 else (ticks[1], ticks[0])
        assert re.fullmatch(
            rf"Error: Repository {re.escape(str(project / 'repo'))} is locked by pid {winner.pid} running "
            r"`lowops run --window 2025-04` since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; try again later "
            r"\(set LOWOPS_LOCK_WAIT=SECONDS to wait for it\)\.\n", loser.output()), loser.output()
        assert lock_free(project / "repo")
        assert_same_outcome(outcome(project), single)
        assert invoke(project, "verify").exit_code == 0


def test_the_second_tick_waits_when_told_to(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                            single: dict[str, Any]) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    gate = barrier(2)
    ticks = [Forked(project, "run", "--window", "2025-04", out=tmp_path / f"{i}.txt", barrier=gate,
                    LOWOPS_LOCK_WAIT="200") for i in range(2)]
    for tick in ticks:
        tick.start()
    assert [tick.wait() for tick in ticks] == [0, 0], [t.output() for t in ticks]
    outputs = sorted(t.output() for t in ticks)
    assert any("already done by run r000004; nothing to do" in text for text in outputs), outputs
    assert_same_outcome(outcome(project), single)


def test_every_load_verifies_while_the_live_version_switches(tmp_path_factory: pytest.TempPathFactory,
                                                             tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    assert invoke(project, "train", "--window", "2025-03").exit_code == 0
    assert invoke(project, "promote", "v0002", "--force", "--reason", "two versions to switch between").exit_code == 0
    stop, report = tmp_path / "stop", tmp_path / "report.json"
    reader = Forked(None, str(project), str(stop), str(report), 5, out=tmp_path / "reader.txt",
                    call="score_loop").start()
    promoter = Forked(None, str(project), 30, str(stop), out=tmp_path / "promoter.txt", call="rollback_loop").start()
    assert promoter.wait() == 0, promoter.output()
    assert reader.wait() == 0, reader.output()
    result = json.loads(report.read_text())
    assert result["failures"] == []
    assert result["loads"] >= 5
    pointer = json.loads((project / "repo" / "deploy" / "churn.json").read_text())
    assert len([h for h in pointer["history"] if h.get("action") == "rollback"]) == 30
    assert pointer["slots"][pointer["live"]]["version"] == "v0002"  # an even number of flips
    assert invoke(project, "verify").exit_code == 0  # the audit chain has all 30 switches, in order


def test_a_child_that_outlives_the_lock_holder_does_not_keep_the_lock(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    pid_file = tmp_path / "child.pid"
    holder = Forked(None, str(repo), str(pid_file), out=tmp_path / "holder.txt", call="hold_lock_and_spawn").start()
    deadline = time.monotonic() + PATIENCE
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(pid_file.read_text())
    try:
        assert not lock_free(repo)
        holder.kill()
        holder.wait()
        os.kill(child, 0)  # the child still runs, with every descriptor it could inherit …
        assert lock_free(repo)  # … but not the lock: O_CLOEXEC
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_notification_command_that_outlives_a_killed_run_does_not_keep_the_lock(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    pid_file = tmp_path / "notify.pid"
    # the notification's longest allowed wait: the test kills the run long before it would end
    set_config(project, {"notify": {"events": ["pipeline_failed"], "timeout_seconds": 300,
                                    "command": {"argv": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep {PATIENCE}"]}}})
    usage = project / "sql" / "usage.sql"
    original = usage.read_text()
    usage.write_text(original.replace("    sms_count,\n", ""))  # the run fails, and notifies
    run = Forked(project, "run", "--window", "2025-04", out=tmp_path / "run.txt").start()
    deadline = time.monotonic() + PATIENCE
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(pid_file.read_text())
    try:
        assert not lock_free(project / "repo")
        run.kill()
        assert run.wait() == -signal.SIGKILL
        os.kill(child, 0)
        assert lock_free(project / "repo")
        usage.write_text(original)
        again = invoke(project, "run", "--window", "2025-04")  # the failed run, continued
        assert again.exit_code == 0, again.output
    finally:
        os.kill(child, signal.SIGKILL)


def test_two_promotions_at_once_leave_one_complete_live_version(tmp_path_factory: pytest.TempPathFactory,
                                                                tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    assert invoke(project, "train", "--window", "2025-03").exit_code == 0
    gate = barrier(2)
    clicks = [Forked(project, "promote", "v0002", "--force", "--reason", f"click {i}", out=tmp_path / f"{i}.txt",
                     barrier=gate) for i in range(2)]
    for click in clicks:
        click.start()
    codes = sorted(click.wait() for click in clicks)
    # One switches; the other steps aside (75) or, if it came second, finds v0002 already live (2).
    assert codes in ([0, 75], [0, 2]), [c.output() for c in clicks]
    pointer = json.loads((project / "repo" / "deploy" / "churn.json").read_text())
    assert pointer["slots"][pointer["live"]]["version"] == "v0002"
    assert [h["to"] for h in pointer["history"]] == ["v0001", "v0002"]
    runs = sorted(p.name for p in (project / "repo" / "runs").glob("r*.json"))
    assert runs == [f"r{n:06d}.json" for n in range(1, len(runs) + 1)]  # unique, in order, no gap
    assert invoke(project, "verify").exit_code == 0


def test_a_loser_never_names_a_holder_that_is_gone(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The lock file still names a holder killed long ago (its details copied with the project, say)
    while a new holder has the lock but has not written its own yet: the loser names no dead pid."""
    import subprocess

    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    lock = project / "repo" / ".lock"
    assert lock.read_text() == ""  # a finished command clears its details
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "command": "lowops backfill --from 2025-01 --to 2025-03",
                                "since": "2026-01-01T03:00:00Z"}))
    holder = subprocess.Popen(["flock", str(lock), "cat"], stdin=subprocess.PIPE)  # holds the lock until its stdin closes
    try:
        deadline = time.monotonic() + PATIENCE
        while subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0:  # until the holder has it
            assert time.monotonic() < deadline, "flock did not take the lock"
            time.sleep(0.05)
        result = invoke(project, "run", "--window", "2025-03", "--force")
        assert result.exit_code == 75, result.output
        assert result.stderr == (f"Error: Repository {project / 'repo'} is locked by another lowops process; "
                                 "try again later (set LOWOPS_LOCK_WAIT=SECONDS to wait for it).\n")
        assert str(dead.pid) not in result.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # cat ends, and flock with it
        assert holder.wait(timeout=PATIENCE) == 0
