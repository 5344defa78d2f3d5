"""Project configuration: YAML in, a validated, frozen object out.

The whole file is validated before any work starts. Every problem is reported
with the file, the key path, what is allowed and, for a misspelt key, what was
probably meant; the exit code is 78 (EX_CONFIG).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lowops import secrets
from lowops.errors import ConfigError
from lowops.windows import FREQUENCIES

DEFAULT_CONFIG = Path("config") / "lowops.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Variables whose values are credentials by their name: their values are masked in every message.
_SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PWD", re.I)
# \Z, not $: "$" also matches before a trailing newline, and "churn\n" is no safe name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    url: str
    retries: int = Field(default=3, ge=1, le=20)
    retry_backoff: float = Field(default=1.0, ge=0, le=300)


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


class LabelsConfig(_Section):
    sql: str
    target: str

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
    windows: int = Field(default=3, ge=2, le=1000)
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
    counterfactual_rows: int = Field(default=10_000, ge=100, le=10_000_000)
    seed: int = 0


class ModelDriftConfig(_Section):
    absolute_tolerance: float | None = Field(default=0.02, ge=0)
    relative_tolerance: float | None = Field(default=None, ge=0, le=1)
    backfill_windows: int = Field(default=6, ge=0, le=1000)


class SweetvizConfig(_Section):
    enabled: bool = True
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

NOTIFY_EVENTS = ("drift", "model_drift", "retrained", "promoted", "pending_approval", "rejected",
                 "smoke_failed", "rolled_back", "pipeline_failed")


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
    events: tuple[Literal["drift", "model_drift", "retrained", "promoted", "pending_approval", "rejected",
                      "smoke_failed", "rolled_back", "pipeline_failed"], ...] = NOTIFY_EVENTS
    retries: int = Field(default=3, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    command: CommandChannel | None = None


class IntegrityConfig(_Section):
    """The optional HMAC key that signs every model version (kept outside the repository)."""

    hmac_key_file: str | None = None  # a 0600 file owned by the runner, outside the repository
    hmac_key_env: str | None = None   # or an environment variable holding the key

    @model_validator(mode="after")
    def _one(self) -> IntegrityConfig:
        if self.hmac_key_file and self.hmac_key_env:
            raise ValueError("given one key only: hmac_key_file or hmac_key_env, not both")
        return self


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

    @field_validator("entity_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("a plain column name (letters, digits, '_')")
        return value


class Project:
    """A loaded project: its directory, its validated config and where it came from."""

    def __init__(self, root: Path, config_path: Path, config: Config, raw: dict[str, Any],
                 warnings: list[str]) -> None:
        self.root = root
        self.config_path = config_path
        self.config = config
        self.raw = raw
        self.warnings = warnings

    def path(self, relative: str) -> Path:
        """Resolve a path from the config against the project directory."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.root / candidate

    @property
    def repo(self) -> Path:
        return self.path(self.config.repository)

    def section_hash(self, *sections: str) -> str:
        """A stable digest of some config sections (what defines a model, say)."""
        dumped = self.config.model_dump(mode="json", by_alias=True)
        chosen = {name: dumped[name] for name in sections} if sections else dumped
        chosen.pop("database", None)  # never hash (or store) credentials
        blob = json.dumps(chosen, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def lock_wait(self) -> float:
        env = os.environ.get("LOWOPS_LOCK_WAIT")
        if env is None or env == "":
            return self.config.lock.wait_seconds
        try:
            return max(float(env), 0.0)
        except ValueError:
            raise ConfigError(
                f"The environment variable LOWOPS_LOCK_WAIT must be a number of seconds. Got {env!r} instead."
            ) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            mark = key_node.start_mark
            raise ConfigError(
                f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: "
                f"duplicate key {key!r}; each key may appear once in a mapping."
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping  # type: ignore[arg-type]
)


def _expand(value: Any, where: str, file: Path) -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string value."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}" if where else str(k), file) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", file) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        # As in the shell, ${VAR:-default} takes the default when VAR is unset or empty.
        if default is not None and not value:
            return default
        if value is not None:
            if _SECRET_NAME.search(name):
                secrets.register(value)  # ${DB_PASSWORD}, ${HOOK_TOKEN}…: masked wherever it would appear
            return value
        raise ConfigError(
            f"{file}: key '{where}' uses the environment variable {name}, which is not set; "
            f"export {name} or write ${{{name}:-default}}."
        )

    return _ENV_REF.sub(substitute, value)


