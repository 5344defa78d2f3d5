#!/usr/bin/env bash
# The reduced acceptance run CI does after the tests: lowops end to end on NannyML 0.13.1's
# regression_synthetic set (car prices, weekly) and its mc set (credit card products, three
# classes, monthly), three scored windows each, with benchmarks/acceptance/run.py (the full run
# and its results: benchmarks/README.md). It fails when lowops fails on a set; without the wheel
# (no PyPI) it prints why ("acceptance: SKIPPED, nothing was run: ...") and passes. Uses the venv
# scripts/test.sh sets up.
#   bash scripts/acceptance.sh
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${LOWOPS_VENV:-$ROOT/.venv}"
cd "$ROOT"
time "$VENV/bin/python" benchmarks/acceptance/run.py --sets regression_synthetic,mc --limit 3
