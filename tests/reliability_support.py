"""Shared set-up for the reliability suites (bad inputs, faults, concurrency, integrity, secrets).

One small, fast demo project (500 customers, a linear model, no CV, monitoring and
retraining off) is built once per session, and one copy of it on which
``lowops backfill --from 2025-01 --to 2025-03`` ran (both through conftest's
``make_project``); tests copy them (``copy_project``). Snapshots of a
repository (every file and directory with its digest) tell whether a command
changed anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from click.testing import Result
from conftest import LIGHT, PATIENCE, copy_project, invoke, make_project, open_context

CUSTOMERS = 500
BACKFILL = ("2025-01", "2025-03")
# A linear model without CV trains in a fraction of a second even on a busy machine.
FAST = {
    "model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression",
                            "params": {"max_iter": 300}}},
    "train": {"cv_folds": 0},
    "database": {"retries": 1, "retry_backoff": 0.0},
    "notify": {"retries": 1, "backoff_seconds": 0.0},
}
LOG = "logs/lowops.log"
LOCK = ".lock"

_CACHE: dict[str, Path] = {}


def fast_template(factory: Any) -> Path:
    """An initialised small demo project with no repository yet (built once per session)."""
    if "template" not in _CACHE:
        _CACHE["template"] = make_project(factory.mktemp("rel-template") / "churn", LIGHT, FAST,
                                          customers=CUSTOMERS)
    return _CACHE["template"]


def fast_ran(factory: Any) -> Path:
    """The fast project after ``lowops backfill --from 2025-01 --to 2025-03`` (once per session)."""
    if "ran" not in _CACHE:
        root = copy_project(fast_template(factory), factory.mktemp("rel-ran") / "churn")
        result = invoke(root, "backfill", "--from", BACKFILL[0], "--to", BACKFILL[1])
        assert result.exit_code == 0, result.output
        _CACHE["ran"] = root
    return _CACHE["ran"]


# --------------------------------------------------------------------------- snapshots


def snapshot(repo: Path) -> dict[str, str]:
    """Every directory and file under ``repo`` with its content digest.

    ``.lock`` (the lock's holder record) is left out; ``logs/lowops.log`` is kept
    whole so :func:`changes` can check that it only grew.
    """
    found: dict[str, str] = {}
    if not repo.exists():
        return found
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if rel == LOCK:
            continue
        if path.is_symlink():
            found[rel] = "symlink:" + os.readlink(path)
        elif path.is_dir():
            found[rel + "/"] = "dir"
        else:
            found[rel] = path.read_text(encoding="utf-8") if rel == LOG else \
                hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """What differs between two snapshots, with the event log allowed to grow by appended lines."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    if LOG in changed and after[LOG].startswith(before[LOG]):
        changed.remove(LOG)
    if LOG in added:
        added.remove(LOG)
    for folder in ("logs/",):
        if folder in added:
            added.remove(folder)
    return {k: v for k, v in (("added", added), ("removed", removed), ("changed", changed)) if v}


def sign_version(folder: Path, project: str = "churn-demo") -> None:
    """Recompute a version's SHA256SUMS and sign it with the project's key: what only the key holder can do."""
    import hashlib
    import hmac

    from conftest import KEYS_HOME

    key = (KEYS_HOME / "lowops" / "keys" / f"{project}.key").read_bytes().strip()
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(folder.iterdir())
                   if p.name not in ("SHA256SUMS", "SIGNATURE")).encode()
    (folder / "SHA256SUMS").write_bytes(sums)
    (folder / "SIGNATURE").write_text(json.dumps({"key": hashlib.sha256(key).hexdigest()[:16],
                                                  "sha256sums_hmac": hmac.new(key, sums, "sha256").hexdigest()}))


def lock_free(repo: Path) -> bool:
    """No process holds the repository lock."""
    from lowops.io.lock import holder_if_locked

    return holder_if_locked(repo) is None


