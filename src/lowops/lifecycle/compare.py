"""Champion against challengers: several generations of a model on the same hold-out rows.

The new version, the live one and the versions live at T-1 and T-2 score the
same labelled rows. The primary metric decides, but the live version keeps
its place unless a challenger beats it by ``compare.min_improvement`` *and*
the paired bootstrap confidence interval of the difference (the same
resampled rows for both models) excludes zero. Guardrail metrics may not get
worse beyond their tolerance; a challenger slower per 1,000 rows than the
incumbent beyond ``compare.resource_margin`` (CPU time on one thread, see
:mod:`lowops.lifecycle.gates`), or whose model file is larger than
``compare.max_model_mb``, is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from functools import partial

import numpy as np
import pandas as pd

from lowops.context import Context
from lowops.errors import DataError
from lowops.io import snapshots
from lowops.lifecycle import gates
from lowops.model import metrics as metric_fns
from lowops.model.bootstrap import metric_under, resample_weights
from lowops.model.card import ModelCard
from lowops.model.holdout import HoldoutRule
from lowops.model.predict import predict_frame
from lowops.stages.extract import current


@dataclass
class Candidate:
    """One version on the hold-out: its roles, KPIs and resource use."""

    version: str
    roles: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    ms_per_1000: float = 0.0
    bytes: int = 0
    threshold: float = 0.5
    scores: np.ndarray | None = None
    delta: float | None = None
    ci: tuple[float, float] | None = None
    verdict: str = ""


@dataclass
class Decision:
    """What the comparison concluded, and why."""

    window: str
    holdout: str
    rows: int
    primary: str
    incumbent: str
    winner: str
    reason: str
    candidates: list[Candidate]
    excluded: list[str] = field(default_factory=list)

    @property
    def change(self) -> bool:
        return self.winner != self.incumbent


def holdout_rows(ctx: Context, window: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The hold-out rows of a window: its held-out entities' features joined with their labels.

    Raises:
        DataError: the window has no features or no labels stored.
    """
    key, target = ctx.config.entity_key, ctx.config.labels.target
    feats = current(ctx, ctx.window(window), "features")
    labels = current(ctx, ctx.window(window), "labels")
    if feats is None or labels is None:
        raise DataError(f"The hold-out window {window} has no {'features' if feats is None else 'labels'} "
                        "snapshot; run `lowops extract --window " + window + "` first.")
    frame = snapshots.load(feats).merge(snapshots.load(labels), on=key, how="inner")
    frame = frame[frame[target].notna()]
    frame = frame[HoldoutRule(ctx.config.train.holdout_share).held_out(frame[key].to_numpy())]
    frame = frame.reset_index(drop=True)
    return frame, frame[target].to_numpy()


@dataclass(frozen=True)
class Unseen:
    """The hold-out rows no compared version trained on, and the versions left out because they did."""

    frame: pd.DataFrame
    y: np.ndarray
    roles: dict[str, list[str]]
    excluded: list[str]


def unseen_rows(ctx: Context, window: str, cards: dict[str, ModelCard], roles: dict[str, list[str]],
                frame: pd.DataFrame, y: np.ndarray, *, new: str, incumbent: str) -> Unseen:
    """Keep the comparison off rows a candidate learnt (versions trained under another hold-out rule).

    The new and the live version are compared on the hold-out rows neither trained
    on; a T-1 or T-2 version that trained on any of those rows is left out and
    named, never scored on its own training data.

    Raises:
        DataError: the new or the live version trained on every hold-out row.
    """
    keys = frame[ctx.config.entity_key].to_numpy()
    seen = {version: cards[version].lineage.trained_on(window, keys) for version in roles}
    keep = ~(seen[new] | seen[incumbent])
    if not keep.any():
        raise DataError(f"Every hold-out row of {window} was in the training data of "
                        f"{new if seen[new].all() else incumbent}: no honest comparison there. Retrain at a "
                        "later window (`lowops retrain --window W`), whose rows neither version learnt.")
    kept, excluded = {}, []
    for version, names in roles.items():
        overlap = int(seen[version][keep].sum())
        if overlap and version not in (new, incumbent):
            excluded.append(f"{version} ({', '.join(names)}): trained on {overlap} of the {int(keep.sum())} "
                            f"hold-out rows of {window}; not compared")
        else:
            kept[version] = names
    if not keep.all():
        excluded.insert(0, f"{int((~keep).sum())} of the {len(keep)} hold-out rows of {window} left out: "
                        f"{new if seen[new].any() else incumbent} trained on them")
    return Unseen(frame[keep].reset_index(drop=True), y[keep], kept, excluded)


