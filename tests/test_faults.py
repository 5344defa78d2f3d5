"""RELIABILITY.md table (b): crashes, signals, I/O errors and a full disk during real runs.

Each fault is followed by what an operator would do the next morning: ``lowops verify``
(which may find nothing but removable leftovers), ``lowops verify --repair``, and the
same command again, whose result must equal a run that was never interrupted: the
same predictions, the same metric lines (none twice), the same live version.

The 50-round versions (random SIGKILL timing, two cron ticks at once) are
``scripts/chaos.sh``.
"""

from __future__ import annotations

import errno
import json
import os
import random
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PATIENCE, copy_project, invoke, set_config
from reliability_support import (
    BACKFILL,
    Forked,
    assert_same_outcome,
    child_env,
    fast_ran,
    fast_template,
    forked,
    lock_free,
    lowops_cmd,
    outcome,
    snapshot,
)

# Every stage boundary of `lowops backfill --from 2025-01 --to 2025-03` at its first hit (the
# first window, which also trains v0001), two in later windows, and points inside the write
# path: just before a file is moved into place (write:), just before a version directory is
# renamed (stage:). scripts/chaos.sh --checkpoints loops over every hit of every checkpoint.
STAGES = ("extract", "train", "score", "evaluate", "monitor", "decide")
BOUNDARIES = [f"{edge}:{stage}@1" for stage in STAGES for edge in ("before", "after")] + [
    "before:score@3", "after:evaluate@2"]
