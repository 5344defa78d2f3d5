#!/usr/bin/env bash
# Load the demo feature store into PostgreSQL on 127.0.0.1:5432 (trust auth, database test, schema public),
# replacing its four tables, through `lowops init --demo-only --demo-url`. Then point a project at it:
#   LOWOPS_DB_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test lowops backfill --from 2025-01 --to 2025-12
# Usage:
#   bash scripts/load-demo-postgres.sh [--customers N]        # default 24,000 customers a month
#   LOWOPS_DB_URL=URL bash scripts/load-demo-postgres.sh       # another server, database or schema
# LOWOPS_BIN names an installed lowops to use as it is; otherwise lowops[postgres] is installed in .venv.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
URL="${LOWOPS_DB_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
if [[ -z "${LOWOPS_BIN:-}" ]]; then
    bash "$ROOT/scripts/setup.sh" postgres >&2
    LOWOPS_BIN="${LOWOPS_VENV:-$ROOT/.venv}/bin/lowops"
fi
"$LOWOPS_BIN" -C "$ROOT" init --demo-only --demo-url "$URL" "$@"
