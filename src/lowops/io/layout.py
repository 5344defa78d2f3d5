"""Where everything lives under ``repo/``: the one module that spells a repository path.

::

    repo/
      .lock                                 one writer at a time (io/lock.py)
      data/<window>/<kind>-<digest>/        a data version: <kind>.parquet, manifest.json (last)
      data/<window>/<kind>.<model>.latest.json  the version the model's latest extract produced or found
      models/<name>/vNNNN/                  model.skops (model.joblib before skops), model.json, metrics.txt,
                                            plots, reference.json, reference_sample.parquet, SHA256SUMS,
                                            SIGNATURE (last)
      models/<name>/vNNNN.status            the version's life after registration (append-only)
      deploy/<name>.json                    the blue and green slots, which is live, every switch
      outputs/<window>/predictions-<run>.csv, slots-<run>.csv
      monitoring/<window>/                  data_drift.csv, impact.csv, model_drift.txt, verdict.json,
                                            sweetviz_compare.html, decision.txt (decision-<run>.txt after it)
      monitoring/<window>/recheck-<run>/    a later re-check of the window (``lowops drift``), beside the record
      monitoring/<window>/estimated/        model_drift.txt and verdict.json as first written, before late labels
      runs/<run>.json                       one run's ledger
      logs/lowops.log, logs/metrics.log     events and metrics, one line each (logs/pipelines/: the shell's)
      audit.log, audit.head                 the hash-chained audit trail and its head
      reports/index.html                    the dashboard
      .tmp-gc-<run>/                        what ``lowops gc`` run <run> is removing (renamed here first, then deleted)

Everything else asks this module for a path, so a change of layout is a change here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lowops.errors import ConfigError

LOCK_FILE = ".lock"
# Taken by Sweetviz report builders only (one at a time), never by a run.
SWEETVIZ_LOCK_FILE = ".sweetviz.lock"
AUDIT_LOG_FILE = "audit.log"
AUDIT_HEAD_FILE = "audit.head"

# Inside a model version directory.
MODEL_FILE = "model.skops"  # what every new version is saved as (io/model_files.py)
JOBLIB_FILE = "model.joblib"  # a pickle: versions registered before skops, still loaded when signed
MODEL_FILES = (MODEL_FILE, JOBLIB_FILE)
CARD_FILE = "model.json"
SUMS_FILE = "SHA256SUMS"
SIGNATURE_FILE = "SIGNATURE"
METRICS_FILE = "metrics.txt"
REFERENCE_FILE = "reference.json"
SAMPLE_FILE = "reference_sample.parquet"
DLE_FILE = "dle.skops"  # a regressor's loss models, for direct loss estimation (monitoring/dle.py)

# Inside a data version directory.
MANIFEST_FILE = "manifest.json"

# Inside monitoring/<window>/.
DATA_DRIFT_FILE = "data_drift.csv"
IMPACT_FILE = "impact.csv"
MODEL_DRIFT_FILE = "model_drift.txt"
VERDICT_FILE = "verdict.json"
SWEETVIZ_FILE = "sweetviz_compare.html"
MONITORING_FILES = (DATA_DRIFT_FILE, IMPACT_FILE, MODEL_DRIFT_FILE, VERDICT_FILE)
DECISION_FILE = "decision.txt"
ESTIMATED_DIR = "estimated"
_DECISION = re.compile(r"^decision(-r\d+)?\.txt$")

_VERSION = re.compile(r"^v([0-9]{4,6})\Z")
_RUN_FILE = re.compile(r"^r(\d{6,})\.json$")
# A window label is one of the five grains' forms; anything else in monitoring/ is not a window.
_WINDOW = re.compile(r"^\d{4}(-(Q[1-4]|W\d{2}|\d{2}(-\d{2})?))?$")


def lock_file(repo: Path) -> Path:
    return repo / LOCK_FILE


def sweetviz_lock_file(repo: Path) -> Path:
    return repo / SWEETVIZ_LOCK_FILE


def is_window(name: str) -> bool:
    """Whether ``name`` has the form of a window label (any of the five grains)."""
    return _WINDOW.match(name) is not None


# --------------------------------------------------------------------------- data versions


def data_root(repo: Path) -> Path:
    return repo / "data"


def window_data(repo: Path, window: str) -> Path:
    """``data/<window>/``: every data version of one window."""
    return data_root(repo) / window


def snapshot_file(kind: str) -> str:
    """The Parquet file's name inside a data version of ``kind``."""
    return f"{kind}.parquet"


def data_pointer(repo: Path, window: str, kind: str, model: str) -> Path:
    """``data/<window>/<kind>.<model>.latest.json``: one per model, since models sharing a repository
    never share data versions."""
    return window_data(repo, window) / f"{kind}.{model}.latest.json"


def data_pointers(repo: Path, window: str) -> list[Path]:
    """Every latest-extract pointer of a window, ``<kind>.latest.json`` of older repositories included."""
    base = window_data(repo, window)
    return sorted(p for p in base.glob("*.latest.json") if p.is_file()) if base.is_dir() else []


# --------------------------------------------------------------------------- models


def models_root(repo: Path) -> Path:
    return repo / "models"


def model_dir(repo: Path, name: str) -> Path:
    """``models/<name>``, refusing a name that would lead anywhere else.

    Raises:
        ConfigError: the name resolves outside ``models/`` (config validation refuses such names first).
    """
    models = models_root(repo)
    path = models / name
    if not name or path.parent != models or not path.resolve().is_relative_to(models.resolve()):
        raise ConfigError(f"The model name {name!r} does not name a directory inside {models}; use letters, "
                          "digits, '_' or '-'.")
    return path


