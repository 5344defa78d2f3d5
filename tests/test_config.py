"""lowops.config.load_project: YAML in, a validated frozen Config out, or exit 78 naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import set_config

from lowops.config import load_project
from lowops.errors import ConfigError
from lowops.io.templates import templates_root

TEMPLATE = (templates_root() / "config" / "lowops.yaml").read_text(encoding="utf-8")

MINIMAL = """\
database:
  url: sqlite:///store.sqlite
entity_key: customer_id
features:
  marts:
    profile: sql/profile.sql
labels:
  sql: sql/labels.sql
  target: churned
model:
  name: churn
  estimator:
    class: sklearn.linear_model.LogisticRegression
"""

PASSWORD = "hunter2-S3cret"


def edit(text: str, old: str, new: str) -> str:
    """Replace ``old`` (which must be there: a template change must not make a test vacuous)."""
    assert old in text, f"{old!r} not in the config text"
    return text.replace(old, new, 1)


def write(root: Path, text: str) -> Path:
    (root / "config").mkdir(parents=True, exist_ok=True)
    path = root / "config" / "lowops.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(root: Path, text: str) -> ConfigError:
    path = write(root, text)
    with pytest.raises(ConfigError) as excinfo:
        load_project(root)
    error = excinfo.value
    assert error.exit_code == 78
    assert str(error) == error.message
    assert str(path) in error.message or "duplicate key" in error.message
    return error


# --------------------------------------------------------------------------- defaults


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    project = load_project(tmp_path)
    cfg = project.config
    assert project.root == tmp_path.resolve()
    assert project.config_path == tmp_path / "config" / "lowops.yaml"
    assert project.warnings == []
    assert cfg.project == "lowops"
    assert cfg.repository == "repo" and project.repo == tmp_path.resolve() / "repo"
    assert (cfg.database.retries, cfg.database.retry_backoff) == (3, 1.0)
    assert (cfg.windows.frequency, cfg.windows.timezone, cfg.windows.label_delay) == ("monthly", "UTC", 0)
    assert cfg.features.exclude == ()
    assert cfg.model.task == "classification"
    assert cfg.model.allowed_modules == ("sklearn",)
    assert cfg.model.random_state == 42 and cfg.model.search is None
    assert cfg.model.estimator.params == {}
    assert (cfg.train.windows, cfg.train.cv_folds, cfg.train.primary_metric, cfg.train.threshold) == (
        3, 3, "roc_auc", 0.5)
    assert (cfg.compute.engine, cfg.compute.chunk_rows, cfg.compute.n_jobs) == ("local", 50_000, -1)
    assert cfg.lock.wait_seconds == 0
    assert project.lock_wait() == 0


def test_the_shipped_template_loads_as_documented(tmp_path: Path) -> None:
    write(tmp_path, TEMPLATE)
    project = load_project(tmp_path)
    cfg = project.config
    assert cfg.database.url == "sqlite:///demo/store.sqlite"  # the ${LOWOPS_DB_URL:-...} default
    assert cfg.project == "churn-demo"
    assert dict(cfg.features.marts) == {"profile": "sql/profile.sql", "usage": "sql/usage.sql",
                                        "billing": "sql/billing.sql"}
    assert cfg.model.name == "churn"
    assert cfg.model.estimator.class_ == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert cfg.model.estimator.params == {"max_iter": 150, "learning_rate": 0.08, "max_leaf_nodes": 31}
    assert project.path("sql/usage.sql") == tmp_path.resolve() / "sql" / "usage.sql"
    assert project.path("/abs/x.sql") == Path("/abs/x.sql")


def test_config_is_frozen(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    cfg = load_project(tmp_path).config
    with pytest.raises(Exception, match="frozen"):
        cfg.train.windows = 5  # type: ignore[misc]


def test_explicit_config_file_and_missing_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.yaml"
    other.write_text(edit(MINIMAL, "name: churn", "name: other-model"), encoding="utf-8")
    assert load_project(tmp_path, other).config.model.name == "other-model"
    with pytest.raises(ConfigError) as excinfo:
        load_project(tmp_path / "nowhere")
    assert excinfo.value.exit_code == 78
    assert f"No configuration at {tmp_path / 'nowhere' / 'config' / 'lowops.yaml'}" in str(excinfo.value)
    assert "lowops init DIR" in str(excinfo.value)


def test_section_hash_is_stable_and_ignores_the_database(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    first = load_project(tmp_path).section_hash()
    write(tmp_path, edit(MINIMAL, "sqlite:///store.sqlite", "sqlite:///other.sqlite"))
    assert load_project(tmp_path).section_hash() == first
    write(tmp_path, MINIMAL + "train:\n  windows: 4\n")
    assert load_project(tmp_path).section_hash() != first


# --------------------------------------------------------------------------- environment


def test_env_var_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOWOPS_TEST_DBFILE", "/data/store.sqlite")
    monkeypatch.setenv("LOWOPS_TEST_TZ", "Europe/Paris")
    write(tmp_path, edit(MINIMAL, "sqlite:///store.sqlite", "sqlite://${LOWOPS_TEST_DBFILE}")
          + "windows:\n  timezone: ${LOWOPS_TEST_TZ}\n")
    project = load_project(tmp_path)
    assert project.config.database.url == "sqlite:///data/store.sqlite"
    assert project.config.windows.timezone == "Europe/Paris"


def test_env_var_default_used_when_unset_and_ignored_when_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOWOPS_TEST_URL", raising=False)
    text = edit(MINIMAL, "sqlite:///store.sqlite", "${LOWOPS_TEST_URL:-sqlite:///fallback.sqlite}")
    write(tmp_path, text)
    assert load_project(tmp_path).config.database.url == "sqlite:///fallback.sqlite"
    monkeypatch.setenv("LOWOPS_TEST_URL", "sqlite:///from-env.sqlite")
    assert load_project(tmp_path).config.database.url == "sqlite:///from-env.sqlite"


def test_env_var_default_used_when_set_but_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ${VAR:-default} is the shell's syntax, and in the shell (and docker compose) ':-'
    # means "unset OR empty"; cron files often carry VAR= lines.
    monkeypatch.setenv("LOWOPS_TEST_URL", "")
    write(tmp_path, edit(MINIMAL, "sqlite:///store.sqlite", "${LOWOPS_TEST_URL:-sqlite:///fallback.sqlite}"))
    assert load_project(tmp_path).config.database.url == "sqlite:///fallback.sqlite"


def test_env_var_inside_a_list_and_several_in_one_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOWOPS_TEST_COL", "secret_score")
    monkeypatch.setenv("LOWOPS_TEST_A", "sqlite:")
    monkeypatch.setenv("LOWOPS_TEST_B", "x.sqlite")
    write(tmp_path, edit(MINIMAL, "sqlite:///store.sqlite", "${LOWOPS_TEST_A}///${LOWOPS_TEST_B}")
          .replace("    profile: sql/profile.sql\n", "    profile: sql/profile.sql\n  exclude: ['${LOWOPS_TEST_COL}']\n"))
    cfg = load_project(tmp_path).config
    assert cfg.features.exclude == ("secret_score",)
    assert cfg.database.url == "sqlite:///x.sqlite"


def test_missing_env_var_names_variable_and_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOWOPS_TEST_NOPE", raising=False)
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(MINIMAL, "name: churn", "name: ${LOWOPS_TEST_NOPE}"))
    assert error.message == (
        f"{path}: key 'model.name' uses the environment variable LOWOPS_TEST_NOPE, which is not set; "
        "export LOWOPS_TEST_NOPE or write ${LOWOPS_TEST_NOPE:-default}."
    )


def test_lock_wait_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL + "lock:\n  wait_seconds: 12\n")
    project = load_project(tmp_path)
    assert project.lock_wait() == 12
    monkeypatch.setenv("LOWOPS_LOCK_WAIT", "2.5")
    assert project.lock_wait() == 2.5
    monkeypatch.setenv("LOWOPS_LOCK_WAIT", "soon")
    with pytest.raises(ConfigError, match=r"LOWOPS_LOCK_WAIT must be a number of seconds\. Got 'soon' instead"):
        project.lock_wait()


# --------------------------------------------------------------------------- YAML level


def test_duplicate_key_reports_its_line(tmp_path: Path) -> None:
    text = edit(TEMPLATE, "  retries: 3 ", "  retries: 3\n  retries: 4 ")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  retries: 4 "))
    error = load_error(tmp_path, text)
    assert f"line {line}, column 3: duplicate key 'retries'" in error.message
    assert "each key may appear once in a mapping" in error.message


def test_duplicate_key_error_names_the_file(tmp_path: Path) -> None:
    # Every config error names the file (STYLE §4); the YAML is parsed from a string,
    # so the mark says "<unicode string>" instead of the path.
    path = write(tmp_path, MINIMAL + "entity_key: other\n")
    with pytest.raises(ConfigError) as excinfo:
        load_project(tmp_path)
    assert "duplicate key 'entity_key'" in excinfo.value.message
    assert str(path) in excinfo.value.message
    assert "<unicode string>" not in excinfo.value.message


def test_python_tags_are_rejected_and_never_run(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    sentinel = tmp_path / "pwned"
    root = tmp_path / "proj"
    path = write(root, TEMPLATE + f"\nextra: !!python/object/apply:os.system ['touch {sentinel}']\n")
    with pytest.raises(ConfigError) as excinfo:
        load_project(root)
    assert excinfo.value.exit_code == 78
    assert str(path) in excinfo.value.message
    assert "python/object/apply:os.system" in excinfo.value.message
    assert "not valid YAML" in excinfo.value.message
    result = cli(root, "validate")
    assert result.exit_code == 78
    assert result.stderr.startswith(f"Error: {path}, line ")
    assert not sentinel.exists()


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, MINIMAL + "project: [unclosed\n")
    assert error.message.startswith(f"{path}, line ")
    assert ", column " in error.message and "not valid YAML" in error.message


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "~\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, text)
    assert error.message == f"{path} is empty; start from the config/lowops.yaml of `lowops init`."


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, text)
    assert error.message == f"{path}: the top level must be a mapping of keys. Got {kind} instead."


# --------------------------------------------------------------------------- schema


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(TEMPLATE, "\nmodel:\n", "\nmodle:\n"))
    assert f"{path}: unknown key 'modle'. Did you mean 'model'? Allowed keys here: " in error.message
    allowed = error.message.split("unknown key 'modle'")[1].split("Allowed keys here: ")[1].split(".")[0]
    assert {"database", "entity_key", "features", "labels", "model", "train", "windows"} <= set(
        allowed.split(", "))
    # the real section is now missing too, and both are reported at once
    assert f"{path}: missing key 'model'" in error.message


def test_unknown_nested_key_suggests_the_full_path(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(TEMPLATE, "  primary_metric:", "  primary_metirc:"))
    assert error.message.startswith(f"{path}: unknown key 'train.primary_metirc'. Did you mean "
                                    "'train.primary_metric'? Allowed keys here: ")
    allowed = error.message.split("Allowed keys here: ")[1].rstrip(".").split(", ")
    assert allowed == sorted(allowed)
    assert {"cv_folds", "primary_metric", "threshold", "windows"} <= set(allowed)
    assert len(error.message.splitlines()) == 1


def test_unknown_key_without_a_close_match_lists_what_is_allowed(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "lock:\n  zzz: 1\n")
    assert "unknown key 'lock.zzz'. Allowed keys here: wait_seconds." in error.message
    assert "Did you mean" not in error.message


def test_unknown_key_in_an_optional_section_suggests_too(tmp_path: Path) -> None:
    # model.search is optional (SearchConfig | None); its keys must be listed like any section's.
    text = edit(MINIMAL, "  estimator:\n",
                "  search:\n    knd: grid\n    params: {C: [0.1, 1.0]}\n  estimator:\n")
    error = load_error(tmp_path, text)
    assert "unknown key 'model.search.knd'. Did you mean 'model.search.kind'?" in error.message
    assert "Allowed keys here: kind, n_iter, params." in error.message


def test_wrong_type_names_key_path_and_value(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(TEMPLATE, "  windows: 3 ", '  windows: "three" '))
    assert error.message.startswith(f"{path}: the 'train.windows' parameter must be ")
    assert "valid integer" in error.message
    assert error.message.endswith("Got 'three' instead.")


def test_out_of_range_value_names_key_path_bound_and_value(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(TEMPLATE, "  windows: 3 ", "  windows: 0 "))
    assert error.message.startswith(f"{path}: the 'train.windows' parameter must be ")
    assert "greater than or equal to 1" in error.message
    assert error.message.endswith("Got 0 instead.")


def test_value_errors_read_as_one_sentence(tmp_path: Path) -> None:
    # The sklearn form (STYLE §4): "The 'x' parameter must be Z. Got W instead." -- pydantic's
    # own "Input should be ..." must not be pasted after "must be".
    error = load_error(tmp_path, edit(TEMPLATE, "  windows: 3 ", '  windows: "three" '))
    assert "must be input should be" not in error.message.lower()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edit(edit(TEMPLATE, "  windows: 3 ", "  windows: 0 "), "  cv_folds: 3 ", "  cv_folds: 99 ")
    error = load_error(tmp_path, text)
    assert "'train.windows'" in error.message and "Got 0 instead." in error.message
    assert "'train.cv_folds'" in error.message and "Got 99 instead." in error.message
    assert len(error.message.splitlines()) == 2


def test_literal_choice_lists_the_allowed_values(tmp_path: Path) -> None:
    error = load_error(tmp_path, edit(TEMPLATE, "frequency: monthly", "frequency: hourly"))
    assert "'windows.frequency'" in error.message
    assert "'daily', 'weekly', 'monthly', 'quarterly' or 'yearly'" in error.message
    assert "Got 'hourly' instead." in error.message


@pytest.mark.parametrize("name", ["../x", "a/b", "-lead", "", "x" * 65, "churn model"])
def test_unsafe_model_name_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(MINIMAL, "name: churn", f"name: '{name}'"))
    assert error.message == (
        f"{path}: the 'model.name' parameter must be a name of 1-64 letters, digits, '_' or '-' "
        f"that starts with a letter or digit. Got {name!r} instead."
    )


def test_missing_required_section(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, edit(MINIMAL, "entity_key: customer_id\n", ""))
    assert error.message.startswith(f"{path}: missing key 'entity_key'; add it")


def test_unknown_timezone(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    error = load_error(tmp_path, MINIMAL + "windows:\n  timezone: Mars/Olympus_Mons\n")
    assert error.message == (f"{path}: the 'windows.timezone' parameter must be an IANA time zone such as "
                             "Europe/Paris. Got 'Mars/Olympus_Mons' instead.")


def test_exclude_must_not_name_the_entity_key(tmp_path: Path) -> None:
    path = tmp_path / "config" / "lowops.yaml"
    text = edit(MINIMAL, "    profile: sql/profile.sql\n", "    profile: sql/profile.sql\n  exclude: [customer_id]\n")
    error = load_error(tmp_path, text)
    assert error.message == f"{path}: 'features.exclude' must not name the entity key 'customer_id'."


# --------------------------------------------------------------------------- secrets


def test_literal_password_warns_without_repeating_it(tmp_path: Path) -> None:
    path = write(tmp_path, edit(MINIMAL, "sqlite:///store.sqlite", f"postgresql://lowops:{PASSWORD}@db.internal/dwh"))
    project = load_project(tmp_path)
    assert project.warnings == [
        f"{path}: database.url holds a literal password; put it in the environment and "
        "write ${DB_PASSWORD} instead."
    ]
    assert PASSWORD not in " ".join(project.warnings)


def test_password_from_environment_does_not_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOWOPS_TEST_PW", PASSWORD)
    write(tmp_path, edit(MINIMAL, "sqlite:///store.sqlite", "postgresql://lowops:${LOWOPS_TEST_PW}@db.internal/dwh"))
    project = load_project(tmp_path)
    assert project.warnings == []
    assert project.config.database.url == f"postgresql://lowops:{PASSWORD}@db.internal/dwh"


def test_literal_password_absent_from_a_later_config_failure(tmp_path: Path) -> None:
    text = edit(MINIMAL, "sqlite:///store.sqlite", f"postgresql://lowops:{PASSWORD}@db.internal/dwh")
    error = load_error(tmp_path, edit(text, "  url:", "  retries: 0\n  url:"))
    assert "'database.retries'" in error.message
    assert PASSWORD not in error.message


def test_password_in_a_misplaced_url_is_not_echoed(tmp_path: Path) -> None:
    # `database:` written as the URL itself instead of a mapping: the message quotes the
    # value it got, and that value holds the password (visible as is with --debug).
    text = edit(MINIMAL, "database:\n  url: sqlite:///store.sqlite\n",
                f"database: postgresql://lowops:{PASSWORD}@db.internal/dwh\n")
    error = load_error(tmp_path, text)
    assert "'database'" in error.message
    assert PASSWORD not in error.message


def test_literal_password_never_printed_by_a_failing_command(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    config = set_config(project, {"database": {
        "url": f"postgresql+psycopg://lowops:{PASSWORD}@127.0.0.1:1/dwh?connect_timeout=2",
        "retries": 1, "retry_backoff": 0}})
    result = cli(project, "validate")
    assert result.exit_code == 69, result.output
    assert result.stderr.startswith(f"warning: {config}: database.url holds a literal password")
    assert "Error: Database postgresql+psycopg://lowops:***@127.0.0.1:1/dwh" in result.stderr
    assert PASSWORD not in result.output
    assert not (project / "repo" / "logs").exists() or PASSWORD not in "".join(
        p.read_text() for p in (project / "repo" / "logs").rglob("*") if p.is_file())
