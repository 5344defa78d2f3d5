"""The smoke test: the gate before every switch, and ``lowops smoke [VERSION]``.

A version passes when its files' digests verify, it loads, it scores a golden
sample with outputs in range and no NaN, it rejects bad input cleanly (a
missing column, a wrong dtype, an empty frame: each a ``DataError``, exit
65), and it stays within the latency and peak-memory budgets of the config:
CPU time per 1,000 rows on one thread (best of five) and the peak of bytes
allocated while loading and scoring, as :mod:`lowops.lifecycle.gates` measures
them, so a busy server gives the answer a quiet one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lowops.context import Context
from lowops.errors import DataError, IntegrityError, LowopsError, SmokeTestFailed
from lowops.io import layout, registry, snapshots
from lowops.lifecycle import gates
from lowops.model.card import ModelCard
from lowops.model.predict import predict_frame
from lowops.windows import Window

__all__ = ["INTEGRITY_CHECKS", "SmokeReport", "SmokeTestFailed", "golden_sample", "smoke_test"]

# A failure of these checks is a tampered or incompatible model: integrity (77), not bad data (65),
# and no --force switches past it.
INTEGRITY_CHECKS = frozenset({"digest", "load"})


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

    @property
    def tampered(self) -> bool:
        """Whether a failed check says the version's files cannot be trusted (or not loaded at all)."""
        return any(not c["ok"] and c["check"] in INTEGRITY_CHECKS for c in self.checks)

    def failure(self, message: str) -> LowopsError:
        """The error a failed report stands for: integrity (77) when tampered, else a failed smoke test (65)."""
        return IntegrityError(message) if self.tampered else SmokeTestFailed(message)

    def add(self, check: str, ok: bool, detail: str) -> bool:
        self.checks.append({"check": check, "ok": ok, "detail": detail})
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "window": self.window, "ok": self.ok, "reason": self.reason,
                "checks": self.checks}


def golden_sample(ctx: Context, card: ModelCard, window: Window | None) -> pd.DataFrame:
    """The golden rows: from ``smoke.golden_sql`` for the window, or the version's own hold-out snapshot."""
    cfg = ctx.config.smoke
    if cfg.golden == "holdout":
        wanted = card.lineage.data[-1]
        found = snapshots.find(ctx.repo, wanted.window, "features", wanted.features)
        if found is None:
            raise DataError(f"The hold-out snapshot {wanted.window}/{wanted.features} of "
                            f"{card.version} is missing from {layout.data_root(ctx.repo)}.")
        return snapshots.load(found).head(cfg.sample_rows).reset_index(drop=True)
    if window is None:
        window = ctx.window(card.lineage.holdout_window)
    frame = ctx.db.read_frame(ctx.golden_sql(), window, ctx.config.compute.chunk_rows)
    return frame.head(cfg.sample_rows).reset_index(drop=True)


