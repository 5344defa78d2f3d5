"""Data drift of a window against a reference: every statistic per feature, and the decision.

One method per type decides (``drift.numeric_method``, ``drift.categorical_method``);
the other statistics are reported beside it. A change of the missing share
beyond ``drift.thresholds.missing_rate`` is drift on its own, so a column that
empties out is flagged even though no distribution statistic can be computed.
Features are computed in parallel threads: the heavy work (sorting,
``searchsorted``, hashing categories) runs in numpy and pandas outside the GIL.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lowops.monitoring.stats import CategoricalSketch, NumericSketch, categorical_drift, numeric_drift

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from lowops.compute import Engine
    from lowops.config_schema import DriftConfig
    from lowops.monitoring.reference import Reference

# The statistic each method reads, and whether small values (p-values) mean drift.
_METHODS: dict[str, tuple[str, bool]] = {
    "median_shift": ("median_shift", False), "psi": ("psi", False), "wasserstein": ("wasserstein_norm", False),
    "ks": ("ks_pvalue", True), "jensen_shannon": ("jensen_shannon", False), "chi2": ("chi2_pvalue", True),
}
# A p-value says how sure, not how much: impact multiplies an effect size instead.
_EFFECT = {"ks": "ks", "chi2": "jensen_shannon"}
_THRESHOLD_KEY = {"ks": "ks_pvalue", "chi2": "chi2_pvalue"}


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift in one window."""

    feature: str
    kind: str  # numeric | categorical
    method: str
    statistic: float  # the decision method's value (NaN: nothing to compare)
    threshold: float
    drifted: bool
    drift_score: float  # the effect size impact multiplies (0 when undefined)
    stats: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """A flat row for ``data_drift.csv`` (lists joined with ``|``)."""
        flat = {k: "|".join(v) if isinstance(v, list) else v for k, v in self.stats.items()}
        return {"feature": self.feature, "kind": self.kind, "method": self.method, "statistic": self.statistic,
                "threshold": self.threshold, "drifted": self.drifted, "drift_score": self.drift_score, **flat}


def decide(feature: str, kind: str, stats: dict[str, Any], settings: DriftConfig) -> FeatureDrift:
    """Apply the configured decision method (and the missing-share rule) to a feature's statistics.

    Args:
        feature: the feature's name.
        kind: ``numeric`` or ``categorical``.
        stats: what :func:`numeric_drift` or :func:`categorical_drift` returned.
        settings: the ``drift`` config section.

    Returns:
        The feature's decision.
    """
    method = settings.numeric_method if kind == "numeric" else settings.categorical_method
    key, small_is_drift = _METHODS[method]
    threshold = float(getattr(settings.thresholds, _THRESHOLD_KEY.get(method, method)))
    statistic = float(stats.get(key, math.nan))
    if math.isnan(statistic):
        by_method = False
    else:
        by_method = statistic < threshold if small_is_drift else statistic > threshold
    missing_change = float(stats.get("missing_change", math.nan))
    by_missing = not math.isnan(missing_change) and abs(missing_change) > settings.thresholds.missing_rate
    effect = float(stats.get(_EFFECT.get(method, key), math.nan))
    if math.isnan(effect):  # nothing current to compare: the emptying-out is the drift
        effect = abs(missing_change) if by_missing else 0.0
    return FeatureDrift(feature, kind, method, statistic, threshold, by_method or by_missing, effect, stats)


def _one(name: str, sketch: NumericSketch | CategoricalSketch, values: Any, settings: DriftConfig) -> FeatureDrift:
    if isinstance(sketch, NumericSketch):
        return decide(name, "numeric", numeric_drift(sketch, values), settings)
    return decide(name, "categorical", categorical_drift(sketch, values), settings)


def n_threads(n_jobs: int, tasks: int) -> int:
    """Threads for ``n_jobs`` (-1: every core), never more than there are tasks."""
    cores = os.cpu_count() or 1
    wanted = cores if n_jobs < 0 else max(n_jobs, 1)
    return max(1, min(wanted, tasks))


def _run_columns(numeric: list[str], categorical: list[str], task: Callable[[str], FeatureDrift],
                 threads: int) -> dict[str, FeatureDrift]:
    """Run ``task`` on every column, numeric ones in parallel.

    Counting categories of object (Python string) columns holds the GIL, so
    they run one after another in a single task submitted first, while the
    numeric columns (numpy, GIL released) keep the other threads busy; a
    thread that finishes its share picks up the remaining numeric columns.
    """
    if threads == 1:
        return {name: task(name) for name in [*numeric, *categorical]}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        chain = pool.submit(lambda: [task(name) for name in categorical])
        futures = [pool.submit(task, name) for name in numeric]
        done = [*chain.result(), *(f.result() for f in futures)]
    return {d.feature: d for d in done}


def data_drift(reference: Reference, current: pd.DataFrame, settings: DriftConfig, *,
               n_jobs: int = -1, engine: Engine | None = None) -> list[FeatureDrift]:
    """Every feature of the reference against the current window.

    Args:
        reference: the sketches to compare with.
        current: the window's rows (every feature of the reference as a column).
        settings: the ``drift`` config section.
        n_jobs: threads (-1: one per core).
        engine: a distributed engine runs one task per feature on its cluster
            (the same function on the same column: equal results); None or the
            local engine uses threads here.

    Returns:
        One :class:`FeatureDrift` per reference feature, in the reference's order.
    """
    names = list(reference.features)
    if engine is not None and engine.distributed:
        return engine.map(_one, [(n, reference.features[n], current[n], settings) for n in names])
    numeric = [n for n in names if isinstance(reference.features[n], NumericSketch)]
    categorical = [n for n in names if n not in numeric]
    done = _run_columns(numeric, categorical, lambda n: _one(n, reference.features[n], current[n], settings),
                        n_threads(n_jobs, len(names)))
    return [done[n] for n in names]


def frames_drift(reference: pd.DataFrame, current: pd.DataFrame, settings: DriftConfig, *,
                 n_jobs: int = -1) -> list[FeatureDrift]:
    """Data drift between two frames: sketch the reference, then compare (what the benchmark times).

    Columns are typed as the training schema types them: numeric dtypes are
    numeric, everything else categorical. Each column is sketched and
    compared in the same task.
    """
    from lowops.model.build import split_columns
    from lowops.monitoring.stats import categorical_sketch, numeric_sketch

    numeric, categorical = split_columns(reference)

    def task(name: str) -> FeatureDrift:
        sketch: NumericSketch | CategoricalSketch
        if name in numeric:
            sketch = numeric_sketch(reference[name], size=settings.sketch_size, bins=settings.psi_bins)
        else:
            sketch = categorical_sketch(reference[name], max_categories=settings.max_categories)
        return _one(name, sketch, current[name], settings)

    done = _run_columns(numeric, categorical, task, n_threads(n_jobs, len(numeric) + len(categorical)))
    return [done[n] for n in reference.columns if n in done]
