#!/usr/bin/env bash
# Load the demo feature store into MariaDB on 127.0.0.1:3306 (root without a password, database test),
# replacing its four tables, through `lowops init --demo-only --demo-url`. Then point a project at it:
#   LOWOPS_DB_URL=mysql+pymysql://root@127.0.0.1:3306/test lowops backfill --from 2025-01 --to 2025-12
# Usage:
#   bash scripts/load-demo-mariadb.sh [--customers N]        # default 24,000 customers a month
#   LOWOPS_DB_URL=URL bash scripts/load-demo-mariadb.sh       # another server, database or schema
# LOWOPS_BIN names an installed lowops to use as it is; otherwise lowops[mysql] is installed in .venv.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
URL="${LOWOPS_DB_URL:-mysql+pymysql://root@127.0.0.1:3306/test}"
if [[ -z "${LOWOPS_BIN:-}" ]]; then
    bash "$ROOT/scripts/setup.sh" mysql >&2
    LOWOPS_BIN="${LOWOPS_VENV:-$ROOT/.venv}/bin/lowops"
fi
"$LOWOPS_BIN" -C "$ROOT" init --demo-only --demo-url "$URL" "$@"
