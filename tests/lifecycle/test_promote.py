"""Blue/green by hand: promote (smoke-gated), rollback with no data access, --force with a reason; the manual
governance gate (a winner pending until approved or rejected)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PATIENCE, copy_project, set_config
from ct_support import base_project, run_ok

from lowops.cli import cli

LOWOPS = str(Path(sys.executable).with_name("lowops"))


@pytest.fixture(scope="module")
def with_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0001 live, v0002 trained on 2025-01 … 2025-03 and registered (not live)."""
    project = copy_project(base_project(tmp_path_factory), tmp_path_factory.mktemp("promote") / "project")
    result = CliRunner().invoke(cli, ["-C", str(project), "train", "--window", "2025-03"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return project


def pointer(project: Path) -> dict:
    return json.loads((project / "repo" / "deploy" / "churn.json").read_text())


def test_promote_then_rollback_without_data_access(with_v2: Path, tmp_path: Path) -> None:
    project = copy_project(with_v2, tmp_path / "project")
    runner = CliRunner()
    result = runner.invoke(cli, ["-C", str(project), "promote", "v0002", "--by", "alice", "--reason", "better"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == "churn v0002 is live in slot green (was v0001); smoke test passed\n"
    state = pointer(project)
    assert state["live"] == "green"
    assert state["slots"]["blue"]["version"] == "v0001" and state["slots"]["green"]["version"] == "v0002"
    last = state["history"][-1]
    assert (last["by"], last["reason"], last["from"], last["to"], last["action"]) == \
        ("alice", "better", "v0001", "v0002", "promote")
    # Rollback reads no data: it works with the database gone.
    (project / "demo" / "store.sqlite").rename(project / "demo" / "gone.sqlite")
    result = runner.invoke(cli, ["-C", str(project), "rollback", "--by", "bob", "--reason", "complaints"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == "churn v0001 is live again (was v0002)\n"
    state = pointer(project)
    assert state["live"] == "blue" and state["slots"]["green"]["version"] == "v0002"
    assert state["history"][-1]["action"] == "rollback" and state["history"][-1]["by"] == "bob"
    actions = [json.loads(line)["action"] for line in (project / "repo" / "audit.log").read_text().splitlines()]
    assert actions == ["promote", "rollback"]
    statuses = (project / "repo" / "models" / "churn" / "v0002.status").read_text().splitlines()
    assert [json.loads(s)["status"] for s in statuses] == ["promoted", "retired"]
    # Back at the first version, there is nothing before it.
    again = runner.invoke(cli, ["-C", str(project), "rollback"])
    assert again.exit_code == 0
    third = runner.invoke(cli, ["-C", str(project), "rollback"])
    assert third.exit_code == 0 and "v0001 is live again" in third.output


def test_promote_usage_errors(with_v2: Path) -> None:
    runner = CliRunner()
    forced = runner.invoke(cli, ["-C", str(with_v2), "promote", "v0002", "--force"])
    assert forced.exit_code == 2
    assert forced.output == "Error: --force needs --reason TEXT: the reason goes in the audit log.\n"
    unknown = runner.invoke(cli, ["-C", str(with_v2), "promote", "v0009"])
    assert unknown.exit_code == 2
    assert unknown.output == "Error: Model 'churn' has no version 'v0009'; versions: v0001, v0002.\n"
    live = runner.invoke(cli, ["-C", str(with_v2), "promote", "v0001"])
    assert live.exit_code == 2
    assert "churn v0001 is already live (slot blue); nothing to switch." in live.output


def test_smoke_failure_leaves_live_untouched_rejects_and_notifies(with_v2: Path, tmp_path: Path) -> None:
    project = copy_project(with_v2, tmp_path / "project")
    inbox = tmp_path / "inbox.txt"
    set_config(project, {"notify": {"command": {"argv": ["sh", "-c", f"cat >> {inbox}"]}}})
    golden = project / "sql" / "golden.sql"
    golden.write_text(golden.read_text().replace("    u.data_gb,\n", ""))  # a sample the model cannot score
    before = pointer(project)
    result = CliRunner().invoke(cli, ["-C", str(project), "promote", "v0002"])
    assert result.exit_code == 65
    assert result.output.startswith("Error: churn v0002 failed its smoke test, so v0001 stays live: golden sample: "
                                    "the model cannot score it: smoke test (golden sample): column(s) 'data_gb'")
    after = pointer(project)
    assert after["live"] == before["live"] == "blue"
    assert after["slots"]["blue"] == before["slots"]["blue"]
    assert after["history"] == before["history"]
    assert after["slots"]["green"] is None  # the idle slot is restored as it was
    status = json.loads((project / "repo" / "models" / "churn" / "v0002.status").read_text().splitlines()[-1])
    assert status["status"] == "rejected" and status["reason"].startswith("golden sample: the model cannot score")
    audit_line = json.loads((project / "repo" / "audit.log").read_text().splitlines()[-1])
    assert (audit_line["action"], audit_line["version"], audit_line["live"]) == ("smoke_failed", "v0002", "v0001")
    mail = inbox.read_text()
    assert "smoke_failed: churn v0002 failed its smoke test; v0001 stays live" in mail
    assert "FAIL golden sample: the model cannot score it" in mail


def test_force_switches_past_a_failed_smoke_test_and_audits_the_reason(with_v2: Path, tmp_path: Path) -> None:
    project = copy_project(with_v2, tmp_path / "project")
    golden = project / "sql" / "golden.sql"
    golden.write_text(golden.read_text().replace("    u.data_gb,\n", ""))
    result = CliRunner().invoke(cli, ["-C", str(project), "promote", "v0002", "--force", "--by", "carol",
                                      "--reason", "golden.sql is stale"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == "churn v0002 is live in slot green (was v0001); FORCED past a failed smoke test\n"
    line = json.loads((project / "repo" / "audit.log").read_text().splitlines()[-1])
    assert (line["action"], line["forced"], line["reason"], line["by"]) == ("promote", True, "golden.sql is stale", "carol")


def test_installed_script_rolls_back_and_verifies(with_v2: Path, tmp_path: Path) -> None:
    project = copy_project(with_v2, tmp_path / "project")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([LOWOPS, "-C", str(project), "promote", "v0002", "--reason", "e2e", "--json"],
                          capture_output=True, text=True, env=env, timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["live"] == "v0002"
    done = subprocess.run([LOWOPS, "-C", str(project), "rollback", "--json"], capture_output=True, text=True,
                          env=env, timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["live"], json.loads(done.stdout)["previous"]) == ("v0001", "v0002")
    done = subprocess.run([LOWOPS, "-C", str(project), "verify"], capture_output=True, text=True, env=env, timeout=PATIENCE)
    assert done.returncode == 0 and done.stdout.endswith(": ok\n")
    audit_log = project / "repo" / "audit.log"
    data = bytearray(audit_log.read_bytes())
    data[data.index(b'"rollback"') + 1] = ord("R")
    audit_log.write_bytes(bytes(data))
    done = subprocess.run([LOWOPS, "-C", str(project), "verify"], capture_output=True, text=True, env=env, timeout=PATIENCE)
    assert done.returncode == 77
    assert "audit chain broken: line 2: content does not match its hash (edited)" in done.stdout


# --------------------------------------------------------------------------- governance


def test_manual_governance_leaves_the_winner_pending_until_approved(tmp_path_factory: pytest.TempPathFactory,
                                                                    tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    inbox = tmp_path / "inbox.txt"
    set_config(project, {"governance": {"promote": "manual"},
                         "notify": {"command": {"argv": ["sh", "-c", f'echo "== $LOWOPS_EVENT" >> {inbox}']}}})
    run_ok(project, "run", "--window", "2025-09")
    repo = project / "repo"
    state = json.loads((repo / "deploy" / "churn.json").read_text())
    assert state["live"] == "blue" and state["slots"]["blue"]["version"] == "v0001"
    assert "outcome: v0002 pending approval (governance.promote: manual); v0001 stays live" in \
        (repo / "monitoring" / "2025-09" / "decision.txt").read_text()
    assert inbox.read_text().split()[-4:] == ["==", "retrained", "==", "pending_approval"]
    status = json.loads(run_ok(project, "status", "--json"))
    assert [p["version"] for p in status["pending"]] == ["v0002"] and status["governance"] == "manual"
    assert "pending approval:\n  v0002 since " in run_ok(project, "status")
    wrong = CliRunner().invoke(cli, ["-C", str(project), "approve", "v0001", "--by", "al", "--reason", "x"])
    assert wrong.exit_code == 2
    assert wrong.output == "Error: churn v0001 is not pending approval (status: retired); pending: v0002.\n" or \
        wrong.output == "Error: churn v0001 is not pending approval (status: registered); pending: v0002.\n"
    out = run_ok(project, "approve", "v0002", "--by", "alice", "--reason", "decision.txt checked")
    assert out == "churn v0002 approved by alice and live in slot green (was v0001)\n"
    actions = [json.loads(line)["action"] for line in (repo / "audit.log").read_text().splitlines()]
    assert actions == ["pending", "approve", "promote"]
    assert run_ok(project, "verify").endswith(": ok\n")


def test_reject_closes_a_pending_version(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    set_config(project, {"governance": {"promote": "manual"}})
    run_ok(project, "retrain", "--window", "2025-09", "--by", "tester")
    out = run_ok(project, "reject", "v0002", "--by", "bob", "--reason", "outage week in the data")
    assert out == "churn v0002 rejected by bob; v0001 stays live\n"
    assert json.loads(run_ok(project, "status", "--json"))["pending"] == []
    text = (project / "repo" / "monitoring" / "2025-09" / "decision.txt").read_text()
    assert "triggers:\n  manual: lowops retrain --window 2025-09 by tester\n" in text
