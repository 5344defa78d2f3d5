"""Turning config and data into a scikit-learn pipeline, and a model into its schema contract."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd

from lowops.errors import ConfigError, DataError


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns, decided by dtype."""
    numeric, categorical = [], []
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(str(column))
        else:
            categorical.append(str(column))
    return numeric, categorical


def estimator_class(path: str, allowed: tuple[str, ...], config_file: object) -> type:
    """Import an estimator class named in config, only from the allowed packages.

    Raises:
        ConfigError: not allowed, not importable, or not an estimator.
    """
    if not any(path == prefix or path.startswith(prefix.rstrip(".") + ".") for prefix in allowed):
        raise ConfigError(
            f"{config_file}: the 'model.estimator.class' parameter must come from "
            f"{', '.join(allowed)} (model.allowed_modules). Got {path!r} instead."
        )
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{config_file}: the 'model.estimator.class' parameter must be an importable class. "
            f"Got {path!r} instead ({exc})."
        ) from None
    if not isinstance(cls, type) or not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
        raise ConfigError(
            f"{config_file}: 'model.estimator.class' {path!r} is not a scikit-learn style estimator "
            "(it needs fit and get_params)."
        )
    return cls


# Estimators that still take ``n_jobs`` but ignore it (and warn at fit when it is set).
_N_JOBS_IGNORED = {"LogisticRegression"}


def build_estimator(cls: type, params: dict[str, Any], random_state: int, n_jobs: int,
                    config_file: object) -> Any:
    """Instantiate the estimator; bad parameter names become a ConfigError."""
    try:
        estimator = cls(**params)
    except TypeError as exc:
        valid = sorted(cls().get_params()) if _default_constructible(cls) else []
        raise ConfigError(
            f"{config_file}: 'model.estimator.params' does not fit {cls.__name__}: {exc}. "
            f"Valid parameters: {', '.join(valid)}."
        ) from None
    names = estimator.get_params()
    extra = {}
    if "random_state" in names and "random_state" not in params:
        extra["random_state"] = random_state
    if "n_jobs" in names and "n_jobs" not in params and cls.__name__ not in _N_JOBS_IGNORED:
        extra["n_jobs"] = n_jobs
    return estimator.set_params(**extra) if extra else estimator


def _default_constructible(cls: type) -> bool:
    try:
        cls()
    except Exception:  # noqa: BLE001 - only deciding whether to list parameters
        return False
    return True


def build_pipeline(estimator: Any, numeric: list[str], categorical: list[str]) -> Any:
    """Preprocessing from the schema (impute + scale, impute + one-hot) before the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if numeric:
        transformers.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]), numeric))
    if categorical:
        transformers.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            # Unknown categories encode as all zeros; score counts them per run.
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), categorical))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", pre), ("estimator", estimator)])


def prepare_categoricals(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as plain object arrays with None for missing (what the imputer wants)."""
    if not categorical:
        return frame
    frame = frame.copy()
    for column in categorical:
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None)
    return frame


def schema_contract(frame: pd.DataFrame, numeric: list[str], categorical: list[str],
                    max_categories: int = 1000) -> dict[str, Any]:
    """What the model expects of its input: columns, kinds, categories seen, numeric ranges."""
    columns = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        finite = values[np.isfinite(values)]
        columns.append({
            "name": column, "kind": "numeric", "dtype": str(frame[column].dtype),
            "min": float(finite.min()) if len(finite) else None,
            "max": float(finite.max()) if len(finite) else None,
            "missing_rate": float(values.isna().mean()) if len(values) else 0.0,
        })
    for column in categorical:
        counts = frame[column].astype(object).dropna().astype(str).value_counts()
        columns.append({
            "name": column, "kind": "categorical", "dtype": str(frame[column].dtype),
            "categories": sorted(counts.index[:max_categories].tolist()),
            "missing_rate": float(frame[column].isna().mean()) if len(frame) else 0.0,
        })
    return {"columns": columns}


