#!/usr/bin/env bash
# MLflow for the scoring and registry benchmarks, in its own venv (never a lowops
# dependency). scikit-learn and pandas are pinned to the versions in lowops' venv
# so both load the very same pickled model.
#   bash benchmarks/setup_mlflow.sh      # creates benchmarks/.venv-mlflow
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOWOPS_PY="${LOWOPS_VENV:-$ROOT/.venv}/bin/python"
VENV="${LOWOPS_MLFLOW_VENV:-$ROOT/benchmarks/.venv-mlflow}"
pin() { "$LOWOPS_PY" -c "from importlib.metadata import version; print(version('$1'))"; }
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet "mlflow>=3" "scikit-learn==$(pin scikit-learn)" "pandas==$(pin pandas)" \
    "numpy==$(pin numpy)" "pyarrow" "sqlalchemy"
"$VENV/bin/python" -c "import mlflow; print('mlflow', mlflow.__version__, 'ready in $VENV')"