def bootstrap_delta(metric: str, task: str, y: np.ndarray, challenger: np.ndarray, incumbent: np.ndarray,
                    *, threshold: float, resamples: int, confidence: float, seed: int) -> tuple[float, float, float]:
    """The gain of ``challenger`` over ``incumbent`` and its paired bootstrap confidence interval.

    Both models are scored on the same resampled rows in every replicate, so the
    interval is that of the difference itself. Gains are oriented so that
    positive always means the challenger is better (lower-is-better metrics flip).

    Returns:
        ``(gain, low, high)``.
    """
    sign = -1.0 if metric in metric_fns.LOWER_IS_BETTER else 1.0
    # Each model's sort (or per-row loss) once; every batch of replicates then weighs both alike.
    ours, theirs = (metric_under(metric, task, y, s, threshold) for s in (challenger, incumbent))
    full = np.ones((1, len(y)))
    gain = sign * float(ours(full)[0] - theirs(full)[0])
    rng = np.random.default_rng(seed)
    diffs = [sign * (ours(weights) - theirs(weights)) for weights in resample_weights(rng, len(y), resamples)]
    values = np.concatenate(diffs)
    values = values[np.isfinite(values)]
    alpha = (1 - confidence) / 2
    low, high = (np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan))
    return gain, float(low), float(high)


def unpaired_delta(metric: str, task: str, y_a: np.ndarray, s_a: np.ndarray, y_b: np.ndarray, s_b: np.ndarray,
              *, threshold: float, resamples: int, confidence: float, seed: int) -> tuple[float, float, float]:
    """Gain of group a over group b (different rows) and its bootstrap CI, resampling each group.

    Returns:
        ``(gain, low, high)``, positive meaning group a is better.
    """
    sign = -1.0 if metric in metric_fns.LOWER_IS_BETTER else 1.0
    one, other = metric_under(metric, task, y_a, s_a, threshold), metric_under(metric, task, y_b, s_b, threshold)
    gain = sign * float(one(np.ones((1, len(y_a))))[0] - other(np.ones((1, len(y_b))))[0])
    rng = np.random.default_rng(seed)
    # zip draws a's batch, then b's, from the one generator: each group resampled on its own rows.
    diffs = [sign * (one(w_a) - other(w_b))
             for w_a, w_b in zip(resample_weights(rng, len(y_a), resamples), resample_weights(rng, len(y_b), resamples),
                                 strict=True)]
    values = np.concatenate(diffs)
    values = values[np.isfinite(values)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan)
    return gain, float(low), float(high)


# Latency is timed on at most this many of the hold-out rows, in this many rounds.
_TIMING_ROWS = 5000
_TIMING_ROUNDS = 5


def evaluate_versions(ctx: Context, roles: dict[str, list[str]], frame: pd.DataFrame, y: np.ndarray,
                      loaded: dict[str, tuple[Any, ModelCard]] | None = None) -> list[Candidate]:
    """Score every version on the same rows; KPIs, latency per 1,000 rows and model bytes.

    Latency is the best of several rounds that take the versions in turn, on one
    thread: a load that comes and goes then slows every version alike or none,
    and no OpenMP thread waits for a core another process holds. What remains is
    each model's own cost per row, comparable from one run to the next.
    """
    loaded = {version: (loaded or {}).get(version) or ctx.load_model(version) for version in roles}
    scores = {version: predict_frame(model, card, frame, f"hold-out rows for {version}")
              for version, (model, card) in loaded.items()}
    sample = frame.iloc[:_TIMING_ROWS]
    best = gates.cpu_seconds({version: partial(predict_frame, model, card, sample, f"hold-out rows for {version}")
                              for version, (model, card) in loaded.items()}, _TIMING_ROUNDS)
    found = []
    for version, names in roles.items():
        card = loaded[version][1]
        assert card.artifact is not None
        found.append(Candidate(version=version, roles=names,
                               metrics=metric_fns.compute(card.task, y, scores[version], card.threshold, card.classes),
                               ms_per_1000=gates.ms_per_1000(best[version], len(sample)),
                               bytes=card.artifact.bytes, threshold=card.threshold, scores=scores[version]))
    return found


