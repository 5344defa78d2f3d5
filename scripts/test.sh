#!/usr/bin/env bash
# Install lowops with its test dependencies, the PostgreSQL and MariaDB drivers and Dask
# (so that the database and Dask tests run, not skip), and run the whole test suite on one
# pytest-xdist worker per core, each test module whole on one worker (its module fixtures are
# built once).
#   bash scripts/test.sh [pytest args]
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
bash "$ROOT/scripts/setup.sh" test,postgres,mysql,dask
VENV="${LOWOPS_VENV:-$ROOT/.venv}"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -n auto --dist loadscope "$@"