def is_version(name: str) -> bool:
    """Whether ``name`` has the form of a version id (``v0001``)."""
    return _VERSION.match(name) is not None


def version_number(version: str) -> int:
    return int(version[1:])


def version_name(number: int) -> str:
    return f"v{number:04d}"


def version_dir(repo: Path, name: str, version: str) -> Path:
    return model_dir(repo, name) / version


def labels_file(repo: Path, name: str) -> Path:
    """``models/<name>/labels.json``: the aliases, tags and descriptions of the model's versions."""
    return model_dir(repo, name) / "labels.json"


def status_file(repo: Path, name: str, version: str) -> Path:
    """``models/<name>/<version>.status``, beside the immutable version."""
    return model_dir(repo, name) / f"{version}.status"


# --------------------------------------------------------------------------- deploy, outputs, monitoring


def deploy_pointer(repo: Path, name: str) -> Path:
    """``deploy/<name>.json``."""
    return repo / "deploy" / f"{name}.json"


def outputs_dir(repo: Path, window: str) -> Path:
    return repo / "outputs" / window


def predictions_file(repo: Path, window: str, run_id: str) -> Path:
    return outputs_dir(repo, window) / f"predictions-{run_id}.csv"


def predictions_files(repo: Path, window: str) -> list[Path]:
    """A window's predictions files, oldest run first (run ids sort in time order)."""
    folder = outputs_dir(repo, window)
    return sorted(folder.glob("predictions-r*.csv")) if folder.is_dir() else []


def predictions_run(path: Path) -> str:
    """The run id in a predictions file's name."""
    return path.stem.removeprefix("predictions-")


def slots_file(repo: Path, window: str, run_id: str) -> Path:
    return outputs_dir(repo, window) / f"slots-{run_id}.csv"


def monitoring_root(repo: Path) -> Path:
    return repo / "monitoring"


def monitoring_dir(repo: Path, window: str) -> Path:
    return monitoring_root(repo) / window


def monitoring_windows(repo: Path) -> list[Path]:
    """Every ``monitoring/<window>/`` directory, oldest window first."""
    base = monitoring_root(repo)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and _WINDOW.match(p.name))


def recheck_dir(repo: Path, window: str, run_id: str) -> Path:
    """``monitoring/<window>/recheck-<run>/``: where a re-check of an already monitored window writes."""
    return monitoring_dir(repo, window) / f"recheck-{run_id}"


def estimated_dir(repo: Path, window: str) -> Path:
    """``monitoring/<window>/estimated/``: the window's model drift as judged before its late labels arrived."""
    return monitoring_dir(repo, window) / ESTIMATED_DIR


def decision_file(repo: Path, window: str, run_id: str) -> Path:
    """Where a comparison at ``window`` writes its decision: ``decision.txt``, or, when a
    decision was written there already, ``decision-<run>.txt`` beside it (nothing is overwritten)."""
    first = monitoring_dir(repo, window) / DECISION_FILE
    return first if not first.exists() else first.with_name(f"decision-{run_id}.txt")


def decision_files(folder: Path) -> list[Path]:
    """The decision files of one ``monitoring/<window>/``, in the order they were written."""
    return sorted((p for p in folder.iterdir() if _DECISION.match(p.name)), key=lambda p: (len(p.name), p.name))


# --------------------------------------------------------------------------- runs, logs, audit, report


def runs_dir(repo: Path) -> Path:
    return repo / "runs"


def run_file(repo: Path, run_id: str) -> Path:
    return runs_dir(repo) / f"{run_id}.json"


def run_files(repo: Path) -> Iterator[tuple[int, Path]]:
    """Every run ledger with its number, in no particular order."""
    folder = runs_dir(repo)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if match := _RUN_FILE.match(path.name):
            yield int(match.group(1)), path


def run_name(number: int) -> str:
    return f"r{number:06d}"


def event_log(repo: Path) -> Path:
    return repo / "logs" / "lowops.log"


def metrics_log(repo: Path) -> Path:
    return repo / "logs" / "metrics.log"


def audit_log(repo: Path) -> Path:
    return repo / AUDIT_LOG_FILE


def audit_head(repo: Path) -> Path:
    return repo / AUDIT_HEAD_FILE


def window_labels(repo: Path) -> list[str]:
    """Every window the repository holds anything of (data, outputs or monitoring), in label order."""
    found: set[str] = set()
    for base in (data_root(repo), repo / "outputs", monitoring_root(repo)):
        if base.is_dir():
            found.update(p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink() and is_window(p.name))
    return sorted(found)


def trash_dir(repo: Path, run_id: str) -> Path:
    """``.tmp-gc-<run>/``: where ``lowops gc`` renames what it removes before deleting it (a leftover
    of an interrupted gc carries the temp prefix, so ``lowops verify`` lists it and ``--repair`` removes it)."""
    return repo / f".tmp-gc-{run_id}"


def trash_dirs(repo: Path) -> list[Path]:
    """Every ``.tmp-gc-*`` directory an earlier gc left behind."""
    return sorted(p for p in repo.glob(".tmp-gc-*") if p.is_dir() and not p.is_symlink()) if repo.is_dir() else []


def report_file(repo: Path) -> Path:
    return repo / "reports" / "index.html"


def fixed_paths(repo: Path) -> list[Path]:
    """Every path lowops writes whose name does not depend on a window, model or run (none may be a link)."""
    return [lock_file(repo), sweetviz_lock_file(repo), data_root(repo), models_root(repo), repo / "deploy", repo / "outputs",
            monitoring_root(repo), runs_dir(repo), repo / "logs", event_log(repo), metrics_log(repo),
            audit_log(repo), audit_head(repo), repo / "reports"]
