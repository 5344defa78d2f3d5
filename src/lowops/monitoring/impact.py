"""Does the drift matter to this model? Impact measured two ways, and the window's ranking.

1. The paper's: a feature's drift score times its normalised importance in the
   live model (``model.json`` ``importance.values``, one value per source
   column, so one-hot columns are already summed back to their feature).
2. Counterfactual: for each *drifted* feature, re-score a sample of the window
   with that one feature put back on the reference's distribution, and measure
   how far the predictions move (mean absolute score change, share of rows whose
   class flips). A feature within tolerance gets no counterfactual: its drift is
   noise, and re-scoring for it would only cost time. Numbers
   are mapped quantile to quantile (each row keeps its rank, ties broken at
   random); categories are resampled *minimally*: only the excess rows of
   over-represented categories are redrawn into under-represented ones, so an
   undrifted feature is left (almost) untouched. Both maps are the optimal
   transport onto the reference, so the change measured is the drift's alone.
   Every drifted feature's moved rows are scored in one batched call, and the
   sample is as large as its own standard error asks (:func:`counterfactual`).

Only drifted features count towards "drift that matters", and the ranking
lists drifted features first: drift within tolerance in a driver is noise, not
a finding. Missing values stay missing in the counterfactual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.monitoring.stats import CategoricalSketch, NumericSketch

if TYPE_CHECKING:
    import pandas as pd

    from lowops.config_schema import DriftConfig
    from lowops.monitoring.drift import FeatureDrift
    from lowops.monitoring.reference import Reference


def map_numeric(values: Any, sketch: NumericSketch, rng: np.random.Generator) -> np.ndarray:
    """Map each value to the reference quantile of its rank in the current column.

    Args:
        values: the current column (NaN stays NaN).
        sketch: the reference sketch.
        rng: breaks ties, so a discrete column reaches the reference's shares.

    Returns:
        The mapped column as float64.
    """
    x = np.asarray(values.to_numpy(dtype=float, na_value=np.nan) if hasattr(values, "to_numpy") else values,
                   dtype=float)
    out = x.copy()
    valid = np.flatnonzero(np.isfinite(x))
    if len(valid) == 0 or sketch.valid == 0:
        return out
    order = np.lexsort((rng.random(len(valid)), x[valid]))
    u = np.empty(len(valid))
    u[order] = (np.arange(len(valid)) + 0.5) / len(valid)
    if sketch.exact:
        cum = np.cumsum(sketch.weights) / np.sum(sketch.weights)
        out[valid] = sketch.atoms[np.minimum(np.searchsorted(cum, u, side="left"), len(cum) - 1)]
    else:
        k = len(sketch.atoms)
        knots = np.r_[0.0, (np.arange(k) + 0.5) / k, 1.0]
        out[valid] = np.interp(u, knots, np.r_[sketch.min, sketch.atoms, sketch.max])
    return out


def map_categorical(values: Any, sketch: CategoricalSketch, rng: np.random.Generator) -> np.ndarray:
    """Resample the fewest rows needed for the column to take the reference's category shares.

    Returns:
        An object array (None for missing) with the reference's shares in expectation.
    """
    import pandas as pd

    series = pd.Series(values).astype(object)
    present = series.notna().to_numpy()
    text = series[present].astype(str).to_numpy()
    out: np.ndarray = series.where(series.notna(), None).to_numpy(dtype=object).copy()
    total_ref = sum(sketch.counts.values())
    if len(text) == 0 or total_ref == 0:
        return out
    codes, uniques = pd.factorize(text)
    names = list(dict.fromkeys([*sketch.counts, *map(str, uniques)]))
    index = {name: i for i, name in enumerate(names)}
    remap = np.array([index[str(u)] for u in uniques])  # over categories, not rows
    codes = remap[codes]
    cur = np.bincount(codes, minlength=len(names)) / len(codes)
    ref = np.array([sketch.counts.get(name, 0) for name in names], dtype=float) / total_ref
    with np.errstate(divide="ignore", invalid="ignore"):
        leave = np.where(cur > 0, np.clip(1 - ref / cur, 0, 1), 0.0)
    deficit = np.clip(ref - cur, 0, None)
    moved = rng.random(len(codes)) < leave[codes]
    if moved.any() and deficit.sum() > 0:
        codes = codes.copy()
        codes[moved] = rng.choice(len(names), size=int(moved.sum()), p=deficit / deficit.sum())
    out[np.flatnonzero(present)] = np.asarray(names, dtype=object)[codes]
    return out


# The sample's first rows, scored before its size is known: they give the spread of the changes.
PILOT_ROWS = 1_000


def _mapped(values: Any, sketch: NumericSketch | CategoricalSketch,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A column mapped onto the reference, and which of its rows the map moved."""
    if isinstance(sketch, NumericSketch):
        mapped: np.ndarray = map_numeric(values, sketch, rng)
        original = values.to_numpy(dtype=float, na_value=np.nan)
        return mapped, ~((mapped == original) | (np.isnan(mapped) & np.isnan(original)))
    mapped = map_categorical(values, sketch, rng)
    original = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    return mapped, mapped != original