def check_contract(frame: pd.DataFrame, contract: dict[str, Any], where: str) -> dict[str, Any]:
    """Check incoming data against a model's contract; return counts for the run log.

    Raises:
        DataError: a column is missing, or a numeric column holds text.
    """
    missing = [c["name"] for c in contract["columns"] if c["name"] not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: column(s) {', '.join(repr(m) for m in missing)} required by the model are "
            "missing; restore them in the feature SQL or retrain the model without them."
        )
    stats: dict[str, Any] = {"unknown_categories": {}, "missing_values": {}}
    for column in contract["columns"]:
        name = column["name"]
        values = frame[name]
        if column["kind"] == "numeric" and not (
                pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)):
            coerced = pd.to_numeric(values, errors="coerce")
            bad = int((coerced.isna() & values.notna()).sum())
            if bad:
                example = values[coerced.isna() & values.notna()].iloc[0]
                raise DataError(
                    f"{where}: column '{name}' must be numeric but {bad} value(s) are not "
                    f"(e.g. {str(example)[:40]!r}); fix the source or the feature SQL."
                )
        n_missing = int(values.isna().sum())
        if n_missing:
            stats["missing_values"][name] = n_missing
        if column["kind"] == "categorical":
            known = set(column.get("categories", []))
            present = values.dropna().astype(str)
            unknown = int((~present.isin(known)).sum())
            if unknown:
                stats["unknown_categories"][name] = unknown
    return stats


def unknown_rate_error(where: str, column: str, unknown: int, rows: int, threshold: float,
                       example: object = None) -> DataError:
    """The error for a column with too many categories the model never saw (exit 65)."""
    seen = f", e.g. {str(example)[:40]!r}" if example is not None else ""
    return DataError(
        f"{where}: column '{column}' has unknown_rate {unknown / rows:.4f} ({unknown} of {rows} values are "
        f"categories the model never saw{seen}), above features.max_unknown_rate {threshold:g}; retrain on "
        "recent windows (lowops retrain) or raise features.max_unknown_rate."
    )


class ContractCheck:
    """A window's rows checked chunk by chunk against a model's schema contract, before they are stored.

    A missing column fails at the first chunk; text in a numeric column and the
    share of unknown categories are counted over the whole window and judged by
    :meth:`finish`, so a message reports the window's totals.
    """

    def __init__(self, contract: dict[str, Any], where: str, max_unknown_rate: float) -> None:
        self.contract = contract
        self.where = where
        self.max_unknown_rate = max_unknown_rate
        self.rows = 0
        self.bad: dict[str, tuple[int, object]] = {}
        self.unknown: dict[str, tuple[int, object]] = {}

    def update(self, frame: pd.DataFrame) -> None:
        """Count one chunk's problems.

        Raises:
            DataError: a column the model needs is missing.
        """
        if not len(frame):  # an empty window (or chunk) may not carry every mart's columns
            return
        missing = [c["name"] for c in self.contract["columns"] if c["name"] not in frame.columns]
        if missing:
            raise DataError(
                f"{self.where}: column(s) {', '.join(repr(m) for m in missing)} required by the model are "
                "missing; restore them in the feature SQL or retrain the model without them."
            )
        self.rows += len(frame)
        for column in self.contract["columns"]:
            name, values = column["name"], frame[column["name"]]
            if column["kind"] == "numeric" and not (
                    pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)):
                wrong = pd.to_numeric(values, errors="coerce").isna() & values.notna()
                if wrong.any():
                    count, example = self.bad.get(name, (0, values[wrong].iloc[0]))
                    self.bad[name] = (count + int(wrong.sum()), example)
            elif column["kind"] == "categorical":
                present = values.dropna().astype(str)
                unseen = present[~present.isin(set(column.get("categories", [])))]
                if len(unseen):
                    count, example = self.unknown.get(name, (0, unseen.iloc[0]))
                    self.unknown[name] = (count + len(unseen), example)

    def finish(self) -> None:
        """Judge the whole window.

        Raises:
            DataError: a numeric column holds text, or a column's unknown_rate passes the threshold.
        """
        for name, (count, example) in self.bad.items():
            raise DataError(
                f"{self.where}: column '{name}' must be numeric but {count} value(s) are not "
                f"(e.g. {str(example)[:40]!r}); fix the source or the feature SQL."
            )
        for name, (count, example) in self.unknown.items():
            if self.rows and count / self.rows > self.max_unknown_rate:
                raise unknown_rate_error(self.where, name, count, self.rows, self.max_unknown_rate, example)