def failed_ledgers(repo: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    return [json.loads((repo / name).read_text()) for name in names]


def assert_unchanged(repo: Path, before: dict[str, str], *, failed_runs: int = 0, message: str | None = None) -> None:
    """Nothing changed but appended event-log lines (and ``failed_runs`` new ledgers recording the failure).

    A run that fails keeps the record of its failure: ``runs/<run>.json`` with
    ``status: failed`` and the error, like a log line. Nothing else may appear:
    no data version, output, model, pointer or metric.
    """
    diff = changes(before, snapshot(repo))
    ledgers = [p for p in diff.get("added", []) if p.startswith("runs/r") and p.endswith(".json")]
    rest = {k: [p for p in v if p not in ledgers and p != "runs/"] for k, v in diff.items()}
    rest = {k: v for k, v in rest.items() if v}
    assert rest == {}, rest
    assert len(ledgers) == failed_runs, ledgers
    for record in failed_ledgers(repo, ledgers):
        assert record["status"] == "failed", record
        if message is not None:
            assert message in record["message"], record["message"]


def last_log_lines(repo: Path, before: dict[str, str]) -> list[str]:
    """The event-log lines appended since ``before``."""
    old = before.get(LOG, "")
    path = repo / LOG
    new = path.read_text(encoding="utf-8") if path.is_file() else ""
    return new[len(old):].splitlines()


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in result.stderr, result.output


# --------------------------------------------------------------------------- the demo store


def store_exec(project: Path, *statements: str, params: Sequence[Any] = ()) -> None:
    with sqlite3.connect(project / "demo" / "store.sqlite") as conn:
        for statement in statements:
            conn.execute(statement, params)


def store_schema(project: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project / "demo" / "store.sqlite") as conn:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def april_ids(project: Path, n: int) -> list[int]:
    """The first ``n`` customer ids of the 2025-04 window."""
    with sqlite3.connect(project / "demo" / "store.sqlite") as conn:
        return [r[0] for r in conn.execute(
            "SELECT customer_id FROM customer_profile WHERE month >= '2025-04-01' AND month < '2025-05-01' "
            "ORDER BY customer_id LIMIT ?", (n,))]


# --------------------------------------------------------------------------- processes


def lowops_cmd(project: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "lowops"), "-C", str(project), *args]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a lowops child process: one thread per library, no inherited faults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWOPS_")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.update(extra)
    return env


# --------------------------------------------------------------------------- forked lowops processes
#
# A lowops child started from a fork server that has already imported lowops, pandas,
# scikit-learn and pyarrow: a real process (its own pid, its own lock descriptor, killed
# by a real SIGKILL) without paying ~3 s of imports per start. Tests that are about the
# installed script itself start it with subprocess instead.

_PRELOAD = ["lowops.cli", "lowops.commands.run", "lowops.stages.train", "lowops.stages.score",
            "lowops.stages.evaluate", "lowops.lifecycle.retrain", "lowops.stages.monitor",
            "pandas", "pyarrow.parquet", "pyarrow.csv", "sklearn.linear_model", "sklearn.pipeline",
            "sklearn.compose", "sklearn.inspection", "matplotlib.pyplot", "joblib", "skops.io", "sqlalchemy"]
_SERVER: list[Any] = []


def _context() -> Any:
    import multiprocessing

    if not _SERVER:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        _SERVER.append(ctx)
    return _SERVER[0]