def _changes(predict: Any, sample: pd.DataFrame, base: np.ndarray | None, names: list[str],
             reference: Reference, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The base scores of ``sample`` and each feature's counterfactual scores, from one predict call.

    Only rows whose value moved can score differently, so only they are re-scored:
    the moved rows of every feature are stacked into one frame (after the sample
    itself when its base scores are not known) and scored at once.
    """
    import pandas as pd

    pieces, moved_rows = [] if base is not None else [sample], []
    for name in names:
        mapped, changed = _mapped(sample[name], reference.features[name], rng)
        rows = np.flatnonzero(changed)
        if len(rows):
            moved = sample.iloc[rows].copy()
            moved[name] = mapped[rows]
            pieces.append(moved)
        moved_rows.append(rows)
    scored = np.asarray(predict(pd.concat(pieces, ignore_index=True)), dtype=float) if pieces else np.empty(0)
    offset = 0
    if base is None:
        base, offset = scored[:len(sample)], len(sample)
    out = {}
    for name, rows in zip(names, moved_rows):
        scores = base.copy()
        scores[rows] = scored[offset:offset + len(rows)]
        offset += len(rows)
        out[name] = scores
    return base, out


def _row_change(moved: np.ndarray, base: np.ndarray) -> np.ndarray:
    """How far each row's prediction moved: the absolute score change, or for a multiclass model's
    probabilities the total variation (half the L1 distance: the probability mass that changed class,
    which for two classes is the absolute change of class 1's probability)."""
    if moved.ndim == 2:
        out: np.ndarray = 0.5 * np.abs(moved - base).sum(axis=1)
        return out
    change: np.ndarray = np.abs(moved - base)
    return change


def _rows_needed(change: np.ndarray, precision: float, floor: float) -> int:
    """Rows at which the standard error of the mean of ``change`` is ``precision`` x max(mean, floor)."""
    finite = change[np.isfinite(change)]
    if len(finite) < 2:
        return 0
    target = precision * max(float(finite.mean()), floor)
    return int(math.ceil((float(finite.std(ddof=1)) / target) ** 2))


def counterfactual(predict: Any, frame: pd.DataFrame, reference: Reference, features: list[str], *,
                   threshold: float | None, seed: int, base: np.ndarray | None = None,
                   max_rows: int = 10_000, precision: float = 0.1,
                   floor: float = 0.01) -> dict[str, dict[str, float]]:
    """Re-score rows of the window with each drifted feature mapped back onto the reference.

    The sample is sized by its own error, from a pilot: the first
    :data:`PILOT_ROWS` rows of a seeded random order of the window are scored
    (every feature's moved rows in one batched call) and give the spread of
    each feature's absolute score change; the sample then grows to the size at
    which every feature's standard error of ``mean_abs_change`` is at most
    ``precision`` x max(its mean, ``floor``), at most ``max_rows`` rows, and the
    rows added are scored in one more batched call. ``floor`` is the
    counterfactual threshold: a change far below it needs no more precision
    than the decision does. The class-flip share rides on the same rows.

    Args:
        predict: ``frame -> scores`` (the live model behind the same preparation as scoring).
        frame: the window's rows, every reference feature as a column.
        reference: the sketches to map onto.
        features: the features to re-score (the drifted ones; the rest get no entry).
        threshold: the classification threshold (None for a regressor: no flips).
        seed: the random seed of the sample and of the maps.
        base: the live model's scores of ``frame``'s rows, in order (scored with the pilot if None).
        max_rows: the cap on the sample (``drift.impact.counterfactual_rows``).
        precision: the standard error sought, as a fraction of the change (``counterfactual_precision``).
        floor: the change below which precision is measured against ``floor`` instead.

    Returns:
        Per feature: ``mean_abs_change`` of the score, ``flip_share``, ``standard_error``
        (of ``mean_abs_change``) and ``rows`` (the sample's size).
    """
    names = [name for name in features if name in reference.features]
    if not names or frame.empty:
        return {}
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    pilot = order[:min(PILOT_ROWS, max_rows, len(order))]

    def score(rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        sample = frame.iloc[rows].reset_index(drop=True)
        return _changes(predict, sample, None if base is None else np.asarray(base, dtype=float)[rows],
                        names, reference, rng)

    pilot_base, pilot_scores = score(pilot)
    bases, scores = [pilot_base], [pilot_scores]
    needed = max(_rows_needed(_row_change(pilot_scores[n], pilot_base), precision, floor) for n in names)
    size = min(max(needed, len(pilot)), max_rows, len(order))
    if size > len(pilot):
        more_base, more_scores = score(order[len(pilot):size])
        bases.append(more_base)
        scores.append(more_scores)
    base_all = np.concatenate(bases)
    result: dict[str, dict[str, float]] = {}
    for name in names:
        moved = np.concatenate([s[name] for s in scores])
        change = _row_change(moved, base_all)
        finite = change[np.isfinite(change)]
        if moved.ndim == 2:  # multiclass: the most probable class changes
            flips = float(np.mean(moved.argmax(axis=1) != base_all.argmax(axis=1)))
        else:
            flips = math.nan if threshold is None else float(np.mean((moved >= threshold) != (base_all >= threshold)))
        result[name] = {"mean_abs_change": float(finite.mean()) if len(finite) else math.nan,
                        "flip_share": flips,
                        "standard_error": float(finite.std(ddof=1) / math.sqrt(len(finite)))
                        if len(finite) > 1 else math.nan,
                        "rows": float(len(base_all))}
    return result


def normalised_importance(values: dict[str, float] | None, features: list[str]) -> dict[str, float]:
    """Importance over ``features``, negatives clipped, summing to 1 (uniform if the model has none)."""
    raw = {f: max(float((values or {}).get(f, 0.0)), 0.0) for f in features}
    total = sum(raw.values())
    if total <= 0:
        return {f: 1 / len(features) for f in features} if features else {}
    return {f: v / total for f, v in raw.items()}


@dataclass(frozen=True)
class ImpactResult:
    """The window's impact ranking and whether the drift matters."""

    rows: list[dict[str, Any]]  # one per feature, ranked
    matters: bool
    evidence: tuple[str, ...]
    classes: bool = True  # the model predicts classes (a counterfactual can flip them); False: a regressor


def _rank(order_keys: list[tuple[Any, ...]]) -> list[int]:
    """1-based rank of each item under its sort key (smallest key first)."""
    ranks = [0] * len(order_keys)
    for position, i in enumerate(sorted(range(len(order_keys)), key=lambda j: order_keys[j]), start=1):
        ranks[i] = position
    return ranks


def _mean_rank(row: dict[str, Any]) -> float:
    ranks = [int(r) for r in (row["rank_impact"], row["rank_counterfactual"]) if r is not None]
    return sum(ranks) / len(ranks)


def _change(row: dict[str, Any]) -> str:
    """The counterfactual figures of a row in words: a regressor's prediction has no classes to flip."""
    value = row["counterfactual_impact"]
    change = float(value) if math.isfinite(value) else 0.0
    flips = row.get("counterfactual_flip_share")
    if isinstance(flips, float) and math.isfinite(flips):
        return f"score change {change:.4f}, class flips {flips:.2%}"
    return f"prediction change {change:.4g}"


def rank_impact(drifts: list[FeatureDrift], importance: dict[str, float], cf: dict[str, dict[str, float]],
                settings: DriftConfig, *, classes: bool = True) -> ImpactResult:
    """Combine drift, importance and counterfactual change into the window's ranking and verdict.

    Args:
        drifts: every feature's drift decision.
        importance: normalised importance per feature.
        cf: counterfactual change per drifted feature (the others have none).
        settings: the ``drift`` config section.
        classes: the model predicts classes; a regressor's rows have no class-flip share.

    Returns:
        The ranked rows (drifted features first, by the mean of the two
        measures' ranks; the others by impact, with no counterfactual
        figures), whether drift matters, and one evidence line per
        feature that made it matter.
    """
    rows: list[dict[str, Any]] = []
    for d in drifts:
        change = cf.get(d.feature, {})
        imp = importance.get(d.feature, 0.0)
        rows.append({"feature": d.feature, "kind": d.kind, "drifted": d.drifted, "method": d.method,
                     "statistic": d.statistic, "drift_score": d.drift_score, "importance": imp,
                     "impact": d.drift_score * imp,
                     "counterfactual_impact": change.get("mean_abs_change", math.nan),
                     "counterfactual_flip_share": change.get("flip_share", math.nan),
                     "counterfactual_se": change.get("standard_error", math.nan),
                     "counterfactual_rows": int(change["rows"]) if "rows" in change else None})
        if not classes:
            del rows[-1]["counterfactual_flip_share"]

    def measure(row: dict[str, Any], key: str) -> float:
        value = row[key]
        return -value if isinstance(value, float) and math.isfinite(value) else math.inf

    by_impact = _rank([(not r["drifted"], measure(r, "impact")) for r in rows])
    by_cf = _rank([(not r["drifted"], measure(r, "counterfactual_impact")) for r in rows])
    for row, a, b in zip(rows, by_impact, by_cf):
        # A feature without a counterfactual (not drifted) is ranked by its impact alone.
        has_cf = math.isfinite(row["counterfactual_impact"])
        row["rank_impact"], row["rank_counterfactual"] = a, b if has_cf else None
    ranked = sorted(rows, key=lambda r: (not r["drifted"], _mean_rank(r), r["rank_impact"]))
    for position, row in enumerate(ranked, start=1):
        row["rank"] = position
    drifted = [r for r in ranked if r["drifted"]]
    cfg = settings.impact

    def cf_value(row: dict[str, Any]) -> float:
        value = row["counterfactual_impact"]
        return float(value) if math.isfinite(value) else 0.0

    evidence = []
    if cfg.combine == "sum":
        total, total_cf = sum(r["impact"] for r in drifted), sum(cf_value(r) for r in drifted)
        matters = total >= cfg.threshold or total_cf >= cfg.counterfactual_threshold
        if matters:
            evidence.append(f"drifted features: summed impact {total:.4f} (threshold {cfg.threshold}), "
                            f"summed counterfactual change {total_cf:.4f} "
                            f"(threshold {cfg.counterfactual_threshold})")
    else:
        hits = [r for r in drifted
                if r["impact"] >= cfg.threshold or cf_value(r) >= cfg.counterfactual_threshold]
        matters = bool(hits)
        evidence = [f"{r['feature']}: {r['method']} {r['statistic']:.3g} x importance {r['importance']:.3f} "
                    f"= impact {r['impact']:.4f}; counterfactual {_change(r)}" for r in hits]
    return ImpactResult(ranked, matters, tuple(evidence), classes)
