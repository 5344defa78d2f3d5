"""The model card: what ``model.json`` says of a version, as one typed object.

Training builds a :class:`ModelCard`; the registry adds the version id and the
artifact's digest and writes :meth:`ModelCard.to_dict` as ``model.json``;
everything that reads a version reads it back through :meth:`ModelCard.from_dict`.
The JSON is unchanged by the round trip, so ``model.json`` stays what people
``cat`` and ``diff``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lowops.model.holdout import HoldoutRule
from lowops.model.search_record import Search

KINDS = ("numeric", "categorical")


class CardError(ValueError):
    """``model.json`` does not describe a model version (the registry reports it as an integrity error)."""


@dataclass(frozen=True)
class Column:
    """One input column of the model: its kind, dtype and what training saw of it."""

    name: str
    kind: str  # numeric | categorical
    dtype: str
    missing_rate: float = 0.0
    min: float | None = None  # numeric: the finite range seen in training
    max: float | None = None
    categories: tuple[str, ...] = ()  # categorical: the categories seen in training

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"

    def to_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype}
        if self.numeric:
            return {**head, "min": self.min, "max": self.max, "missing_rate": self.missing_rate}
        return {**head, "categories": list(self.categories), "missing_rate": self.missing_rate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        kind = data["kind"]
        if kind not in KINDS:
            raise CardError(f"column {data.get('name')!r} has kind {kind!r}, not one of {', '.join(KINDS)}")
        return cls(name=str(data["name"]), kind=kind, dtype=str(data.get("dtype", "")),
                   missing_rate=float(data.get("missing_rate") or 0.0),
                   min=_float_or_none(data.get("min")), max=_float_or_none(data.get("max")),
                   categories=tuple(str(c) for c in data.get("categories") or ()))


@dataclass(frozen=True)
class Contract:
    """What the model expects of its input (the ``schema`` of ``model.json``)."""

    columns: tuple[Column, ...]
    entity_key: str | None = None
    target: str | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.numeric]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.columns if not c.numeric]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"columns": [c.to_dict() for c in self.columns]}
        if self.entity_key is not None:
            data["entity_key"] = self.entity_key
        if self.target is not None:
            data["target"] = self.target
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contract:
        return cls(columns=tuple(Column.from_dict(c) for c in data["columns"]),
                   entity_key=data.get("entity_key"), target=data.get("target"))


@dataclass(frozen=True)
class DataUse:
    """One window's data versions in a training range."""

    window: str
    features: str
    labels: str

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "features": self.features, "labels": self.labels}


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: data, code, configuration and library versions."""

    data: tuple[DataUse, ...]
    train_windows: tuple[str, ...]
    holdout_window: str
    rows: dict[str, int]
    config_hash: str
    model_config_hash: str
    sql_sha256: dict[str, str]
    git: dict[str, Any]
    packages: dict[str, str | None]
    lowops: str
    holdout: HoldoutRule | None = None  # None: versions that held out the whole hold-out window

    def trained_on(self, window: str, keys: Any) -> np.ndarray:
        """Per row of ``window`` (by entity key): the version learnt this row in training.

        A version learnt a window's rows when the window is one of its training
        windows and the row's entity was not held out (versions without a hold-out
        rule: every row of a training window other than the hold-out window).
        """
        keys = np.asarray(keys)
        if window not in self.train_windows:
            return np.zeros(len(keys), dtype=bool)
        if self.holdout is None:
            return np.full(len(keys), window != self.holdout_window, dtype=bool)
        return ~self.holdout.held_out(keys)

    def to_dict(self) -> dict[str, Any]:
        data = {"data": [d.to_dict() for d in self.data], "train_windows": list(self.train_windows),
                "holdout_window": self.holdout_window, "rows": dict(self.rows), "config_hash": self.config_hash,
                "model_config_hash": self.model_config_hash, "sql_sha256": dict(self.sql_sha256),
                "git": dict(self.git), "packages": dict(self.packages), "lowops": self.lowops}
        if self.holdout is not None:
            data["holdout"] = self.holdout.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lineage:
        return cls(data=tuple(DataUse(str(d["window"]), str(d["features"]), str(d["labels"])) for d in data["data"]),
                   train_windows=tuple(data["train_windows"]), holdout_window=str(data["holdout_window"]),
                   rows={str(k): int(v) for k, v in data["rows"].items()}, config_hash=str(data["config_hash"]),
                   model_config_hash=str(data["model_config_hash"]), sql_sha256=dict(data["sql_sha256"]),
                   git=dict(data["git"]), packages=dict(data["packages"]), lowops=str(data["lowops"]),
                   holdout=HoldoutRule.from_dict(data["holdout"]) if data.get("holdout") else None)


@dataclass(frozen=True)
class Estimator:
    """The estimator as configured, and what a search chose."""

    class_: str
    params: dict[str, Any]
    random_state: int
    best_params: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.class_, "params": dict(self.params), "best_params": self.best_params,
                "random_state": self.random_state}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimator:
        return cls(class_=str(data["class"]), params=dict(data["params"]), random_state=int(data["random_state"]),
                   best_params=data.get("best_params"))


@dataclass(frozen=True)
class CrossValidation:
    metric: str
    folds: int
    mean: float | None
    std: float | None
    scores: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "folds": self.folds, "mean": self.mean, "std": self.std,
                "scores": list(self.scores)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossValidation:
        return cls(metric=str(data["metric"]), folds=int(data["folds"]), mean=_float_or_none(data.get("mean")),
                   std=_float_or_none(data.get("std")), scores=tuple(float(s) for s in data.get("scores") or ()))


@dataclass(frozen=True)
class Metrics:
    """Hold-out and cross-validation metrics, the primary metric and the decision threshold."""

    holdout: dict[str, float]
    cv: CrossValidation
    primary: str
    threshold: float
    holdout_se: dict[str, float] = field(default_factory=dict)  # bootstrap standard errors of holdout

    def to_dict(self) -> dict[str, Any]:
        data = {"holdout": dict(self.holdout), "cv": self.cv.to_dict(), "primary": self.primary,
                "threshold": self.threshold}
        if self.holdout_se:
            data["holdout_se"] = dict(self.holdout_se)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        return cls(holdout={str(k): float(v) for k, v in data["holdout"].items()},
                   cv=CrossValidation.from_dict(data["cv"]), primary=str(data["primary"]),
                   threshold=float(data["threshold"]),
                   holdout_se={str(k): float(v) for k, v in (data.get("holdout_se") or {}).items()})


@dataclass(frozen=True)
class Importance:
    method: str
    values: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "values": dict(self.values)}


@dataclass(frozen=True)
class Profile:
    """What training measured of the model's cost."""

    fit_seconds: float  # the final fit alone
    peak_rss_mb: float
    model_bytes: int
    predict_ms_per_1000_rows: float
    train_seconds: float | None = None  # the whole training (data, CV, search, importance, plots); None before

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.train_seconds is None:  # a version from before it was measured reads back as written
            del data["train_seconds"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        seconds = data.get("train_seconds")
        return cls(fit_seconds=data["fit_seconds"], peak_rss_mb=data["peak_rss_mb"], model_bytes=data["model_bytes"],
                   predict_ms_per_1000_rows=data["predict_ms_per_1000_rows"],
                   train_seconds=None if seconds is None else float(seconds))


@dataclass(frozen=True)
class Artifact:
    """The model file and its digests, recorded at registration."""

    file: str
    sha256: str
    bytes: int
    hmac_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "sha256": self.sha256, "bytes": self.bytes}
        if self.hmac_sha256 is not None:
            data["hmac_sha256"] = self.hmac_sha256
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        hmac = data.get("hmac_sha256")
        return cls(file=str(data["file"]), sha256=str(data["sha256"]), bytes=int(data["bytes"]),
                   hmac_sha256=hmac if isinstance(hmac, str) else None)