def _child(argv: list[str], env: dict[str, str], out: str, barrier: Any = None) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    for name in [k for k in os.environ if k.startswith("LOWOPS_")]:
        del os.environ[name]
    os.environ.update(env)
    import signal as _signal

    from lowops.cli import _terminate, cli

    _signal.signal(_signal.SIGTERM, _terminate)
    if barrier is not None:
        barrier.wait()
    code = 0
    try:
        cli.main(args=argv, prog_name="lowops", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _call(function: str, args: tuple[Any, ...], out: str, barrier: Any = None) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    for name in [k for k in os.environ if k.startswith("LOWOPS_")]:
        del os.environ[name]
    if barrier is not None:
        barrier.wait()
    code = 0
    try:
        globals()[function](*args)
    except BaseException:  # noqa: BLE001 - reported through the output file and the exit code
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class Forked:
    """A lowops command in a forked process: ``start()``, then ``wait()`` or ``kill()``.

    ``call=NAME`` runs the function NAME of this module with ``args`` instead of the CLI.
    """

    def __init__(self, project: Path | None, *args: Any, out: Path, barrier: Any = None, call: str | None = None,
                 **env: str) -> None:
        self.out = out
        if call is not None:
            self.process = _context().Process(target=_call, args=(call, args, str(out), barrier), daemon=True)
        else:
            self.process = _context().Process(
                target=_child, args=(["-C", str(project), *args], dict(env), str(out), barrier), daemon=True)

    def start(self) -> Forked:
        self.process.start()
        return self

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def wait(self, timeout: float = PATIENCE) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(10)
            raise AssertionError(f"lowops did not finish within {timeout}s: {self.output()}")
        return int(self.process.exitcode)

    def kill(self) -> None:
        self.process.kill()

    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""


def barrier(parties: int) -> Any:
    """A barrier the forked processes can share (they start from the same fork server)."""
    return _context().Barrier(parties)


def forked(project: Path, *args: str, out: Path, timeout: float = PATIENCE, **env: str) -> tuple[int, str]:
    """Run a lowops command in a forked process; its exit code (-9: SIGKILL) and output."""
    child = Forked(project, *args, out=out, **env).start()
    code = child.wait(timeout)
    return code, child.output()


# --------------------------------------------------------------------------- outcomes


def outcome(project: Path) -> dict[str, Any]:
    """What a backfill leaves that must not depend on interruptions.

    Predictions per window (one file each; content without run id and time),
    metric lines (without time and run id), model versions and the deploy slots.
    """
    import pandas as pd

    root = project / "repo"
    predictions = {}
    for folder in sorted((root / "outputs").iterdir()) if (root / "outputs").is_dir() else []:
        files = sorted(folder.glob("predictions-*.csv"))
        assert len(files) == 1, files
        frame = pd.read_csv(files[0]).drop(columns=["run_id", "scored_at"])
        predictions[folder.name] = frame.sort_values("customer_id").reset_index(drop=True)
    metrics = []
    path = root / "logs" / "metrics.log"
    for line in path.read_text().splitlines() if path.is_file() else []:
        _time, window, model, version, metric, value, rows, _run = line.split(" ")
        metrics.append((window, model, version, metric, value, rows))
    pointer = json.loads((root / "deploy" / "churn.json").read_text())
    slots = {slot: (content or {}).get("version") for slot, content in pointer["slots"].items()}
    versions = sorted(p.name for p in (root / "models" / "churn").iterdir() if p.is_dir())
    return {"predictions": predictions, "metrics": metrics, "live": pointer["live"], "slots": slots,
            "versions": versions}


def assert_same_outcome(got: dict[str, Any], want: dict[str, Any]) -> None:
    import numpy as np
    import pandas as pd

    assert got["live"] == want["live"] and got["slots"] == want["slots"], (got["slots"], want["slots"])
    assert got["versions"] == want["versions"]
    assert len(got["metrics"]) == len(set(got["metrics"])), "duplicate metric lines"
    assert sorted(got["metrics"]) == sorted(want["metrics"])
    assert sorted(got["predictions"]) == sorted(want["predictions"])
    for window, frame in want["predictions"].items():
        other = got["predictions"][window]
        assert list(other.columns) == list(frame.columns)
        assert np.allclose(other["score"], frame["score"], rtol=1e-9, atol=1e-12, equal_nan=True), window
        pd.testing.assert_frame_equal(other.drop(columns=["score"]), frame.drop(columns=["score"]))


# --------------------------------------------------------------------------- concurrent actors (forked)


def score_loop(project: str, stop: str, report: str, min_loads: int = 1) -> None:
    """Load the live model and score a few rows, again and again, until ``stop`` exists (no lock)."""
    import numpy as np
    import pyarrow.parquet as pq

    from lowops.io import snapshots
    from lowops.model.predict import model_input

    ctx = open_context(Path(project))
    rows = pq.read_table(snapshots.latest(ctx.repo, "2025-03", "features", ctx.name).file).slice(0, 20).to_batches()[0]
    loads, failures, seen = 0, [], {}
    while not Path(stop).exists() or loads < min_loads:
        try:
            model, card, slot = ctx.load_live()
            scores = model.predict_proba(model_input(rows, card.schema))[:, 1]
            assert np.isfinite(scores).all() and len(scores) == 20
            seen[card.version] = seen.get(card.version, 0) + 1
            loads += 1
        except Exception as exc:  # noqa: BLE001 - every failed load is the finding
            failures.append(f"{type(exc).__name__}: {exc}")
    Path(report).write_text(json.dumps({"loads": loads, "failures": failures, "seen": seen}))


def rollback_loop(project: str, flips: int, stop: str) -> None:
    """``lowops rollback`` ``flips`` times in a row (each takes the lock, switches, audits), then ``stop``."""
    from lowops.commands.promote import rollback

    ctx = open_context(Path(project))
    try:
        for flip in range(flips):
            rollback(ctx, by="chaos", reason=f"flip {flip}")
    finally:
        Path(stop).touch()


def hold_lock_and_spawn(repo: str, pid_file: str) -> None:
    """Take the repository lock, start a long-lived child that inherits every descriptor it can, wait."""
    import time

    from lowops.io.lock import repository_lock

    with repository_lock(Path(repo), command="lowops run --window 2025-04"):
        child = subprocess.Popen(["sleep", str(PATIENCE)], close_fds=False)  # the test kills both
        Path(pid_file).write_text(str(child.pid))
        time.sleep(PATIENCE)