def decide(ctx: Context, window: str, holdout: str, incumbent: str, candidates: list[Candidate],
           y: np.ndarray) -> Decision:
    """Apply the rules of ``compare`` to the evaluated candidates."""
    cfg = ctx.config.compare
    primary = ctx.config.train.primary_metric
    task = ctx.config.model.task
    sign = -1.0 if primary in metric_fns.LOWER_IS_BETTER else 1.0
    by_version = {c.version: c for c in candidates}
    inc = by_version[incumbent]
    inc.verdict = "incumbent"
    passing = []
    for cand in candidates:
        if cand.version == incumbent:
            continue
        assert cand.scores is not None and inc.scores is not None
        cand.delta, low, high = bootstrap_delta(primary, task, y, cand.scores, inc.scores,
                                                threshold=inc.threshold,
                                                resamples=cfg.bootstrap, confidence=cfg.confidence,
                                                seed=cfg.seed)
        cand.ci = (low, high)
        blocked = []
        if cand.delta < cfg.min_improvement:
            blocked.append(f"gain {cand.delta:+.4f} below min_improvement {cfg.min_improvement:g}")
        if not low > 0:
            blocked.append(f"{cfg.confidence:.0%} CI [{low:+.4f}, {high:+.4f}] does not exclude zero")
        for metric, tolerance in cfg.guardrails.items():
            g_sign = -1.0 if metric in metric_fns.LOWER_IS_BETTER else 1.0
            worse = g_sign * (inc.metrics.get(metric, np.nan) - cand.metrics.get(metric, np.nan))
            if worse > tolerance:
                blocked.append(f"guardrail {metric} worse by {worse:.4f} (tolerance {tolerance:g})")
        limit = 1 + cfg.resource_margin
        if cand.ms_per_1000 > inc.ms_per_1000 * limit + cfg.latency_slack_ms:
            blocked.append(f"{cand.ms_per_1000:.1f} ms per 1000 rows > {limit:g} x {inc.ms_per_1000:.1f} "
                           f"+ {cfg.latency_slack_ms:g}")
        if cand.bytes > cfg.max_model_mb * 1024 * 1024:  # absolute: a small live model must not block the rest
            blocked.append(f"model file {cand.bytes} bytes > compare.max_model_mb {cfg.max_model_mb:g} MB")
        cand.verdict = "passes" if not blocked else "blocked: " + "; ".join(blocked)
        if not blocked:
            passing.append(cand)
    level = f"{cfg.confidence:.0%}"
    if passing:
        best = max(passing, key=lambda c: sign * c.metrics[primary])
        assert best.ci is not None and best.delta is not None
        reason = (f"{best.version} ({', '.join(best.roles)}) beats the live {incumbent} on {primary} by "
                  f"{best.delta:+.4f} ({level} CI [{best.ci[0]:+.4f}, {best.ci[1]:+.4f}] excludes zero; "
                  f"min_improvement {cfg.min_improvement:g}); guardrails and resources within limits")
        winner = best.version
    else:
        others = [c for c in candidates if c.version != incumbent]
        reason = (f"the live {incumbent} keeps its place: " + " | ".join(f"{c.version}: {c.verdict}" for c in others)
                  if others else f"the live {incumbent} has no challenger")
        winner = incumbent
    return Decision(window=window, holdout=holdout, rows=len(y), primary=primary, incumbent=incumbent,
                    winner=winner, reason=reason, candidates=candidates)


def render(decision: Decision, *, triggers: list[str], outcome: str, extra: list[str] | None = None) -> str:
    """The decision as the text of ``monitoring/<window>/decision.txt``."""
    names = sorted({k for c in decision.candidates for k in c.metrics})
    names.remove(decision.primary)
    names.insert(0, decision.primary)
    head = f"{'version':<8} {'roles':<18} " + " ".join(f"{n:>9}" for n in names) + \
        f" {'ms/1000':>8} {'bytes':>9} {'gain':>8} {'ci_low':>8} {'ci_high':>8}  verdict"
    lines = [
        f"decision at window {decision.window}: hold-out {decision.holdout}, {decision.rows} labelled rows, "
        f"primary metric {decision.primary}",
        "triggers:",
        *[f"  {t}" for t in triggers],
        *[f"excluded: {e}" for e in decision.excluded],
        "comparison (gain and CI: the challenger minus the live version, positive is better):",
        "  " + head,
    ]
    for c in decision.candidates:
        gain = f"{c.delta:+8.4f}" if c.delta is not None else f"{'-':>8}"
        low = f"{c.ci[0]:+8.4f}" if c.ci else f"{'-':>8}"
        high = f"{c.ci[1]:+8.4f}" if c.ci else f"{'-':>8}"
        lines.append(f"  {c.version:<8} {','.join(c.roles):<18} "
                     + " ".join(f"{c.metrics.get(n, float('nan')):9.4f}" for n in names)
                     + f" {c.ms_per_1000:8.1f} {c.bytes:9d} {gain} {low} {high}  {c.verdict}")
    lines += [f"winner: {decision.winner}", f"reason: {decision.reason}", f"outcome: {outcome}", *(extra or [])]
    return "\n".join(lines) + "\n"