@dataclass(frozen=True)
class ModelCard:
    """Everything ``model.json`` records of one model version."""

    model: str
    task: str  # classification | regression
    created_at: str
    reason: str
    run_id: str
    estimator: Estimator
    lineage: Lineage
    metrics: Metrics
    importance: Importance
    schema: Contract
    profile: Profile
    version: str | None = None  # set by the registry
    artifact: Artifact | None = None  # set by the registry
    search: Search | None = None  # with model.search: every candidate's CV score
    # Multiclass: the classes in the labels' own values, in the order of the score columns (empty otherwise).
    classes: tuple[int | str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def classifier(self) -> bool:
        return self.task == "classification"

    @property
    def multiclass(self) -> bool:
        """Scores are one probability per class (n x k), in the order of :attr:`classes`."""
        return len(self.classes) > 2

    @property
    def threshold(self) -> float:
        """The score at or above which the predicted class is 1: the one place it is looked up."""
        return self.metrics.threshold

    @property
    def benchmark(self) -> float | None:
        """The primary metric on the version's own hold-out."""
        return self.metrics.holdout.get(self.metrics.primary)

    @property
    def label(self) -> str:
        return f"{self.model} {self.version}"

    def registered(self, version: str, artifact: Artifact) -> ModelCard:
        """This card as the registry records it under ``version``."""
        return dataclasses.replace(self, version=version, artifact=artifact)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self.extra,
            "model": self.model, "task": self.task, "created_at": self.created_at, "reason": self.reason,
            "run_id": self.run_id, "estimator": self.estimator.to_dict(), "lineage": self.lineage.to_dict(),
            "metrics": self.metrics.to_dict(), "importance": self.importance.to_dict(),
            "schema": self.schema.to_dict(), "profile": self.profile.to_dict(),
        }
        if self.version is not None:
            data["version"] = self.version
        if self.artifact is not None:
            data["artifact"] = self.artifact.to_dict()
        if self.search is not None:
            data["search"] = self.search.to_dict()
        if self.classes:
            data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        """The card of parsed ``model.json``.

        Raises:
            CardError: a field is missing or of the wrong type.
        """
        if not isinstance(data, dict):
            raise CardError(f"the top level is {type(data).__name__}, not an object")
        try:
            artifact = data.get("artifact")
            importance = data["importance"]
            return cls(
                model=str(data["model"]), task=str(data["task"]), created_at=str(data["created_at"]),
                reason=str(data.get("reason", "")), run_id=str(data.get("run_id", "-")),
                estimator=Estimator.from_dict(data["estimator"]), lineage=Lineage.from_dict(data["lineage"]),
                metrics=Metrics.from_dict(data["metrics"]),
                importance=Importance(str(importance.get("method", "")),
                                      {str(k): float(v) for k, v in (importance.get("values") or {}).items()}),
                schema=Contract.from_dict(data["schema"]),
                profile=Profile.from_dict(data["profile"]), version=data.get("version"),
                artifact=Artifact.from_dict(artifact) if isinstance(artifact, dict) else None,
                search=Search.from_dict(data["search"]) if data.get("search") is not None else None,
                classes=tuple(c if isinstance(c, (int, str)) else str(c) for c in data.get("classes") or ()),
                extra={k: v for k, v in data.items() if k not in _FIELDS},
            )
        except CardError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CardError(f"{type(exc).__name__}: {exc}") from None


_FIELDS = {f.name for f in dataclasses.fields(ModelCard)} - {"extra"}


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
