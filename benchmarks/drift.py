"""Benchmark: lowops's data-drift computation against Evidently and NannyML on the same frames.

Builds a reference and a current frame (default 1,000,000 rows x 20 columns: 12
numeric, 8 categorical, some shifted, some missing values), writes them to
Parquet once, then times each tool in its own fresh process on those files,
in the same run:

- lowops: ``frames_drift`` (sketch the reference, then median shift, PSI, KS +
  p-value, Wasserstein, missing-rate change; PSI, Jensen-Shannon, chi-square,
  unseen/vanished categories), all cores;
- Evidently: ``Report([DataDriftPreset()])`` (its defaults above 1000 rows:
  normed Wasserstein for numbers, Jensen-Shannon for categories);
- NannyML (``nannyml``): ``UnivariateDriftCalculator`` with Kolmogorov-Smirnov
  and Jensen-Shannon for numbers, chi-square and Jensen-Shannon for
  categories (the statistics lowops also computes), one chunk (the whole
  frame), fitted on the reference; ``nannyml_js``: the same with NannyML's
  default methods (Jensen-Shannon only), its cheapest univariate run.

Each worker loads the frames, resets the kernel's peak-RSS counter, runs the
tool ``--repeats`` times after a small warm-up (imports and first-call costs
are not timed) and reports the best wall time and the extra peak memory
(peak RSS during the runs minus RSS before them). Run it in the venv made by
``benchmarks/setup_peers.sh``; peers that do not import are reported as such.

    bash benchmarks/setup_peers.sh
    benchmarks/.venv/bin/python benchmarks/drift.py [--rows 1000000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The peers phone home (NannyML: usage statistics; Evidently: telemetry): off, so nothing
# leaves the machine and no timed run waits on a network retry.
for _name in ("NML_DISABLE_USAGE_LOGGING", "DO_NOT_TRACK", "ITERATIVE_DO_NOT_TRACK"):
    os.environ[_name] = "1"
NUMERIC = [f"num_{i:02d}" for i in range(12)]
CATEGORICAL = [f"cat_{i}" for i in range(8)]


def make_frames(rows: int, seed: int = 42) -> tuple[Any, Any]:
    """Reference and current frames; numeric columns 0-3 and categorical 0-1 drift in the current one."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def frame(current: bool) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i, name in enumerate(NUMERIC):
            shift = 0.3 if current and i < 4 else 0.0
            if i % 3 == 0:
                values = rng.normal(shift, 1.0, rows)
            elif i % 3 == 1:
                values = np.round(rng.lognormal(3 + shift, 0.6, rows), 2)  # money: ties
            else:
                values = rng.poisson(3 + 2 * shift, rows).astype(float)  # counts: heavy ties
            values[rng.random(rows) < 0.01] = np.nan
            data[name] = values
        for i, name in enumerate(CATEGORICAL):
            k = (3, 5, 8, 12, 20, 30, 40, 50)[i]
            p = np.linspace(1, 2, k) / np.linspace(1, 2, k).sum()  # unequal shares
            if current and i < 2:
                p = p[::-1]
            labels = np.array([f"{name}_v{j}" for j in range(k)], dtype=object)
            data[name] = labels[rng.choice(k, size=rows, p=p)]
        return pd.DataFrame(data)

    return frame(False), frame(True)


def _memory() -> tuple[float, float]:
    """(current RSS, peak RSS) in MB, from /proc."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0) so the peak measures the runs only."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _lowops(ref: Any, cur: Any) -> Any:
    from lowops.config_schema import DriftConfig
    from lowops.monitoring.drift import frames_drift

    return frames_drift(ref, cur, DriftConfig(), n_jobs=-1)


def _evidently(ref: Any, cur: Any) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    report = Report([DataDriftPreset()])
    return report.run(current_data=Dataset.from_pandas(cur, data_definition=definition),
                      reference_data=Dataset.from_pandas(ref, data_definition=definition))


def _nannyml(ref: Any, cur: Any) -> Any:
    import nannyml as nml

    calculator = nml.UnivariateDriftCalculator(
        column_names=NUMERIC + CATEGORICAL, treat_as_categorical=CATEGORICAL, chunk_number=1,
        continuous_methods=["kolmogorov_smirnov", "jensen_shannon"],
        categorical_methods=["chi2", "jensen_shannon"])
    calculator.fit(ref)
    return calculator.calculate(cur)


def _nannyml_defaults(ref: Any, cur: Any) -> Any:
    import nannyml as nml

    # NannyML's default methods (Jensen-Shannon only), one chunk: its cheapest univariate run.
    calculator = nml.UnivariateDriftCalculator(column_names=NUMERIC + CATEGORICAL, treat_as_categorical=CATEGORICAL,
                                               chunk_number=1)
    calculator.fit(ref)
    return calculator.calculate(cur)


TOOLS = {"lowops": _lowops, "evidently": _evidently, "nannyml": _nannyml, "nannyml_js": _nannyml_defaults}


def worker(tool: str, data: Path, repeats: int) -> dict[str, Any]:
    """Time one tool in this (fresh) process; import errors are reported, not raised."""
    import warnings

    import pandas as pd

    warnings.simplefilter("ignore")
    ref, cur = pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / "current.parquet")
    run = TOOLS[tool]
    try:
        run(ref.head(5000), cur.head(5000))  # imports and first-call costs, not timed
    except ImportError as exc:
        return {"tool": tool, "error": f"not installed: {exc}"}
    import gc

    gc.collect()
    before, _ = _memory()
    exact = _reset_peak()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(ref, cur)
        times.append(time.perf_counter() - started)
    _, peak = _memory()
    return {"tool": tool, "seconds": min(times), "all_seconds": times,
            "extra_peak_mb": peak - before if exact else None, "version": _version(tool.split("_")[0])}


def _version(tool: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(tool)
    except PackageNotFoundError:
        return "src"


def machine() -> str:
    model = "?"
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="ascii")
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    import pandas

    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"pandas {pandas.__version__}, numpy {numpy.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tools", default="lowops,nannyml,nannyml_js,evidently")
    parser.add_argument("--worker", choices=sorted(TOOLS), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))  # lowops from this checkout, without installing it here
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.repeats)))
        return
    with tempfile.TemporaryDirectory(prefix="lowops-bench-") as scratch:
        data = Path(scratch)
        ref, cur = make_frames(args.rows)
        ref.to_parquet(data / "reference.parquet")
        cur.to_parquet(data / "current.parquet")
        del ref, cur
        print(f"machine: {machine()}")
        print(f"frames: {args.rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} columns "
              f"({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical), best of {args.repeats}")
        results = {}
        for tool in args.tools.split(","):
            done = subprocess.run([sys.executable, __file__, "--worker", tool, "--data", str(data),
                                   "--repeats", str(args.repeats)], capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            results[tool] = json.loads(lines[-1]) if lines else {"tool": tool, "error": done.stderr[-500:]}
    base = results.get("lowops", {}).get("seconds")
    print(f"{'tool':<10} {'version':<9} {'seconds':>8} {'x lowops':>9} {'extra peak MB':>14}")
    for tool, result in results.items():
        if "error" in result:
            print(f"{tool:<10} {'-':<9} {'failed':>8}  {result['error'].strip().splitlines()[-1][:80]}")
            continue
        ratio = f"{result['seconds'] / base:.1f}" if base else "-"
        mem = result["extra_peak_mb"]
        print(f"{tool:<10} {result['version']:<9} {result['seconds']:>8.2f} {ratio:>9} "
              f"{mem if mem is None else round(mem):>14}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
