#!/usr/bin/env bash
# Install lowops with its test dependencies, the PostgreSQL and MariaDB drivers and Dask
# (so that the database and Dask tests run, not skip), and run the whole test suite in one process
# (on 2 cores that is faster than pytest-xdist's workers: README, "Try it").
#   bash scripts/test.sh [pytest args]     # e.g. -n 2 --dist loadscope for xdist workers
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
bash "$ROOT/scripts/setup.sh" test,postgres,mysql,dask
VENV="${LOWOPS_VENV:-$ROOT/.venv}"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
