#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv and install lowops into it.
#   bash scripts/setup.sh            runtime only
#   bash scripts/setup.sh test       with the test dependencies
#   bash scripts/setup.sh postgres   with extras, comma-separated (test,postgres,mysql,dask)
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
PYTHON="${PYTHON:-python3}"
VENV="${LOWOPS_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>/dev/null || true
if [[ -n "$EXTRAS" ]]; then
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]"
else
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
fi
echo "lowops installed in $VENV ($("$VENV/bin/lowops" --version))"