def _negative(report: SmokeReport, check: str, model: Any, card: ModelCard, frame: pd.DataFrame,
              what: str) -> None:
    try:
        predict_frame(model, card, frame, f"smoke test ({check})")
    except DataError as exc:
        report.add(check, exc.exit_code == 65, f"rejected cleanly (exit {exc.exit_code}): {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - the point of the check: anything but a DataError fails it
        report.add(check, False, f"{what} crashed the scorer ({type(exc).__name__}: {exc}) instead of "
                   "being rejected as bad data")
        return
    report.add(check, False, f"{what} was scored instead of being rejected")


@dataclass
class _Scored:
    """A version loaded and its golden rows scored (while its allocations were counted)."""

    model: Any
    card: ModelCard
    golden: pd.DataFrame
    scores: np.ndarray
    peak_bytes: int


def _score_golden(ctx: Context, report: SmokeReport, version: str, window: Window | None) -> _Scored | None:
    """Load the version and score the golden sample; None (with the failed check reported) if it cannot."""
    cfg = ctx.config.smoke
    # The loaders' imports (skops imports every scikit-learn estimator) allocate some 80 MB the first time
    # in a process: that is the process's history, not the version's (inside `lowops retrain` they were
    # already done), so they are done before counting, and a cold `lowops smoke` counts what a warm one does.
    import joblib  # noqa: F401
    import skops.io  # noqa: F401

    with gates.allocations() as allocated:
        try:
            model, card = ctx.load_model(version)
        except LowopsError as exc:
            report.add("load", False, str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - a model that cannot load fails the test, whatever the cause
            report.add("load", False, f"{type(exc).__name__}: {exc}")
            return None
        assert card.artifact is not None
        report.add("load", True, f"{card.estimator.class_} ({card.artifact.bytes} bytes)")
        try:
            golden = golden_sample(ctx, card, window)
        except LowopsError as exc:
            report.add("golden sample", False, str(exc))
            return None
        if golden.empty:
            report.add("golden sample", False, "the golden sample holds no rows "
                       f"({cfg.golden_sql if cfg.golden == 'sql' else 'hold-out snapshot'})")
            return None
        try:
            scores = predict_frame(model, card, golden, "smoke test (golden sample)")
        except DataError as exc:
            report.add("golden sample", False, f"the model cannot score it: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - any failure to score the golden rows fails the test
            report.add("golden sample", False, f"the model cannot score it: {type(exc).__name__}: {exc}")
            return None
        peak = allocated.peak
    report.add("golden sample", True, f"{len(golden)} rows scored")
    return _Scored(model, card, golden, scores, peak)


def _negatives(report: SmokeReport, scored: _Scored) -> None:
    """A missing column, text in a numeric column and an empty frame must each be refused as bad data."""
    model, card, golden = scored.model, scored.card, scored.golden
    first = card.schema.names[0]
    _negative(report, "missing column", model, card, golden.drop(columns=[first]), f"a frame without '{first}'")
    numeric = card.schema.numeric
    if numeric:
        wrong = golden.copy()
        wrong[numeric[0]] = "N/A"
        _negative(report, "wrong dtype", model, card, wrong, f"text in the numeric column '{numeric[0]}'")
    _negative(report, "empty frame", model, card, golden.iloc[0:0], "an empty frame")


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
    registry.check_version(ctx.repo, ctx.name, version)
    report = SmokeReport(version, window.label if window else None)
    try:
        registry.check_owned(ctx.repo, ctx.name, version)
        problems = registry.verify_version(ctx.repo, ctx.name, version)
    except IntegrityError as exc:
        problems = [str(exc)]
    if not report.add("digest", not problems, "; ".join(problems) or "signed SHA256SUMS and every digest match"):
        return report
    scored = _score_golden(ctx, report, version, window)
    if scored is None:
        return report
    # timed outside the allocation count, whose bookkeeping slows every allocation
    best = gates.cpu_seconds({version: lambda: predict_frame(scored.model, scored.card, scored.golden,
                                                             "smoke test (latency)")})[version]
    _outputs(report, scored.card.task, scored.scores, cfg.output_min, cfg.output_max)
    _negatives(report, scored)
    per_1000 = gates.ms_per_1000(best, len(scored.golden))
    report.add("latency", per_1000 <= cfg.max_ms_per_1000_rows,
               f"CPU time on one thread, best of {gates.ROUNDS}: {per_1000:.1f} ms per 1000 rows "
               f"(budget {cfg.max_ms_per_1000_rows:g})")
    peak_mb = scored.peak_bytes / 1024 / 1024
    report.add("memory", peak_mb <= cfg.max_memory_mb,
               f"peak {peak_mb:.1f} MB allocated while loading and scoring (budget {cfg.max_memory_mb:g})")
    return report


def _outputs(report: SmokeReport, task: str, scores: np.ndarray, low: float | None, high: float | None) -> None:
    scores = np.ravel(scores)  # a multiclass model's probabilities: every one of them checked
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
