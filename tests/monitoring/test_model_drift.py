"""lowops.monitoring.model_drift: the primary KPI against T-1, T-2 and the benchmark."""

from __future__ import annotations

import pytest

from lowops.config_schema import ModelDriftConfig
from lowops.monitoring.model_drift import compare, drop


def test_model_drift_tolerances_and_direction() -> None:
    absolute = ModelDriftConfig(absolute_tolerance=0.02)
    flagged = compare("roc_auc", 0.70, [("T-1", 0.75), ("T-2", 0.71), ("benchmark", None)], absolute)
    assert [(c.against, c.flagged) for c in flagged] == [("T-1", True), ("T-2", False)]
    relative = ModelDriftConfig(absolute_tolerance=None, relative_tolerance=0.1)
    assert [c.flagged for c in compare("rmse", 11.5, [("T-1", 10.0)], relative)] == [True]  # lower is better
    assert drop("log_loss", 0.3, 0.25) == pytest.approx(0.05) and drop("roc_auc", 0.8, 0.75) == pytest.approx(-0.05)
    off = ModelDriftConfig(absolute_tolerance=None, relative_tolerance=None)
    assert not any(c.flagged for c in compare("roc_auc", 0.1, [("T-1", 0.9)], off))
