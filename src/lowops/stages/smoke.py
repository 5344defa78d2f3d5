"""The smoke test: the gate before every switch, and ``lowops smoke [VERSION]``.

A version passes when its files' digests verify, it loads, it scores a golden
sample with outputs in range and no NaN, it rejects bad input cleanly (a
missing column, a wrong dtype, an empty frame: each a ``DataError``, exit
65), and it stays within the latency and peak-memory budgets of the config.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lowops.errors import DataError, LowopsError
from lowops.io import registry, snapshots
from lowops.io.db import read_sql_file
from lowops.stages import modeling
from lowops.stages.context import Context
from lowops.windows import Window


class SmokeTestFailed(DataError):
    """A version failed its smoke test; the message names the check and why."""


@dataclass
class SmokeReport:
    """The checks run on one version and how each went."""

    version: str
    window: str | None
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c["ok"]]
        return "; ".join(f"{c['check']}: {c['detail']}" for c in failed) if failed else "all checks passed"

    def add(self, check: str, ok: bool, detail: str) -> bool:
        self.checks.append({"check": check, "ok": ok, "detail": detail})
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "window": self.window, "ok": self.ok, "reason": self.reason,
                "checks": self.checks}


def score_frame(model: Any, meta: dict[str, Any], frame: pd.DataFrame, where: str) -> np.ndarray:
    """Score an in-memory frame through the same checks as ``lowops score``.

    Raises:
        DataError: the frame is empty, lacks a column of the contract, or holds text in a numeric column.
    """
    if frame.empty:
        raise DataError(f"{where}: the frame holds no rows; nothing to score.")
    contract = meta["schema"]
    modeling.check_contract(frame, contract, where)
    columns = [c["name"] for c in contract["columns"]]
    categorical = [c["name"] for c in contract["columns"] if c["kind"] == "categorical"]
    x = modeling.prepare_categoricals(frame[columns], categorical)
    for c in contract["columns"]:
        if c["kind"] == "numeric" and not pd.api.types.is_numeric_dtype(x[c["name"]].dtype):
            x[c["name"]] = pd.to_numeric(x[c["name"]], errors="coerce")
    if meta["task"] == "classification":
        return np.asarray(model.predict_proba(x)[:, 1], dtype=float)
    return np.asarray(model.predict(x), dtype=float)


def golden_sample(ctx: Context, meta: dict[str, Any], window: Window | None) -> pd.DataFrame:
    """The golden rows: from ``smoke.golden_sql`` for the window, or the version's own hold-out snapshot."""
    cfg = ctx.config.smoke
    if cfg.golden == "holdout":
        lineage = meta["lineage"]
        wanted = lineage["data"][-1]
        found = [s for s in snapshots.versions(ctx.repo, wanted["window"], "features")
                 if s.version == wanted["features"]]
        if not found:
            raise DataError(f"The hold-out snapshot {wanted['window']}/{wanted['features']} of "
                            f"{meta['version']} is missing from {ctx.repo / 'data'}.")
        return snapshots.load(found[0]).head(cfg.sample_rows).reset_index(drop=True)
    if window is None:
        window = ctx.window(meta["lineage"]["holdout_window"])
    sql = read_sql_file(ctx.project.path(cfg.golden_sql), "smoke.golden_sql")
    frame = ctx.db.read_frame(sql, window, ctx.config.compute.chunk_rows)
    return frame.head(cfg.sample_rows).reset_index(drop=True)


