#!/usr/bin/env bash
# The benchmark's own environment: Evidently and NannyML beside the libraries lowops's
# drift code needs. Peers are never runtime dependencies of lowops, and Evidently 0.7
# does not import with pandas 3, hence a separate venv pinned to pandas < 3; lowops
# itself is put on the path from src/ (installing it would pull pandas 3 back in).
#   bash benchmarks/setup_peers.sh            # creates benchmarks/.venv
#   LOWOPS_PEERS_VENV=/opt/peers bash benchmarks/setup_peers.sh
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${LOWOPS_PEERS_VENV:-$ROOT/benchmarks/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet \
    "evidently>=0.7,<0.8" \
    "nannyml>=0.13,<0.14" \
    "pandas>=2.2,<3" \
    "numpy" "scipy" "scikit-learn" "pyarrow" "pydantic>=2" "pyyaml" "click" "sqlalchemy>=2"
"$VENV/bin/python" - <<'PY'
import evidently, nannyml, pandas, numpy
print(f"peers ready: evidently {evidently.__version__}, nannyml {nannyml.__version__}, "
      f"pandas {pandas.__version__}, numpy {numpy.__version__}")
PY
echo "run: $VENV/bin/python $ROOT/benchmarks/drift.py"
