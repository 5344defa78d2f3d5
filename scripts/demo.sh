#!/usr/bin/env bash
# Install lowops and run the whole demo: build the demo store, then the loop
# over all twelve windows of 2025, and show what was produced and where.
#   bash scripts/demo.sh
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
bash "$ROOT/scripts/setup.sh"
VENV="${LOWOPS_VENV:-$ROOT/.venv}"
lowops() { "$VENV/bin/lowops" -C "$ROOT" "$@"; }

echo "== building the demo feature store (demo/store.sqlite)"
lowops init "$ROOT" --demo-only
echo "== validating the project"
lowops validate
echo "== running the loop for 2025-01 … 2025-12"
lowops backfill --from 2025-01 --to 2025-12
echo "== the model registry"
lowops models list
echo "== status"
lowops status --runs 3
echo "== the report"
lowops report
echo "== integrity"
lowops verify
echo
echo "Produced under $ROOT/repo:"
echo "  models/churn/v0001/ …      each version: model, model.json (lineage, metrics, schema), plots, SHA256SUMS"
echo "  deploy/churn.json          blue/green slots, which version is live, every switch"
echo "  monitoring/<window>/       data drift, impact, model drift, decision, Sweetviz report"
echo "  reports/index.html         the dashboard (open it in a browser, no server needed)"
echo "  audit.log                  hash-chained promotions, approvals, rollbacks"
echo "  data/<window>/             versioned Parquet snapshots with manifests"
echo "  outputs/<window>/          predictions CSV per window"
echo "  logs/lowops.log            one line per event"
echo "  logs/metrics.log           one line per KPI per window"
echo "  runs/                      one JSON ledger per run"
echo "Try: $VENV/bin/lowops -C $ROOT models show v0001"
