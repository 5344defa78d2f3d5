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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lowops import secrets
from lowops.config_schema import MULTICLASS_METRICS, Config
from lowops.config_yaml import UniqueKeyLoader
from lowops.errors import ConfigError, UsageError
from lowops.windows import FREQUENCIES

DEFAULT_CONFIG = Path("config") / "lowops.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Variables whose values are credentials by their name: their values are masked in every message.
_SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PWD", re.I)


# What each entry of a `models:` list may set; the rest (database, repository, windows, compute, lock,
# integrity, retention, export) is the project's and shared by its models.
MODEL_SECTIONS = ("entity_key", "features", "labels", "model", "train", "drift", "triggers", "compare", "smoke",
                  "deploy", "governance", "notify")


class Project:
    """A loaded project: its directory, its validated config and where it came from.

    A project with a ``models:`` list holds one validated config per model
    (``models``, in the file's order); ``for_model`` gives the project as one
    model sees it, whose repository is its own directory under ``repository``.
    A project without the list has one model and keeps ``repository`` itself.
    """

    def __init__(self, root: Path, config_path: Path, config: Config, raw: dict[str, Any],
                 warnings: list[str], models: dict[str, Config] | None = None,
                 model_dir: str | None = None) -> None:
        self.root = root
        self.config_path = config_path
        self.config = config
        self.raw = raw
        self.warnings = warnings
        self.models = models  # None: no `models:` list
        self.model_dir = model_dir

    @property
    def model_names(self) -> list[str]:
        """The project's models, in the config's order."""
        return list(self.models) if self.models is not None else [self.config.model.name]

    @property
    def several(self) -> bool:
        """The config has a `models:` list (each model then has its own repository directory)."""
        return self.models is not None

    def for_model(self, name: str | None, *, how: str = "--model NAME") -> Project:
        """The project as its model ``name`` sees it (``None``: the only one).

        Raises:
            UsageError: ``name`` is None and the project has several models (``how`` says how to name one),
                or the project has no model ``name``.
        """
        names = self.model_names
        if name is None:
            if len(names) > 1:
                raise UsageError(f"{self.config_path} has several models ({', '.join(names)}); say which with {how}.")
            name = names[0]
        if name not in names:
            raise UsageError(f"no model {name!r} in {self.config_path}; its models: {', '.join(names)}.")
        if self.models is None:
            return self
        return Project(self.root, self.config_path, self.models[name], self.raw, self.warnings,
                       models=self.models, model_dir=name)

    def path(self, relative: str) -> Path:
        """Resolve a path from the config against the project directory."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.root / candidate

    @property
    def repo(self) -> Path:
        """The repository this model writes: ``repository``, or its model's directory under it."""
        base = self.path(self.config.repository)
        return base / self.model_dir if self.model_dir else base

    @property
    def shared_repo(self) -> Path:
        """``repository`` itself (which holds the models' directories in a project with several)."""
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


def _describe_error(error: Mapping[str, Any], file: Path | str, known: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        parent_path = [str(p) for p in error["loc"][:-1]]
        allowed = _allowed_keys(parent_path) + ([] if parent_path else ["models"])
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
    return match is not None and "${" not in match.group(1)


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
        loader = UniqueKeyLoader(text)  # a SafeLoader: no tags that build Python objects
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
    if "models" not in expanded:
        config = _validate(expanded, path, str(path))
        return Project(root, path, config, expanded, warnings)
    models = {}
    for index, merged in enumerate(_model_entries(expanded, path)):
        name = merged["model"]["name"]
        models[name] = _validate(merged, path, f"{path}: models[{index}] ({name})")
    first = next(iter(models.values()))
    return Project(root, path, first, expanded, warnings, models=models)


def _model_entries(expanded: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Each entry of the `models:` list merged over the file's top-level sections.

    An entry's section is merged key by key over the top-level one (``labels: {target: x}``
    keeps ``labels.sql``); a key's value is replaced whole, nested mappings included
    (``model.estimator``, ``features.marts``, ``drift.thresholds``).
    """
    entries = expanded["models"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: the 'models' parameter must be a list of models, each a mapping with a "
                          f"name (e.g. - name: churn). Got {entries!r} instead.")
    base = {key: value for key, value in expanded.items() if key != "models"}
    merged_entries, seen = [], set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{path}: models[{index}] must be a mapping with a name (e.g. - name: churn). "
                              f"Got {entry!r} instead.")
        name = entry["name"]
        if name in seen:
            raise ConfigError(f"{path}: models[{index}]: the name {name!r} is given twice; each model needs "
                              f"its own name (it names the model's directory in the repository).")
        seen.add(name)
        unknown = sorted(set(entry) - {"name", *MODEL_SECTIONS})
        if unknown:
            key = unknown[0]
            guess = difflib.get_close_matches(key, MODEL_SECTIONS, n=1)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            shared = " It is shared by the project's models: set it at the top level." \
                if key in Config.model_fields else ""
            raise ConfigError(f"{path}: models[{index}] ({name}): unknown key '{key}'.{shared}{hint} Allowed keys "
                              f"here: {', '.join(['name', *MODEL_SECTIONS])}.")
        merged = dict(base)
        for section, value in entry.items():
            if section == "name":
                continue
            if isinstance(value, dict) and isinstance(base.get(section), dict):
                merged[section] = {**base[section], **value}
            else:
                merged[section] = value
        model = merged.get("model")
        if isinstance(model, dict):
            given = entry["model"].get("name") if isinstance(entry.get("model"), dict) else None
            if given is not None and given != name:
                raise ConfigError(f"{path}: models[{index}] ({name}): model.name is {given!r}; leave it out, "
                                  f"the entry's name is the model's name.")
            merged["model"] = {**model, "name": name}
        else:
            merged["model"] = {"name": name} if model is None else model
        merged_entries.append(merged)
    return merged_entries


def _validate(expanded: dict[str, Any], path: Path, where: str) -> Config:
    """One model's config, validated; ``where`` starts each message (the file, and the entry of `models:`)."""
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        lines = [_describe_error(err, where, expanded) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    secrets.register_url(config.database.url)
    if config.windows.timezone != "UTC":
        from lowops.windows import parse_window

        try:
            parse_window("2025", tz=config.windows.timezone)
        except ConfigError:
            raise ConfigError(
                f"{where}: the 'windows.timezone' parameter must be an IANA time zone such as "
                f"Europe/Paris. Got {config.windows.timezone!r} instead."
            ) from None
    for name in config.features.exclude:
        if name == config.entity_key:
            raise ConfigError(f"{where}: 'features.exclude' must not name the entity key {name!r}.")
    if config.model.task == "classification" and config.labels.multiclass and \
            config.train.primary_metric not in MULTICLASS_METRICS:
        raise ConfigError(f"{where}: the 'train.primary_metric' parameter must be one of "
                          f"{', '.join(MULTICLASS_METRICS)} for "
                          f"a multiclass target (labels.classes lists {len(config.labels.classes)} classes). "
                          f"Got {config.train.primary_metric!r} instead.")
    assert FREQUENCIES  # config_schema's Literal mirrors windows.FREQUENCIES
    return config
