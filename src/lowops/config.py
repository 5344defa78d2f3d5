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
from lowops.config_schema import Config
from lowops.errors import ConfigError
from lowops.windows import FREQUENCIES

DEFAULT_CONFIG = Path("config") / "lowops.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Variables whose values are credentials by their name: their values are masked in every message.
_SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PWD", re.I)


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


# A config file is a few hundred nodes; these bound what a hostile or broken one can cost
# (an alias "bomb" expands exponentially, a 20,000-deep file exhausts the stack).
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one), deep nesting, and
    documents whose aliases expand past :data:`MAX_YAML_NODES` nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # node id -> nodes it stands for once aliases are expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ConfigError(f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: nested more than "
                                  f"{MAX_YAML_DEPTH} levels deep; a lowops config is a few levels of keys.")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and id(node) not in self._sizes:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            size = 1 + sum(self._sizes.get(id(child), 1) for child in children)
            if size > MAX_YAML_NODES:
                raise ConfigError(f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: its aliases (*name) "
                                  f"expand to more than {MAX_YAML_NODES:,} values; write the values out instead.")
            self._sizes[id(node)] = size
        return node


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
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
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
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


def _describe_error(error: Mapping[str, Any], file: Path, known: dict[str, Any]) -> str:
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
    assert FREQUENCIES  # config_schema's Literal mirrors windows.FREQUENCIES
    return Project(root, path, config, expanded, warnings)
