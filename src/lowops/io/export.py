"""Metrics where a team already looks: a Prometheus textfile and a SQL table.

``export.prometheus_textfile: PATH`` is rewritten (atomically: node_exporter's textfile
collector must never read half a file) at the end of every run of a writing command,
successful or not. It holds the latest monitored window's figures from logs/metrics.log,
the live version as a label, the last successful run's time and this run's duration.

``export.sql_table: NAME`` appends the metric lines a run logged to a table of the
project's own database (created when missing), one row per line of metrics.log.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lowops import secrets
from lowops.io.files import write_text
from lowops.io.runs import RunRecord

# metrics.log name prefix -> the "source" label of lowops_kpi.
_KPI_SOURCES = {"": "realised", "kpi.": "monitored", "cbpe.": "estimated", "dle.": "estimated", "static.": "static"}
_HELP = {
    "lowops_kpi": "KPI of the model at the window (source: realised on labels, estimated without them, "
                  "monitored as the model-drift verdict judged it, static for the version first live)",
    "lowops_drift_statistic": "per-feature drift statistic of the window against the reference",
    "lowops_feature_impact": "importance-weighted impact of each feature's drift",
    "lowops_drift_that_matters": "1 when the window's drift matters to the model",
    "lowops_model_drift": "1 when the window shows model drift",
    "lowops_prediction_psi": "PSI of the score distribution against the reference",
    "lowops_live_version": "1 for the version in the live slot",
    "lowops_last_success_timestamp_seconds": "end of the last run that finished (done or empty)",
    "lowops_run_duration_seconds": "wall time of the latest run of a writing command",
    "lowops_run_success": "1 when the latest run finished, 0 when it failed or was interrupted",
}


def _label(value: object) -> str:
    """A label value as the exposition format quotes it."""
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _epoch(stamp: str | None) -> float | None:
    """``2026-12-03T08:45:58Z`` as seconds since the epoch."""
    if not stamp:
        return None
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _window_samples(model: str, rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, str], float]]:
    """The samples of the latest window this model logged, by family."""
    mine = [r for r in rows if r["model"] == model]
    if not mine:
        return []
    window = max(r["window"] for r in mine)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in mine:  # the last line of each metric wins: a later run of the same window replaces it
        if row["window"] == window:
            latest[(row["version"], row["metric"])] = row
    out: list[tuple[str, dict[str, str], float]] = []
    for (version, metric), row in sorted(latest.items()):
        base = {"model": model, "version": version, "window": window}
        parts = metric.split(".")
        value = float(row["value"])
        if metric.startswith("drift.") and len(parts) == 3:
            out.append(("lowops_drift_statistic", {**base, "feature": parts[1], "statistic": parts[2]}, value))
        elif metric.startswith("impact.") and len(parts) == 2:
            out.append(("lowops_feature_impact", {**base, "feature": parts[1]}, value))
        elif metric in ("verdict.drift_that_matters", "verdict.model_drift"):
            out.append((f"lowops_{parts[1]}", base, value))
        elif metric == "prediction.psi":
            out.append(("lowops_prediction_psi", base, value))
        else:
            for prefix, source in _KPI_SOURCES.items():
                name = metric[len(prefix):] if metric.startswith(prefix) else None
                if name and "." not in name:
                    out.append(("lowops_kpi", {**base, "metric": name, "source": source}, value))
                    break
    return out


def prometheus_text(model: str, live: str | None, rows: list[dict[str, Any]], runs: Iterable[RunRecord],
                    latest: RunRecord) -> str:
    """The textfile's contents: every family with its HELP and TYPE, samples in a stable order."""
    samples = _window_samples(model, rows)
    if live is not None:
        samples.append(("lowops_live_version", {"model": model, "version": live}, 1.0))
    finished = [e for r in runs if r.finished and (e := _epoch(r.ended_at)) is not None]
    if finished:
        samples.append(("lowops_last_success_timestamp_seconds", {"model": model}, max(finished)))
    started, ended = _epoch(latest.started_at), _epoch(latest.ended_at)
    labels = {"model": model, "command": latest.command}
    if started is not None and ended is not None:
        samples.append(("lowops_run_duration_seconds", labels, ended - started))
    samples.append(("lowops_run_success", labels, 1.0 if latest.finished else 0.0))
    lines: list[str] = []
    for family, text in _HELP.items():
        found = [(labels_, value) for name, labels_, value in samples if name == family]
        if not found:
            continue
        lines += [f"# HELP {family} {text}", f"# TYPE {family} gauge"]
        lines += [family + "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels_.items()) + "} " + _value(value)
                  for labels_, value in found]
    return "\n".join(lines) + "\n"


def write_prometheus(path: Path, rows: list[dict[str, Any]], model: str, live: str | None, runs: list[RunRecord],
                     latest: RunRecord) -> None:
    """Rewrite the textfile at ``path`` atomically (its folder must exist: node_exporter's)."""
    write_text(path, prometheus_text(model, live, rows, runs, latest), overwrite=True)


def _table(name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(),
                    sa.Column("logged_at", sa.String(32), nullable=False),
                    sa.Column("window_label", sa.String(32), nullable=False),
                    sa.Column("model", sa.String(128), nullable=False),
                    sa.Column("version", sa.String(32), nullable=False),
                    sa.Column("metric", sa.String(255), nullable=False),
                    sa.Column("value", sa.Float, nullable=True),
                    sa.Column("row_count", sa.BigInteger, nullable=False),
                    sa.Column("run_id", sa.String(32), nullable=False))


class ExportError(Exception):
    """The export table could not be written (the message is masked)."""


def append_sql(url: sa.URL, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append metric lines to ``table`` (created when missing); how many rows were written.

    Its own short-lived connection: the extracts' sessions are read-only by design, and
    this is the one write lowops makes to a database.

    Raises:
        ExportError: the server refused (no such privilege, say) or did not answer.
    """
    if not rows:
        return 0
    target = _table(table)
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        target.metadata.create_all(engine, checkfirst=True)
        with engine.begin() as conn:
            conn.execute(sa.insert(target), _values(rows))
    except sa_exc.SQLAlchemyError as exc:
        raise ExportError(secrets.redact(str(getattr(exc, "orig", None) or exc)).splitlines()[0]) from None
    finally:
        engine.dispose()
    return len(rows)


def _values(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"logged_at": r["time"], "window_label": r["window"], "model": r["model"], "version": r["version"],
             "metric": r["metric"], "value": None if math.isnan(r["value"]) else float(r["value"]),
             "row_count": int(r["rows"]), "run_id": r["run"]} for r in rows]


