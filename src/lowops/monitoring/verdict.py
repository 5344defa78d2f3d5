"""What monitoring tells continuous training: the verdicts of one window.

Monitoring (data drift, impact, model drift) produces a :class:`DriftVerdict`;
continuous training reads it to decide whether to retrain. Keeping the
hand-over in one small type lets each side change without the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DriftVerdict:
    """The monitoring verdicts of one window."""

    window: str
    drift_that_matters: bool = False
    model_drift: bool = False
    # One line of evidence per finding, e.g. "monthly_charge: median shift 0.41 x importance 0.22".
    evidence: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    # Earlier windows whose labels arrived with this check and show model drift, one line each naming the window.
    late_model_drift: tuple[str, ...] = ()
    # Where the window's Sweetviz report is to be built (relative to the repository), if it wants one.
    sweetviz_folder: str | None = None

    def ledger(self) -> dict[str, Any]:
        """What the run ledger keeps of the verdict (the full figures are in ``monitoring/<window>/``)."""
        return {"drift_that_matters": self.drift_that_matters, "model_drift": self.model_drift,
                "model_drift_basis": self.details.get("model_drift_basis"), "drifted": self.details.get("drifted", []),
                "evidence": list(self.evidence), "late_model_drift": list(self.late_model_drift),
                "files": self.details.get("files", {}), "sweetviz": self.sweetviz_folder}


def agreement(recorded: dict[str, Any], recheck: dict[str, Any]) -> list[str]:
    """Where a re-check of a window differs from its record (empty: it agrees).

    Compared: the two verdicts, the model-drift basis and the drifted features.
    """
    differences = []
    for key in ("drift_that_matters", "model_drift", "model_drift_basis"):
        if recorded.get(key) != recheck.get(key):
            differences.append(f"{key}: recorded {recorded.get(key)}, re-check {recheck.get(key)}")
    before, now = sorted(recorded.get("drifted") or []), sorted(recheck.get("drifted") or [])
    if before != now:
        differences.append(f"drifted: recorded {', '.join(before) or 'none'}, re-check {', '.join(now) or 'none'}")
    return differences
