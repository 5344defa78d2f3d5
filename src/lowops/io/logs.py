"""Plain-text logs that grep and awk read, and the run ledger.

``logs/lowops.log`` — one line per event::

    2025-11-28T03:00:01Z r000007 2025-03 score INFO scored 24000 rows ...

    fields: time, run id, window, stage, level, message (the rest of the line)

``logs/metrics.log`` — one line per metric per window per model version::

    2025-11-28T03:00:04Z 2025-03 churn v0001 roc_auc 0.812345 24000 r000007

    fields: time, window, model, version, metric, value, rows, run id
    e.g.  awk '$5 == "roc_auc" {print $2, $4, $6}' repo/logs/metrics.log

``runs/<run-id>.json`` — each stage's start, end, status and outputs. Run ids
are sequential (``r000001``…), never derived from the clock.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.io.files import append_line, read_json, write_json

_RUN = re.compile(r"^r(\d{6,})\.json$")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field(value: object) -> str:
    text = str(value) if value not in (None, "") else "-"
    return re.sub(r"\s+", "_", text)


class EventLog:
    """Appends events to ``logs/lowops.log`` and echoes warnings to stderr."""

    def __init__(self, repo: Path, run_id: str | None = None, window: str | None = None,
                 echo: bool = False) -> None:
        self.path = repo / "logs" / "lowops.log"
        self.run_id = run_id
        self.window = window
        self.echo = echo

    def event(self, stage: str, message: str, level: str = "INFO") -> None:
        message = secrets.redact(" ".join(message.split()))
        append_line(self.path, " ".join([
            utc_now(), _field(self.run_id), _field(self.window), _field(stage), level, message,
        ]))
        # Errors reach the user once, through the CLI's own message; warnings here.
        if self.echo or level == "WARN":
            print(f"{level.lower()}: {stage}: {message}" if level != "INFO" else f"{stage}: {message}",
                  file=sys.stderr)


def log_metric(repo: Path, *, window: str, model: str, version: str, metric: str,
               value: float, rows: int, run_id: str) -> None:
    """Append one metric line to ``logs/metrics.log``.

    A line already logged by the same run (a resumed run repeating a stage)
    is not written twice.
    """
    formatted = "nan" if value != value else f"{value:.6f}"
    if any(row["run"] == run_id and row["window"] == window and row["version"] == version
           and row["metric"] == metric and row["model"] == model for row in _metrics_of_run(repo, run_id)):
        return
    append_line(repo / "logs" / "metrics.log", " ".join([
        utc_now(), _field(window), _field(model), _field(version), _field(metric),
        formatted, str(int(rows)), _field(run_id),
    ]))


def _metrics_of_run(repo: Path, run_id: str) -> list[dict[str, Any]]:
    path = repo / "logs" / "metrics.log"
    if not path.is_file():
        return []
    marker = " " + run_id
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle if line.rstrip("\n").endswith(marker)]
    return [row for row in _parse_metric_lines(lines)]


def _parse_metric_lines(lines: list[str]) -> list[dict[str, Any]]:
    rows = []
    for line in lines:
        parts = line.rstrip("\n").split(" ")
        if len(parts) != 8:
            continue
        time, window, model, version, metric, value, count, run = parts
        try:
            rows.append({"time": time, "window": window, "model": model, "version": version,
                         "metric": metric, "value": float(value), "rows": int(count), "run": run})
        except ValueError:
            continue
    return rows


def read_metrics(repo: Path) -> list[dict[str, Any]]:
    """Parse ``logs/metrics.log`` (lines that do not parse are skipped)."""
    path = repo / "logs" / "metrics.log"
    if not path.is_file():
        return []
    return _parse_metric_lines(path.read_text(encoding="utf-8").splitlines())


class Ledger:
    """The JSON record of one run; rewritten whole (atomically) after every stage."""

    def __init__(self, repo: Path, run_id: str, record: dict[str, Any]) -> None:
        self.repo = repo
        self.run_id = run_id
        self.record = record
        self.path = repo / "runs" / f"{run_id}.json"

    @classmethod
    def start(cls, repo: Path, command: str, window: str | None, **extra: Any) -> Ledger:
        run_id = next_run_id(repo)
        record = {
            "run_id": run_id, "command": command, "window": window, "status": "running",
            "started_at": utc_now(), "ended_at": None, "pid": os.getpid(), "stages": [], **extra,
        }
        ledger = cls(repo, run_id, record)
        ledger.save()
        return ledger

    @classmethod
    def resume(cls, repo: Path, record: dict[str, Any]) -> Ledger:
        record = dict(record)
        record["status"] = "running"
        record.setdefault("resumed", []).append({"at": utc_now(), "pid": os.getpid()})
        # Stages that never finished are dropped and run again.
        record["stages"] = [s for s in record.get("stages", []) if s.get("status") == "done"]
        ledger = cls(repo, record["run_id"], record)
        ledger.save()
        return ledger

    def save(self) -> None:
        write_json(self.path, self.record, overwrite=True)

    def stage_start(self, name: str) -> None:
        self.record["stages"].append({"name": name, "status": "running", "started_at": utc_now(),
                                      "ended_at": None, "outputs": {}})
        self.save()

    def stage_end(self, name: str, status: str = "done", **outputs: Any) -> None:
        stage = next(s for s in reversed(self.record["stages"]) if s["name"] == name)
        stage.update(status=status, ended_at=utc_now())
        stage["outputs"].update(outputs)
        self.save()

    def done(self, name: str) -> dict[str, Any] | None:
        """The outputs of stage ``name`` if this run finished it (before an interruption, say)."""
        return next((s["outputs"] for s in reversed(self.record["stages"])
                     if s["name"] == name and s["status"] == "done"), None)

    def finish(self, status: str, message: str | None = None) -> None:
        self.record.update(status=status, ended_at=utc_now())
        if message:
            self.record["message"] = secrets.redact(message)
        self.save()


def next_run_id(repo: Path) -> str:
    runs = repo / "runs"
    numbers = [int(m.group(1)) for p in runs.iterdir() if (m := _RUN.match(p.name))] if runs.is_dir() else []
    return f"r{(max(numbers) + 1 if numbers else 1):06d}"


def read_runs(repo: Path) -> list[dict[str, Any]]:
    """Every run ledger, oldest first."""
    runs = repo / "runs"
    if not runs.is_dir():
        return []
    found = sorted((int(m.group(1)), p) for p in runs.iterdir() if (m := _RUN.match(p.name)))
    return [read_json(p) for _, p in found]
