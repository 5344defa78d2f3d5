"""The demo year end to end: `lowops init`, then `lowops backfill 2025-01..2025-12`, quiet and busy.

What a user feels is the loop, not one statistic: twelve monthly windows of the demo
store (24,000 customers), each extracted, scored, monitored and decided, with the
retraining the demo's drift triggers. Each condition runs in fresh processes:

  quiet   the backfill alone
  busy    the same beside two busy-looping processes (a shared server's neighbours)

Conditions alternate (quiet, busy, quiet, busy, ...) for ``--repeat`` rounds, so a
slow spell of the machine falls on both. Wall time and CPU seconds (user + system,
the backfill's process and every child it waited for) come from ``os.wait4``; the CPU
seconds of each stage come from the run ledgers (``repo/runs/*.json``, ``cpu_seconds``,
``time.process_time`` of the lowops process). "outside stages" is the rest: start-up,
imports, the windows' bookkeeping and any child process (a Sweetviz report, say).

Every run must decide the same: the same versions with the same statuses and the same
KPI lines in logs/metrics.log; the script fails loudly otherwise.

Usage:
  .venv/bin/python benchmarks/loop.py                   # 1 round: quiet, then busy
  .venv/bin/python benchmarks/loop.py --repeat 3
  .venv/bin/python benchmarks/loop.py --conditions quiet --keep /tmp/demo-year
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

LOWOPS = str(Path(sys.executable).with_name("lowops"))
BUSY = "while True: pass"
# The targets on a 2-core machine.
QUIET_WALL, QUIET_CPU, BUSY_RATIO, STAGE_SHARE = 60.0, 90.0, 2.5, 0.35


def _timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``argv``; its wall seconds and CPU seconds (its own and its reaped children's)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def _decisions(project: Path) -> tuple[str, str]:
    """What the year decided: the versions with their statuses, and a digest of the KPI lines."""
    listed = subprocess.run([LOWOPS, "models", "list", "--json"], cwd=project, check=True,
                            capture_output=True, text=True).stdout
    data = json.loads(listed)
    rows = data["versions"] if isinstance(data, dict) and "versions" in data else data
    versions = ", ".join(f"{r['version']} {r['status']}" for r in rows)
    kpi = []
    for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[4] == "roc_auc":
            kpi.append(f"{parts[1]} {parts[3]} {parts[5]}\n")
    return versions, hashlib.md5("".join(kpi).encode()).hexdigest()


def _stages(project: Path) -> dict[str, float]:
    """CPU seconds per stage name, summed over every run ledger of the project."""
    found: dict[str, float] = defaultdict(float)
    for ledger in sorted((project / "repo" / "runs").glob("*.json")):
        for stage in json.loads(ledger.read_text()).get("stages", []):
            if stage.get("cpu_seconds") is not None:
                found[stage["name"]] += stage["cpu_seconds"]
    return dict(found)


def one_year(condition: str, first: str, last: str, keep: Path | None) -> dict[str, object]:
    """One demo year under ``condition``: its wall, CPU, CPU per stage and decisions."""
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)] if condition == "busy" else []
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="lowops-loop-"))
    try:
        project = work / "demo"
        init_wall, init_cpu = _timed([LOWOPS, "init", str(project)], work)
        wall, cpu = _timed([LOWOPS, "backfill", "--from", first, "--to", last], project)
        load = max(load, os.getloadavg()[0])
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    try:
        stages = _stages(project)
        stages["outside stages"] = max(cpu - sum(stages.values()), 0.0)
        versions, kpi = _decisions(project)
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(project, keep, symlinks=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"condition": condition, "wall": init_wall + wall, "cpu": init_cpu + cpu, "init_cpu": init_cpu,
            "stages": stages, "versions": versions, "kpi": kpi, "load": load}


def _report(runs: list[dict[str, object]]) -> None:
    by: dict[str, list[dict[str, object]]] = defaultdict(list)
    for run in runs:
        by[str(run["condition"])].append(run)
    print("\nrun      condition  wall s  CPU-s  load(1 min, max seen)")
    for i, run in enumerate(runs, 1):
        print(f"{i:>3}      {run['condition']:<9} {run['wall']:>6.1f} {run['cpu']:>6.1f}  {run['load']:.1f}")
    print("\ncondition  wall s (min / median)  CPU-s (min / median)")
    summary: dict[str, tuple[float, float]] = {}
    for condition, group in by.items():
        walls = [float(r["wall"]) for r in group]  # type: ignore[arg-type]
        cpus = [float(r["cpu"]) for r in group]  # type: ignore[arg-type]
        summary[condition] = (statistics.median(walls), statistics.median(cpus))
        print(f"{condition:<9}  {min(walls):>6.1f} / {statistics.median(walls):>6.1f}         "
              f"{min(cpus):>6.1f} / {statistics.median(cpus):>6.1f}")
    for condition, group in by.items():
        print(f"\nCPU-s per stage, {condition} (median of {len(group)} run(s)); share of the run's CPU")
        names = sorted({n for r in group for n in r["stages"]},  # type: ignore[attr-defined]
                       key=lambda n: -statistics.median(r["stages"].get(n, 0.0) for r in group))  # type: ignore[attr-defined]
        total = statistics.median(float(r["cpu"]) for r in group)  # type: ignore[arg-type]
        for name in names:
            value = statistics.median(r["stages"].get(name, 0.0) for r in group)  # type: ignore[attr-defined]
            print(f"  {name:<16} {value:>7.1f}  {value / total:>5.0%}")
        print(f"  {'init':<16} {statistics.median(float(r['init_cpu']) for r in group):>7.1f}  (in the total)")  # type: ignore[arg-type]
    print("\ntargets (2 cores)")
    if "quiet" in summary:
        wall, cpu = summary["quiet"]
        print(f"  quiet wall {wall:.1f} s (target <= {QUIET_WALL:.0f}), quiet CPU {cpu:.1f} s (target <= {QUIET_CPU:.0f})")
        if "busy" in summary:
            print(f"  busy / quiet wall {summary['busy'][0] / wall:.2f}x (target <= {BUSY_RATIO}x)")
    worst = max(((name, value / float(r["cpu"])) for r in runs  # type: ignore[arg-type]
                 for name, value in r["stages"].items() if name != "outside stages"),  # type: ignore[attr-defined]
                key=lambda item: item[1])
    print(f"  largest stage share: {worst[0]} {worst[1]:.0%} (target <= {STAGE_SHARE:.0%})")
    print(f"\ndecisions (every run): {runs[0]['versions']}; KPI lines md5 {runs[0]['kpi']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the conditions (default 1)")
    parser.add_argument("--conditions", default="quiet,busy", help="comma-separated: quiet, busy")
    parser.add_argument("--from", dest="first", default="2025-01")
    parser.add_argument("--to", dest="last", default="2025-12")
    parser.add_argument("--keep", type=Path, help="copy the last run's project here")
    args = parser.parse_args()
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if not conditions or set(conditions) - {"quiet", "busy"}:
        parser.error("--conditions takes quiet, busy or both")
    print(f"cores {os.cpu_count()}, load before {os.getloadavg()[0]:.1f}; {LOWOPS}")
    runs = []
    for round_ in range(args.repeat):
        for condition in conditions:
            run = one_year(condition, args.first, args.last, args.keep)
            print(f"round {round_ + 1} {condition}: wall {run['wall']:.1f} s, CPU {run['cpu']:.1f} s, "
                  f"load {run['load']:.1f}", flush=True)
            runs.append(run)
    if len({(r["versions"], r["kpi"]) for r in runs}) != 1:
        for run in runs:
            print(f"  {run['condition']}: {run['versions']}; KPI md5 {run['kpi']}", file=sys.stderr)
        raise SystemExit("the runs decided differently")
    _report(runs)


if __name__ == "__main__":
    main()
