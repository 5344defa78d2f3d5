"""Turning config and data into a scikit-learn pipeline: the estimator allow-list, its parameters, preprocessing."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import pandas as pd

from lowops.errors import ConfigError
from lowops.model.allowlist import permits


def split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns, decided by dtype."""
    numeric, categorical = [], []
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(str(column))
        else:
            categorical.append(str(column))
    return numeric, categorical


def estimator_class(path: str, allowed: tuple[str, ...], config_file: object, task: str | None = None) -> type:
    """Import an estimator class named in config, only from the allowed packages.

    With ``task``, the class must also do it: a classifier must give probabilities
    (``predict_proba``), a regressor predictions (``predict``); a transformer does
    neither, and a classifier is no regressor (nor the other way round).

    Raises:
        ConfigError: not allowed, not importable, not an estimator, or not one for ``task``.
    """
    if not permits(path, allowed):
        raise ConfigError(
            f"{config_file}: the 'model.estimator.class' parameter must come from "
            f"{', '.join(allowed)} (model.allowed_modules). Got {path!r} instead; list its package under "
            "model.allowed_modules to allow it."
        )
    cls = _import_class(path, config_file)
    if not isinstance(cls, type) or not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
        raise ConfigError(
            f"{config_file}: 'model.estimator.class' {path!r} is not a scikit-learn style estimator "
            "(it needs fit and get_params)."
        )
    if task in _TASKS:
        _check_task(cls, path, task, config_file)
    return cls


def _import_class(path: str, config_file: object) -> Any:
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except ImportError as exc:
        raise ConfigError(
            f"{config_file}: the 'model.estimator.class' parameter must be an importable class. "
            f"Got {path!r} instead ({exc}); check the module's name, and that its package is installed."
        ) from None
    except AttributeError as exc:
        # A misspelt class is the usual cause: name the module's closest class.
        close = difflib.get_close_matches(class_name, [n for n in dir(module) if n[:1].isupper()], n=1)
        hint = f" Did you mean '{module_name}.{close[0]}'?" if close else ""
        raise ConfigError(
            f"{config_file}: the 'model.estimator.class' parameter must be an importable class. "
            f"Got {path!r} instead ({exc}).{hint}"
        ) from None


# What each task needs of the class, the task it would suit instead, and an example for the message.
_TASKS = {
    "classification": ("a classifier", "predict_proba", "regression",
                       "sklearn.ensemble.HistGradientBoostingClassifier"),
    "regression": ("a regressor", "predict", "classification", "sklearn.ensemble.HistGradientBoostingRegressor"),
}


def _check_task(cls: type, path: str, task: str, config_file: object) -> None:
    """The class does the configured task: it has the method scoring calls, and is not of the other kind.

    Raises:
        ConfigError: a transformer, a regressor under classification or a classifier under regression.
    """
    from sklearn.base import ClassifierMixin, RegressorMixin

    kind, needs, other, example = _TASKS[task]
    # The mixins are how scikit-learn (and the packages built on it) say which kind an estimator is.
    other_kind = issubclass(cls, RegressorMixin if task == "classification" else ClassifierMixin)
    fix = (f", which is {_TASKS[other][0]}: choose {kind} or set model.task: {other}." if other_kind
           else f": choose {kind} (e.g. {example}).")
    if not hasattr(cls, needs):
        raise ConfigError(f"{config_file}: the 'model.estimator.class' parameter must be {kind} for model.task "
                          f"{task!r} (it needs {needs}). Got {path!r} instead{fix}")
    if other_kind:
        raise ConfigError(f"{config_file}: the 'model.estimator.class' parameter must be {kind} for model.task "
                          f"{task!r}. Got {path!r} instead{fix}")


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