def _negative(report: SmokeReport, check: str, model: Any, meta: dict[str, Any], frame: pd.DataFrame,
              what: str) -> None:
    try:
        score_frame(model, meta, frame, f"smoke test ({check})")
    except DataError as exc:
        report.add(check, exc.exit_code == 65, f"rejected cleanly (exit {exc.exit_code}): {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - the point of the check: anything but a DataError fails it
        report.add(check, False, f"{what} crashed the scorer ({type(exc).__name__}: {exc}) instead of "
                   "being rejected as bad data")
        return
    report.add(check, False, f"{what} was scored instead of being rejected")


def smoke_test(ctx: Context, version: str, window: Window | None = None) -> SmokeReport:
    """Run every check on ``version``; a failed check never raises, it is reported.

    Args:
        ctx: the command's context.
        version: the version to test.
        window: the window whose golden rows to score (default: the version's hold-out window).

    Returns:
        The report: ``ok`` and one line per check.

    Raises:
        UnknownVersionError: no such version.
    """
    cfg = ctx.config.smoke
    name = ctx.config.model.name
    registry.check_version(ctx.repo, name, version)
    report = SmokeReport(version, window.label if window else None)
    problems = registry.verify_version(ctx.repo, name, version)
    if not report.add("digest", not problems, "; ".join(problems) or "SHA256SUMS and model digest match"):
        return report
    tracemalloc.start()
    try:
        try:
            model, meta = registry.load_model(ctx.repo, name, version)
        except LowopsError as exc:
            report.add("load", False, str(exc))
            return report
        except Exception as exc:  # noqa: BLE001 - a model that cannot load fails the test, whatever the cause
            report.add("load", False, f"{type(exc).__name__}: {exc}")
            return report
        report.add("load", True, f"{meta['estimator']['class']} ({meta['artifact']['bytes']} bytes)")
        try:
            golden = golden_sample(ctx, meta, window)
        except LowopsError as exc:
            report.add("golden sample", False, str(exc))
            return report
        if golden.empty:
            report.add("golden sample", False, "the golden sample holds no rows "
                       f"({cfg.golden_sql if cfg.golden == 'sql' else 'hold-out snapshot'})")
            return report
        try:
            scores = score_frame(model, meta, golden, "smoke test (golden sample)")
        except DataError as exc:
            report.add("golden sample", False, f"the model cannot score it: {exc}")
            return report
        except Exception as exc:  # noqa: BLE001 - any failure to score the golden rows fails the test
            report.add("golden sample", False, f"the model cannot score it: {type(exc).__name__}: {exc}")
            return report
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    report.add("golden sample", True, f"{len(golden)} rows scored")
    best = float("inf")
    for _ in range(3):  # timed outside tracemalloc, whose bookkeeping slows every allocation
        started = time.perf_counter()
        score_frame(model, meta, golden, "smoke test (latency)")
        best = min(best, time.perf_counter() - started)
    _outputs(report, meta["task"], scores, cfg.output_min, cfg.output_max)

    first = meta["schema"]["columns"][0]["name"]
    _negative(report, "missing column", model, meta, golden.drop(columns=[first]), f"a frame without '{first}'")
    numeric = [c["name"] for c in meta["schema"]["columns"] if c["kind"] == "numeric"]
    if numeric:
        wrong = golden.copy()
        wrong[numeric[0]] = "N/A"
        _negative(report, "wrong dtype", model, meta, wrong, f"text in the numeric column '{numeric[0]}'")
    _negative(report, "empty frame", model, meta, golden.iloc[0:0], "an empty frame")

    per_1000 = best * 1000 / len(golden) * 1000
    report.add("latency", per_1000 <= cfg.max_ms_per_1000_rows,
               f"{per_1000:.1f} ms per 1000 rows (budget {cfg.max_ms_per_1000_rows:g})")
    peak_mb = peak / 1024 / 1024
    report.add("memory", peak_mb <= cfg.max_memory_mb,
               f"peak {peak_mb:.1f} MB while loading and scoring (budget {cfg.max_memory_mb:g})")
    return report


def _outputs(report: SmokeReport, task: str, scores: np.ndarray, low: float | None, high: float | None) -> None:
    nan = int(np.isnan(scores).sum())
    if nan:
        report.add("outputs", False, f"{nan} NaN score(s)")
        return
    if task == "classification":
        low, high = 0.0, 1.0
    bad = int(((scores < low) if low is not None else np.zeros(len(scores), bool)).sum()
              + ((scores > high) if high is not None else np.zeros(len(scores), bool)).sum())
    if not np.isfinite(scores).all():
        report.add("outputs", False, "infinite score(s)")
    elif bad:
        report.add("outputs", False, f"{bad} score(s) outside [{low}, {high}]")
    else:
        report.add("outputs", True, f"in range [{scores.min():.4f}, {scores.max():.4f}], no NaN")
