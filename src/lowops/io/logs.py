"""Plain-text logs that grep and awk read, and the run ledger.

``logs/lowops.log`` — one line per event::

    2025-11-28T03:00:01Z r000007 2025-03 score INFO scored 24000 rows ...

    fields: time, run id, window, stage, level, message (the rest of the line)

``logs/metrics.log`` — one line per metric per window per model version::

    2025-11-28T03:00:04Z 2025-03 churn v0001 roc_auc 0.812345 24000 r000007

    fields: time, window, model, version, metric, value, rows, run id
    e.g.  awk '$5 == "roc_auc" {print $2, $4, $6}' repo/logs/metrics.log

Run ledgers (``runs/<run-id>.json``) are :mod:`lowops.io.ledger`'s.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.io import layout
from lowops.io.files import append_line


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field(value: object) -> str:
    text = str(value) if value not in (None, "") else "-"
    return re.sub(r"\s+", "_", text)


class EventLog:
    """Appends events to ``logs/lowops.log`` and echoes warnings to stderr."""

    def __init__(self, repo: Path, run_id: str | None = None, window: str | None = None,
                 echo: bool = False) -> None:
        self.path = layout.event_log(repo)
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
    if (window, model, version, metric) in _logged_by_run(repo, run_id):
        return
    append_line(layout.metrics_log(repo), " ".join([
        utc_now(), _field(window), _field(model), _field(version), _field(metric),
        formatted, str(int(rows)), _field(run_id),
    ]))


# Per metrics file and run: the file's identity, how far it was read, and the metric lines the run
# logged there. A window logs hundreds of lines; each check reads only what was appended since the
# last one, not the whole (ever-growing) log again.
_SEEN: dict[tuple[str, str], tuple[int, int, set[tuple[str, str, str, str]]]] = {}


def _logged_by_run(repo: Path, run_id: str) -> set[tuple[str, str, str, str]]:
    """(window, model, version, metric) of every line run ``run_id`` has in ``logs/metrics.log``."""
    path = layout.metrics_log(repo)
    key = (str(path), run_id)
    try:
        status = path.stat()
    except FileNotFoundError:
        _SEEN.pop(key, None)
        return set()
    inode, offset, keys = _SEEN.get(key, (status.st_ino, 0, set()))
    if inode != status.st_ino or status.st_size < offset:  # replaced or cut (a restore): read it again
        inode, offset, keys = status.st_ino, 0, set()
    if status.st_size > offset:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
        whole = data.rfind(b"\n") + 1  # a line still being written is read next time
        marker = " " + run_id
        text = data[:whole].decode("utf-8", errors="replace")
        lines = [line for line in text.splitlines() if line.endswith(marker)]
        keys |= {(r["window"], r["model"], r["version"], r["metric"]) for r in _parse_metric_lines(lines)}
        offset += whole
    _SEEN[key] = (inode, offset, keys)
    return keys


@dataclass(frozen=True)
class MetricsLog:
    """``logs/metrics.log`` as one run of one model writes it."""

    repo: Path
    model: str
    run_id: str

    def log(self, window: str, version: str, metric: str, value: float, rows: int) -> None:
        log_metric(self.repo, window=window, model=self.model, version=version, metric=metric, value=value,
                   rows=rows, run_id=self.run_id)


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
    path = layout.metrics_log(repo)
    if not path.is_file():
        return []
    return _parse_metric_lines(path.read_text(encoding="utf-8").splitlines())
