"""How often the model-drift rule cries wolf, and how often it sees a real drop.

Synthetic windows of a binormal classifier (class 0 scores N(0, 1), class 1 N(d, 1), so
ROC AUC = Phi(d / sqrt 2)), 30% positives, ``--rows`` rows a window and a ``--benchmark-rows``
hold-out benchmark, judged by lowops's own rule (``lowops.monitoring.model_drift.compare``,
each KPI's bootstrap standard error) against T-1, T-2 and the benchmark, as ``lowops run``
judges a window. For each ``noise_sigmas``:

- noise: ``--runs`` runs of 20 windows at ROC AUC 0.972; a run with any alarm is a false alarm;
- drop: ``--runs`` runs of 5 windows at 0.972 then 5 at 0.960 (a drop of 0.012); counted are
  the runs flagged at the first dropped window, and those flagged at every dropped window, and
  the runs with any alarm before the drop.

    .venv/bin/python benchmarks/drift_rule.py --runs 30
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.stats import norm

from lowops.config_schema import ModelDriftConfig
from lowops.model import metrics as metric_fns
from lowops.monitoring.model_drift import Point, compare, with_standard_error


def _kpi(rng: np.random.Generator, rows: int, auc: float, settings: ModelDriftConfig) -> Point:
    y = (rng.random(rows) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-rng.normal(math.sqrt(2) * norm.ppf(auc) * y, 1.0)))
    values = with_standard_error(metric_fns.compute("classification", y, score, 0.5), "roc_auc",
                                 "classification", y, score, 0.5, settings, seed=0)
    return Point("window", values["roc_auc"], values.get("se.roc_auc"), rows)


def judge(aucs: list[float], seed: int, settings: ModelDriftConfig, rows: int, benchmark_rows: int) -> list[bool]:
    rng = np.random.default_rng(seed)
    benchmark = _kpi(rng, benchmark_rows, aucs[0], settings)
    history: list[Point] = []
    flagged = []
    for auc in aucs:
        current = _kpi(rng, rows, auc, settings)
        flagged.append(any(c.flagged for c in compare("roc_auc", current, [*history[-2:][::-1], benchmark],
                                                      settings)))
        history.append(current)
    return flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--benchmark-rows", type=int, default=5000)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[3.0, 3.5, 4.0])
    args = parser.parse_args()
    print(f"{args.runs} runs each; {args.rows} rows a window, benchmark {args.benchmark_rows} rows")
    print(f"{'noise_sigmas':>12} {'false alarm (20 windows)':>25} {'seen at once':>13} {'seen every window':>18} "
          f"{'alarm before':>13} {'cpu s':>7}")
    for sigmas in args.sigmas:
        settings = ModelDriftConfig(noise_sigmas=sigmas)
        started = time.process_time()
        noise = sum(any(judge([0.972] * 20, seed, settings, args.rows, args.benchmark_rows))
                    for seed in range(args.runs))
        drops = [judge([0.972] * 5 + [0.960] * 5, 1000 + seed, settings, args.rows, args.benchmark_rows)
                 for seed in range(args.runs)]
        print(f"{sigmas:>12g} {f'{noise} of {args.runs}':>25} {f'{sum(d[5] for d in drops)} of {args.runs}':>13} "
              f"{f'{sum(all(d[5:]) for d in drops)} of {args.runs}':>18} "
              f"{f'{sum(any(d[:5]) for d in drops)} of {args.runs}':>13} {time.process_time() - started:7.1f}")


if __name__ == "__main__":
    main()