def _register_url_secrets(value: Any) -> None:
    if isinstance(value, dict):
        for inner in value.values():
            _register_url_secrets(inner)
    elif isinstance(value, list):
        for inner in value:
            _register_url_secrets(inner)
    elif isinstance(value, str) and "://" in value:
        secrets.register_url(value)


def _describe_error(error: dict[str, Any], file: Path, known: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        parent_path = [str(p) for p in error["loc"][:-1]]
        allowed = _allowed_keys(parent_path)
        key = str(error["loc"][-1])
        guess = difflib.get_close_matches(key, allowed, n=1)
        hint = f" Did you mean '{'.'.join([*parent_path, guess[0]])}'?" if guess else ""
        return (f"{file}: unknown key '{loc}'.{hint} Allowed keys here: {', '.join(sorted(allowed))}.")
    if kind == "missing":
        return f"{file}: missing key '{loc}'; add it (see config/lowops.yaml in a new `lowops init` project)."
    got = secrets.redact(repr(error.get("input")))
    message = error["msg"]
    for prefix, replacement in (("Value error, ", ""), ("Input should be ", ""), ("Input ", "")):
        if message.startswith(prefix):
            message = replacement + message[len(prefix):]
            break
    else:
        message = "valid: " + message[0].lower() + message[1:]
    return f"{file}: the '{loc}' parameter must be {message}. Got {got} instead."


def _allowed_keys(path: list[str]) -> list[str]:
    model: type[BaseModel] = Config
    for part in path:
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None)
        annotation = getattr(field, "annotation", None)
        # An optional section (X | None) lists X's keys too.
        candidates = [annotation, *typing.get_args(annotation)]
        found = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if found is None:
            return []
        model = found
    return [f.alias or name for name, f in model.model_fields.items()]


def _literal_password(raw: dict[str, Any]) -> bool:
    url = ((raw.get("database") or {}) if isinstance(raw.get("database"), dict) else {}).get("url")
    if not isinstance(url, str):
        return False
    match = re.match(r"^[^:/]+://[^:/@]*:([^@]+)@", url)
    return bool(match) and "${" not in match.group(1)


def find_project_root(start: Path) -> Path:
    """The project directory: ``start`` itself (no searching upwards: cron must be explicit)."""
    return start.resolve()


def load_project(project_dir: Path | None = None, config_file: Path | None = None) -> Project:
    """Load and validate a project's configuration.

    Args:
        project_dir: the project directory (default: the current directory).
        config_file: the YAML file (default: ``<project_dir>/config/lowops.yaml``).

    Returns:
        The loaded :class:`Project`.

    Raises:
        ConfigError: the file is missing, not YAML, or not a valid configuration.
    """
    root = find_project_root(project_dir or Path.cwd())
    path = Path(config_file) if config_file else root / DEFAULT_CONFIG
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise ConfigError(
            f"No configuration at {path}; run `lowops init DIR` to create a project, "
            "or pass -C/--project DIR or -c/--config FILE."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}.") from exc
    try:
        loader = _UniqueKeyLoader(text)  # a SafeLoader: no tags that build Python objects
        loader.name = str(path)  # so every error mark names the file
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc.problem or exc}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}.") from None
    if raw is None:
        raise ConfigError(f"{path} is empty; start from the config/lowops.yaml of `lowops init`.")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys. Got {type(raw).__name__} instead.")
    warnings = []
    if _literal_password(raw):
        warnings.append(
            f"{path}: database.url holds a literal password; put it in the environment and "
            "write ${DB_PASSWORD} instead."
        )
    expanded = _expand(raw, "", path)
    _register_url_secrets(expanded)  # before validation: its messages may quote a URL
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        lines = [_describe_error(err, path, expanded) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    secrets.register_url(config.database.url)
    if config.windows.timezone != "UTC":
        from lowops.windows import parse_window

        try:
            parse_window("2025", tz=config.windows.timezone)
        except ConfigError:
            raise ConfigError(
                f"{path}: the 'windows.timezone' parameter must be an IANA time zone such as "
                f"Europe/Paris. Got {config.windows.timezone!r} instead."
            ) from None
    for name in config.features.exclude:
        if name == config.entity_key:
            raise ConfigError(f"{path}: 'features.exclude' must not name the entity key {name!r}.")
    assert FREQUENCIES  # the Literal above mirrors windows.FREQUENCIES
    return Project(root, path, config, expanded, warnings)
