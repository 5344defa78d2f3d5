#!/usr/bin/env bash
# The checks CI runs beside the tests: the layering contracts (import-linter, contracts in
# pyproject.toml) and the type checks (mypy, strict, on src/lowops).
#   bash scripts/lint.sh
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# The same extras as the tests: mypy must see the optional libraries (dask) the code is typed against.
bash "$ROOT/scripts/setup.sh" test,postgres,mysql,dask
VENV="${LOWOPS_VENV:-$ROOT/.venv}"
cd "$ROOT"
"$VENV/bin/lint-imports"
"$VENV/bin/python" -m mypy
