"""What ``model.search`` tried, as the model card keeps it: every candidate and the one chosen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One parameter setting a search tried, and its cross-validation scores of the primary metric."""

    params: dict[str, Any]  # as model.search.params names them (no pipeline prefix)
    mean: float
    std: float
    scores: tuple[float, ...]
    rank: int  # 1: the best

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "mean": self.mean, "std": self.std, "scores": list(self.scores),
                "rank": self.rank}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(params=dict(data["params"]), mean=float(data["mean"]), std=float(data["std"]),
                   scores=tuple(float(s) for s in data["scores"]), rank=int(data["rank"]))


@dataclass(frozen=True)
class Search:
    """What ``model.search`` tried: every candidate's CV score, and the one chosen (refit on all training rows)."""

    kind: str  # grid | random
    metric: str
    folds: int
    chosen: int  # index into candidates
    candidates: tuple[Candidate, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "folds": self.folds, "chosen": self.chosen,
                "candidates": [c.to_dict() for c in self.candidates]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Search:
        return cls(kind=str(data["kind"]), metric=str(data["metric"]), folds=int(data["folds"]),
                   chosen=int(data["chosen"]), candidates=tuple(Candidate.from_dict(c) for c in data["candidates"]))
