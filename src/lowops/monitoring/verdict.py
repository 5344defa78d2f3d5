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

    def ledger(self) -> dict[str, Any]:
        """What the run ledger keeps of the verdict (the full figures are in ``monitoring/<window>/``)."""
        return {"drift_that_matters": self.drift_that_matters, "model_drift": self.model_drift,
                "model_drift_basis": self.details.get("model_drift_basis"), "drifted": self.details.get("drifted", []),
                "evidence": list(self.evidence), "files": self.details.get("files", {})}