WRITES = ["write:r000001.json@1", "stage:features-*@1", "write:model.skops", "write:SHA256SUMS", "stage:v0001",
          "write:churn.json", "write:predictions-*@2", "write:r000003.json@6"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fast_template(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the uninterrupted backfill left."""
    return outcome(fast_ran(tmp_path_factory))


def recover(project: Path, *args: str) -> None:
    """verify (nothing but removable leftovers), verify --repair, verify clean, run again, verify clean."""
    found = invoke(project, "verify")
    if found.exit_code != 0:
        assert found.exit_code == 77, found.output
        lines = found.stdout.splitlines()
        assert lines and all(line.endswith(("(removable with --repair)", "(repairable with --repair)"))
                             for line in lines), found.stdout
        repaired = invoke(project, "verify", "--repair")
        assert repaired.exit_code == 0, repaired.output
    clean = invoke(project, "verify")
    assert clean.exit_code == 0 and clean.stdout == f"{project / 'repo'}: ok\n", clean.output
    again = invoke(project, *(args or ("backfill", "--from", BACKFILL[0], "--to", BACKFILL[1])))
    assert again.exit_code == 0, again.output
    final = invoke(project, "verify")
    assert final.exit_code == 0, final.output


# =========================================================================== kill -9 at checkpoints


@pytest.mark.parametrize("checkpoint", BOUNDARIES + WRITES)
def test_kill_9_at_a_checkpoint_then_verify_repair_and_resume_equal_a_clean_run(
        template: Path, reference: dict[str, Any], tmp_path: Path, checkpoint: str) -> None:
    project = copy_project(template, tmp_path / "churn")
    code, output = forked(project, "backfill", "--from", BACKFILL[0], "--to", BACKFILL[1],
                          out=tmp_path / "killed.txt", LOWOPS_FAULT=checkpoint)
    assert code == -signal.SIGKILL, f"{checkpoint} was never reached (exit {code}): {output}"
    assert lock_free(project / "repo")
    recover(project)
    assert_same_outcome(outcome(project), reference)


def test_random_sigkill_timing(template: Path, reference: dict[str, Any], tmp_path: Path) -> None:
    """A handful of SIGKILLs at random moments of a backfill (scripts/chaos.sh runs 50)."""
    rng = random.Random(20251128)
    started = time.monotonic()
    code, output = forked(copy_project(template, tmp_path / "timing" / "churn"), "backfill", "--from", BACKFILL[0], "--to",
                          BACKFILL[1], out=tmp_path / "timing.txt")
    assert code == 0, output
    duration = time.monotonic() - started
    for round_ in range(3):
        project = copy_project(template, tmp_path / f"round{round_}" / "churn")
        child = Forked(project, "backfill", "--from", BACKFILL[0], "--to", BACKFILL[1],
                       out=tmp_path / f"round{round_}.txt").start()
        time.sleep(rng.uniform(0.05, 0.95) * duration)
        child.kill()
        assert child.wait() in (-signal.SIGKILL, 0)
        assert lock_free(project / "repo")
        recover(project)
        assert_same_outcome(outcome(project), reference)


# =========================================================================== I/O errors


class NthCallFails:
    """Make ``os.<name>`` raise EIO on its n-th call (and every later one when ``persistent``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, n: int, persistent: bool) -> None:
        self.calls = 0
        real: Callable[..., Any] = getattr(os, name)

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == n or (persistent and self.calls > n):
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, failing)


def _counted(monkeypatch: pytest.MonkeyPatch, project: Path, name: str, *args: str) -> int:
    with monkeypatch.context() as patch:
        counter = NthCallFails(patch, name, 0, False)
        assert invoke(project, *args).exit_code == 0
    return counter.calls


def _kept(project: Path) -> dict[str, str]:
    """What an I/O error must not touch: the earlier windows' outputs, models and the pointer."""
    return {k: v for k, v in snapshot(project / "repo").items()
            if k.startswith(("outputs/2025-0", "models/", "deploy/", "data/2025-03/"))}


@pytest.mark.parametrize("name", ["fsync", "replace", "write"])
@pytest.mark.parametrize("persistent", [False, True], ids=["one-shot", "persistent"])
def test_io_error_on_the_nth_call(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, name: str, persistent: bool) -> None:
    """EIO from the n-th os.fsync / os.replace / os.write of `lowops run` (then of `lowops rollback`):
    exit 73 naming the errno, earlier outputs and the pointer intact, and the same command then completes."""
    ran = fast_ran(tmp_path_factory)
    clean = copy_project(ran, tmp_path / "clean" / "churn")
    total = _counted(monkeypatch, clean, name, "run", "--window", "2025-04")
    want = outcome(clean)
    assert total > 0
    # A one-shot fault at the first, a middle and the last call; a persistent one from the middle on.
    for n in sorted({(total + 1) // 2} if persistent else {1, (total + 1) // 2, total}):
        project = copy_project(ran, tmp_path / f"n{n}" / "churn")
        kept = _kept(project)
        with monkeypatch.context() as patch:
            NthCallFails(patch, name, n, persistent)
            result = invoke(project, "run", "--window", "2025-04")
        assert result.exit_code == 73, (n, result.output)
        assert "[errno 5]" in result.stderr and "Input/output error" in result.stderr, result.stderr
        assert {k: v for k, v in _kept(project).items() if not k.startswith("outputs/2025-04")} == kept
        assert lock_free(project / "repo")
        recover(project, "run", "--window", "2025-04")
        assert_same_outcome(outcome(project), want)


@pytest.mark.parametrize("name", ["fsync", "replace"])
def test_io_error_while_switching_keeps_the_pointer(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    base = copy_project(fast_ran(tmp_path_factory), tmp_path / "base" / "churn")
    assert invoke(base, "train", "--window", "2025-03").exit_code == 0
    promoted = invoke(base, "promote", "v0002", "--force", "--reason", "test")
    assert promoted.exit_code == 0, promoted.output
    pointer = base / "repo" / "deploy" / "churn.json"
    total = _counted(monkeypatch, copy_project(base, tmp_path / "count" / "churn"), name, "rollback")
    for n in range(1, total + 1):
        project = copy_project(base, tmp_path / f"n{n}" / "churn")
        before = (project / "repo" / "deploy" / "churn.json").read_bytes()
        with monkeypatch.context() as patch:
            NthCallFails(patch, name, n, True)
            result = invoke(project, "rollback")
        assert result.exit_code == 73, (n, result.output)
        assert "[errno 5]" in result.stderr
        # The old pointer or the new one, whole: never a torn one, never a dangling one.
        after = json.loads((project / "repo" / "deploy" / "churn.json").read_text())
        assert (project / "repo" / "deploy" / "churn.json").read_bytes() == before or \
            after["slots"][after["live"]]["version"] == "v0001"
        found = invoke(project, "verify")
        assert found.exit_code == 0 or all(line.endswith(("(removable with --repair)", "(repairable with --repair)"))
                                           for line in found.stdout.splitlines()), found.output
        assert invoke(project, "verify", "--repair").exit_code == 0
        assert lock_free(project / "repo")
    assert json.loads(pointer.read_text())["slots"][json.loads(pointer.read_text())["live"]]["version"] == "v0002"


# =========================================================================== disk full


def _limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("limit", [12_000, 200])
def test_disk_full_exits_73_and_leaves_no_partial_file(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                                       limit: int) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    for big in (project / "repo" / "logs").iterdir():  # logs already past the limit fail on their own
        assert big.stat().st_size < 12_000 or limit == 200
    kept = _kept(project)
    done = subprocess.run(lowops_cmd(project, "run", "--window", "2025-04"), capture_output=True, text=True,
                          env=child_env(), timeout=PATIENCE, preexec_fn=_limit(limit), check=False)
    assert done.returncode == 73, done.stderr
    assert "File too large" in done.stderr and "[errno 27]" in done.stderr, done.stderr
    assert "raise it (ulimit -f)" in done.stderr
    assert "Traceback" not in done.stderr
    assert list((project / "repo").rglob(".tmp-*")) == []
    assert not list((project / "repo" / "outputs").glob("2025-04/*"))
    assert {k: v for k, v in _kept(project).items()} == kept
    recover(project, "run", "--window", "2025-04")


# =========================================================================== SIGTERM


def test_sigterm_inside_a_model_write_removes_temp_files(tmp_path_factory: pytest.TempPathFactory,
                                                         tmp_path: Path) -> None:
    """The installed script, stopped by SIGTERM while `lowops retrain` writes v0002's files."""
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    pointer = (project / "repo" / "deploy" / "churn.json").read_bytes()
    done = subprocess.run(lowops_cmd(project, "retrain", "--window", "2025-03"), capture_output=True, text=True,
                          env=child_env(LOWOPS_FAULT="write:model.json", LOWOPS_FAULT_SIGNAL="TERM"),
                          timeout=PATIENCE, check=False)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stderr.endswith("Error: stopped by SIGTERM; temporary files were removed and nothing "
                                "half-written is visible. Run the same command again to resume.\n")
    assert list((project / "repo").rglob(".tmp-*")) == []
    assert sorted(p.name for p in (project / "repo" / "models" / "churn").iterdir()) == ["v0001"]
    assert (project / "repo" / "deploy" / "churn.json").read_bytes() == pointer
    (ledger,) = [json.loads(p.read_text()) for p in (project / "repo" / "runs").glob("*.json")
                 if json.loads(p.read_text())["command"] == "retrain"]
    assert ledger["status"] == "interrupted"
    assert invoke(project, "verify").exit_code == 0
    assert lock_free(project / "repo")


def test_sigterm_from_outside_during_training(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    pointer = (project / "repo" / "deploy" / "churn.json").read_bytes()
    child = Forked(project, "retrain", "--window", "2025-03", out=tmp_path / "out.txt").start()
    runs = project / "repo" / "runs"
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        ledgers = [json.loads(p.read_text()) for p in runs.glob("r*.json")]
        if any(r["command"] == "retrain" and r["stages"] for r in ledgers):
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGTERM)
    code = child.wait()
    assert code in (128 + signal.SIGTERM, 0), child.output()
    assert list((project / "repo").rglob(".tmp-*")) == []
    if code != 0:
        assert (project / "repo" / "deploy" / "churn.json").read_bytes() == pointer
    assert invoke(project, "verify").exit_code == 0
    assert lock_free(project / "repo")


# =========================================================================== database down


def test_database_unreachable_exits_69_after_bounded_retries(tmp_path_factory: pytest.TempPathFactory,
                                                             tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    set_config(project, {"database": {"url": "postgresql+psycopg://lowops@127.0.0.1:1/test", "retries": 3,
                                      "retry_backoff": 0.2}})
    kept = _kept(project)
    started = time.monotonic()
    result = invoke(project, "run", "--window", "2025-04")
    elapsed = time.monotonic() - started
    assert result.exit_code == 69, result.output
    assert result.stderr.startswith("Error: Database postgresql+psycopg://lowops@127.0.0.1:1/test failed to ")
    assert 0.6 <= elapsed < 60  # 0.2 s + 0.4 s of backoff between three attempts, then give up
    assert _kept(project) == kept
    assert not (project / "repo" / "outputs" / "2025-04").exists()
    assert not (project / "repo" / "data" / "2025-04").exists()


# =========================================================================== kill -9 while retraining


CT = {"triggers": {"every_windows": 1}, "compare": {"cooldown_windows": 0, "bootstrap": 200, "min_improvement": 0.0}}


@pytest.fixture(scope="module")
def ct_template(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fast project with continuous training on: every window after the first retrains and compares."""
    project = copy_project(template, tmp_path_factory.mktemp("ct-template") / "churn")
    set_config(project, CT)
    return project


@pytest.fixture(scope="module")
def ct_reference(ct_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = copy_project(ct_template, tmp_path_factory.mktemp("ct-reference") / "churn")
    result = invoke(project, "backfill", "--from", BACKFILL[0], "--to", BACKFILL[1])
    assert result.exit_code == 0, result.output
    assert len(outcome(project)["versions"]) == 4  # v0001, then a challenger in each window
    return outcome(project)


@pytest.mark.parametrize("checkpoint", ["write:decision.txt@2"])
def test_kill_9_while_retraining_then_resume_trains_no_twin(ct_template: Path, ct_reference: dict[str, Any],
                                                            tmp_path: Path, checkpoint: str) -> None:
    project = copy_project(ct_template, tmp_path / "churn")
    code, output = forked(project, "backfill", "--from", BACKFILL[0], "--to", BACKFILL[1],
                          out=tmp_path / "killed.txt", LOWOPS_FAULT=checkpoint)
    assert code == -signal.SIGKILL, f"{checkpoint} was never reached (exit {code}): {output}"
    recover(project)
    assert_same_outcome(outcome(project), ct_reference)


def test_query_failing_after_some_rows_leaves_no_partial_snapshot(tmp_path_factory: pytest.TempPathFactory,
                                                                  tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    set_config(project, {"compute": {"chunk_rows": 100}})
    usage = project / "sql" / "usage.sql"
    # SQLite raises "integer overflow" while it sorts the rows, before the first one is returned.
    usage.write_text(usage.read_text().replace(
        "    app_sessions\n", "    app_sessions,\n    CASE WHEN customer_id > (SELECT customer_id FROM usage_monthly WHERE "
        "month >= :window_start AND month < :window_end ORDER BY customer_id LIMIT 1 OFFSET 300) "
        "THEN abs(-9223372036854775807 - 1) ELSE 0 END AS boom\n"))
    before = snapshot(project / "repo")
    result = invoke(project, "run", "--window", "2025-04")
    assert result.exit_code == 69, result.output
    assert result.stderr.startswith(f"Error: Database sqlite:///{project / 'demo' / 'store.sqlite'} failed the "
                                    f"query in {usage}: ")
    assert "integer overflow" in result.stderr
    after = snapshot(project / "repo")
    new = sorted(set(after) - set(before))
    assert [p for p in new if not p.startswith("runs/")] == [], new  # no data version, no output, no temp file
    assert not (project / "repo" / "data" / "2025-04").exists()


@pytest.fixture(scope="module")
def switching(template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A project whose `lowops run --window 2025-02` retrains and switches blue/green, and what that run leaves.

    v0001 is a DummyClassifier (every score the base rate); then the config names a real
    model, so at 2025-02 the challenger wins and goes live.
    """
    base = copy_project(template, tmp_path_factory.mktemp("switching") / "churn")
    set_config(base, {"model": {"estimator": {"class": "sklearn.dummy.DummyClassifier", "params": {}}}})
    assert invoke(base, "run", "--window", "2025-01").exit_code == 0
    set_config(base, {"model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression",
                                              "params": {"max_iter": 300}}},
                      "triggers": CT["triggers"],
                      "compare": {**CT["compare"], "resource_margin": 100, "latency_slack_ms": 10_000}})
    reference = copy_project(base, tmp_path_factory.mktemp("switching-reference") / "churn")
    assert invoke(reference, "run", "--window", "2025-02").exit_code == 0
    want = outcome(reference)
    assert want["slots"][want["live"]] == "v0002", want["slots"]  # the challenger won and went live
    return base, want


@pytest.mark.parametrize("checkpoint", ["write:churn.json@2", "write:audit.head@1", "after:decide@1"])
def test_kill_9_around_a_blue_green_switch(switching: tuple[Path, dict[str, Any]], tmp_path: Path,
                                           checkpoint: str) -> None:
    """Killed while switching (before the pointer flips, after it, after the decision): the run,
    continued, ends with the same live version and keeps the predictions the old version made."""
    base, want = switching
    project = copy_project(base, tmp_path / "churn")
    code, output = forked(project, "run", "--window", "2025-02", out=tmp_path / "killed.txt", LOWOPS_FAULT=checkpoint)
    assert code == -signal.SIGKILL, f"{checkpoint} was never reached (exit {code}): {output}"
    recover(project, "run", "--window", "2025-02")
    assert_same_outcome(outcome(project), want)
