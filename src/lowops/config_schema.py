"""The configuration's schema: one frozen pydantic model per section of ``lowops.yaml``.

Each field's default is the documented default; validators hold the rules a
type cannot say (plain identifiers, dotted import paths, a time zone). Loading,
variable expansion and error messages are in :mod:`lowops.config`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# \Z, not $: "$" also matches before a trailing newline, and "churn\n" is no safe name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


class _Section(BaseModel):
    # allow_inf_nan: a threshold of .inf or a bound of .nan would switch a check off silently.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatabaseConfig(_Section):
    url: str
    retries: int = Field(default=3, ge=1, le=20)
    retry_backoff: float = Field(default=1.0, ge=0, le=300)
    connect_timeout: float = Field(default=10.0, gt=0, le=3600)
    statement_timeout: float = Field(default=1800.0, gt=0, le=86400)


class WindowsConfig(_Section):
    frequency: Literal["daily", "weekly", "monthly", "quarterly", "yearly"] = "monthly"
    timezone: str = "UTC"
    label_delay: int = Field(default=0, ge=0, le=1000)


class FeaturesConfig(_Section):
    marts: dict[str, str] = Field(min_length=1)
    exclude: tuple[str, ...] = ()
    # Share of a categorical column's values that the live model never saw (they
    # encode as all zeros: OneHotEncoder handle_unknown="ignore"); above it, exit 65.
    max_unknown_rate: float = Field(default=0.05, ge=0, le=1)

    @field_validator("exclude")
    @classmethod
    def _plain_columns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _IDENT.match(name):
                raise ValueError("a plain column name (letters, digits, '_')")
        return value

    @field_validator("marts")
    @classmethod
    def _mart_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"a mart name made of letters, digits, '_' or '-' (got {name!r})")
        return value


# The primary metrics a multiclass model can be judged on (macro averages over its classes).
MULTICLASS_METRICS = ("roc_auc", "f1", "accuracy", "log_loss")


class LabelsConfig(_Section):
    sql: str
    target: str
    # Classification: the negative and the positive class, as labels.sql returns them; three or more
    # values make it multiclass (every class the labels may hold, in the order scores and files list them).
    classes: tuple[int | str, ...] = (0, 1)

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: tuple[int | str, ...]) -> tuple[int | str, ...]:
        if len(value) < 2 or len(set(value)) != len(value):
            raise ValueError("two different values, the negative class first (or three or more different "
                             "values for multiclass)")
        return value

    @property
    def multiclass(self) -> bool:
        return len(self.classes) > 2

    @field_validator("target")
    @classmethod
    def _plain(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("a plain column name (letters, digits, '_')")
        return value


class EstimatorConfig(_Section):
    class_: str = Field(alias="class")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("class_")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$", value):
            raise ValueError("a dotted import path such as sklearn.ensemble.HistGradientBoostingClassifier")
        return value


class SearchConfig(_Section):
    kind: Literal["grid", "random"] = "grid"
    params: dict[str, list[Any]] = Field(min_length=1)
    n_iter: int = Field(default=10, ge=1, le=10_000)


class ModelConfig(_Section):
    name: str
    task: Literal["classification", "regression"] = "classification"
    estimator: EstimatorConfig
    allowed_modules: tuple[str, ...] = ("sklearn",)
    random_state: int = 42
    search: SearchConfig | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "a name of 1-64 letters, digits, '_' or '-' that starts with a letter or digit"
            )
        return value


CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")


class TrainConfig(_Section):
    windows: int = Field(default=3, ge=1, le=1000)
    holdout_share: float = Field(default=0.2, gt=0, lt=1)
    cv_folds: int = Field(default=3, ge=0, le=20)
    primary_metric: Literal[
        "roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "log_loss",
        "rmse", "mae", "r2", "mape",
    ] = "roc_auc"
    threshold: float = Field(default=0.5, gt=0, lt=1)


class DaskConfig(_Section):
    """Where ``compute.engine: dask`` runs: an existing scheduler, or a local cluster."""

    address: str | None = None  # tcp://scheduler:8786; None: a LocalCluster on this server
    n_workers: int | None = Field(default=None, ge=1, le=1024)  # local cluster only; None: one per core
    threads_per_worker: int = Field(default=1, ge=1, le=1024)  # local cluster only
    connect_timeout: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("address")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(tcp|tls|ws|wss|ucx|inproc)://\S+$", value):
            raise ValueError("a scheduler address such as tcp://scheduler.internal:8786 (or null for a "
                             "local cluster)")
        return value


class ComputeConfig(_Section):
    engine: Literal["local", "dask"] = "local"
    chunk_rows: int = Field(default=50_000, ge=100, le=10_000_000)
    n_jobs: int = -1
    dask: DaskConfig = DaskConfig()


class LockConfig(_Section):
    wait_seconds: float = Field(default=0, ge=0, le=86_400)


# --- monitoring: data drift, impact, model drift, Sweetviz (stages/monitor.py) ---

class DriftThresholds(_Section):
    """Where each statistic starts to mean drift (the decision method's is the one that decides)."""

    median_shift: float = Field(default=0.1, gt=0)     # |median_cur - median_ref| / IQR_ref
    psi: float = Field(default=0.1, gt=0)              # population stability index
    ks_pvalue: float = Field(default=0.05, gt=0, lt=1)  # drift when the KS p-value is below
    wasserstein: float = Field(default=0.1, gt=0)      # Wasserstein-1 / reference standard deviation
    jensen_shannon: float = Field(default=0.1, gt=0, le=1)
    chi2_pvalue: float = Field(default=0.05, gt=0, lt=1)
    missing_rate: float = Field(default=0.05, gt=0, le=1)  # absolute change of the missing share
    prediction_psi: float = Field(default=0.1, gt=0)   # PSI of the score distribution


class ImpactConfig(_Section):
    combine: Literal["max", "sum"] = "max"
    threshold: float = Field(default=0.01, gt=0)
    counterfactual_threshold: float = Field(default=0.01, gt=0)
    # The counterfactual sample grows from a pilot until the standard error of each drifted
    # feature's mean |score change| is at most this share of max(that change, counterfactual_threshold),
    # up to counterfactual_rows rows.
    counterfactual_precision: float = Field(default=0.1, gt=0, le=1)
    counterfactual_rows: int = Field(default=10_000, ge=100, le=10_000_000)
    seed: int = 0


class ModelDriftConfig(_Section):
    # A drop beyond noise_sigmas standard errors (bootstrap) of the difference is model drift;
    # the tolerances are floors under it (null: none). noise_sigmas null: the tolerances alone.
    noise_sigmas: float | None = Field(default=3.0, gt=0, le=100)
    bootstrap: int = Field(default=200, ge=20, le=100_000)
    absolute_tolerance: float | None = Field(default=None, ge=0)
    relative_tolerance: float | None = Field(default=None, ge=0, le=1)
    backfill_windows: int = Field(default=6, ge=0, le=1000)


class SweetvizConfig(_Section):
    enabled: bool = True
    # attention: only windows with drift that matters or model drift (where a person looks);
    # always: every window. Any window's report on demand: lowops report --sweetviz W.
    when: Literal["attention", "always"] = "attention"
    max_rows: int = Field(default=5000, ge=100, le=10_000_000)
    reference_rows: int = Field(default=5000, ge=100, le=10_000_000)


class DriftConfig(_Section):
    enabled: bool = True
    reference: Literal["training", "previous", "baseline"] = "training"
    baseline_window: str | None = None
    numeric_method: Literal["median_shift", "psi", "ks", "wasserstein"] = "median_shift"
    categorical_method: Literal["psi", "jensen_shannon", "chi2"] = "psi"
    thresholds: DriftThresholds = DriftThresholds()
    psi_bins: int = Field(default=10, ge=2, le=1000)
    sketch_size: int = Field(default=1000, ge=10, le=100_000)
    max_categories: int = Field(default=1000, ge=1, le=100_000)
    impact: ImpactConfig = ImpactConfig()
    model_drift: ModelDriftConfig = ModelDriftConfig()
    sweetviz: SweetvizConfig = SweetvizConfig()

    @model_validator(mode="after")
    def _baseline(self) -> DriftConfig:
        if self.reference == "baseline" and not self.baseline_window:
            raise ValueError("given a baseline_window (a window label such as 2025-01) when "
                             "drift.reference is 'baseline'")
        return self


# --- continuous training: triggers, comparison, smoke test, deploy, governance, notify ---

NotifyEvent = Literal["drift", "model_drift", "prediction_drift", "retrained", "promoted", "pending_approval",
                      "rejected", "smoke_failed", "rolled_back", "pipeline_failed"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("drift", "model_drift", "prediction_drift", "retrained", "promoted",
                                          "pending_approval", "rejected", "smoke_failed", "rolled_back",
                                          "pipeline_failed")


class TriggersConfig(_Section):
    model_drift: bool = True
    data_drift: bool = True
    kpi_tolerance_benchmark: float = Field(default=0.03, ge=0, le=1)
    kpi_tolerance_recent: float = Field(default=0.02, ge=0, le=1)
    every_windows: int = Field(default=0, ge=0, le=10_000)
    config_change: bool = True


class CompareConfig(_Section):
    min_improvement: float = Field(default=0.005, ge=0, le=1)
    bootstrap: int = Field(default=1000, ge=100, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = 0
    guardrails: dict[str, float] = Field(default_factory=dict)
    resource_margin: float = Field(default=0.5, ge=0, le=100)
    latency_slack_ms: float = Field(default=5.0, ge=0, le=100_000)
    # A challenger's model file may not be larger than this (an absolute budget, not the live version's size).
    max_model_mb: float = Field(default=500.0, gt=0, le=1_000_000)
    cooldown_windows: int = Field(default=2, ge=0, le=10_000)

    @field_validator("guardrails")
    @classmethod
    def _metrics(cls, value: dict[str, float]) -> dict[str, float]:
        known = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
        for name, tolerance in value.items():
            if name not in known:
                raise ValueError(f"a mapping of metric names ({', '.join(known)}) to tolerances "
                                 f"(unknown metric {name!r})")
            if tolerance < 0:
                raise ValueError(f"tolerances of 0 or more (got {tolerance} for {name!r})")
        return value


class SmokeConfig(_Section):
    golden: Literal["sql", "holdout"] = "sql"
    golden_sql: str = "sql/golden.sql"
    sample_rows: int = Field(default=200, ge=1, le=1_000_000)
    max_ms_per_1000_rows: float = Field(default=5000, gt=0)
    max_memory_mb: float = Field(default=2048, gt=0)
    output_min: float | None = None
    output_max: float | None = None


class DeployConfig(_Section):
    mode: Literal["single", "shadow", "split"] = "single"
    split_share: float = Field(default=0.1, gt=0, lt=1)
    split_salt: str = "lowops"


class GovernanceConfig(_Section):
    promote: Literal["auto", "manual"] = "auto"


class EmailChannel(_Section):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str
    to: tuple[str, ...] = Field(min_length=1)


class WebhookChannel(_Section):
    url: str

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("an http:// or https:// URL")
        return value


class CommandChannel(_Section):
    argv: tuple[str, ...] = Field(min_length=1)


class NotifyConfig(_Section):
    events: tuple[NotifyEvent, ...] = NOTIFY_EVENTS
    retries: int = Field(default=3, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    command: CommandChannel | None = None


class IntegrityConfig(_Section):
    """The key that signs every model version and audit line (kept outside the repository)."""

    # Default (both null): ${XDG_CONFIG_HOME:-~/.config}/lowops/keys/<project>.key, made by `lowops init`.
    hmac_key_file: str | None = None  # a 0600 file owned by the runner, outside the repository
    hmac_key_env: str | None = None   # or an environment variable holding the key
    previous_key_files: tuple[str, ...] = ()  # after a rotation: keys that still verify what they signed
    # Versions saved before skops are pickles (model.joblib), loaded only when the key vouches for them;
    # false refuses them all, so not even a holder of the key can pass a pickle off as an old version.
    load_pickles: bool = True

    @model_validator(mode="after")
    def _one(self) -> IntegrityConfig:
        if self.hmac_key_file and self.hmac_key_env:
            raise ValueError("given one key only: hmac_key_file or hmac_key_env, not both")
        return self


class RetentionConfig(_Section):
    """What ``lowops gc`` keeps besides what it never removes; its --keep-* flags override these."""

    keep_windows: int | None = Field(default=None, ge=0, le=1_000_000)  # null: 90 daily ... 3 yearly (per grain)
    keep_versions: int = Field(default=10, ge=1, le=1_000_000)  # at least 1: the newest version always stays


class ExportConfig(_Section):
    """Metrics for the dashboards a team already watches, written at the end of every run."""

    prometheus_textfile: str | None = None  # e.g. /var/lib/node_exporter/textfile/lowops.prom
    sql_table: str | None = None            # a table of the project's database, created when missing

    @field_validator("prometheus_textfile")
    @classmethod
    def _prom(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith(".prom"):
            raise ValueError("a path ending in .prom (node_exporter's textfile collector reads no other file)")
        return value

    @field_validator("sql_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not _IDENT.match(value):
            raise ValueError("a plain table name (letters, digits, '_')")
        return value


class Config(_Section):
    project: str = "lowops"
    database: DatabaseConfig
    repository: str = "repo"
    windows: WindowsConfig = WindowsConfig()
    entity_key: str
    features: FeaturesConfig
    labels: LabelsConfig
    model: ModelConfig
    train: TrainConfig = TrainConfig()
    compute: ComputeConfig = ComputeConfig()
    lock: LockConfig = LockConfig()
    drift: DriftConfig = DriftConfig()
    triggers: TriggersConfig = TriggersConfig()
    compare: CompareConfig = CompareConfig()
    smoke: SmokeConfig = SmokeConfig()
    deploy: DeployConfig = DeployConfig()
    governance: GovernanceConfig = GovernanceConfig()
    notify: NotifyConfig = NotifyConfig()
    integrity: IntegrityConfig = IntegrityConfig()
    retention: RetentionConfig = RetentionConfig()
    export: ExportConfig = ExportConfig()

    @field_validator("entity_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("a plain column name (letters, digits, '_')")
        return value
