"""The click layer: help on every command, lazy imports, exit codes and exact error messages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import PATIENCE, copy_project, invoke, set_config

from lowops.cli import LAZY_SUBCOMMANDS
from lowops.cli import cli as root


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand the CLI offers, found the way click finds them."""
    ctx = click.Context(root)
    paths: list[tuple[str, ...]] = [()]
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        assert command is not None, name
        paths.append((name,))
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, parent=ctx)
            paths.extend((name, sub) for sub in command.list_commands(sub_ctx))
    return paths


COMMANDS = command_paths()
GROUPS = {(), ("models",)}


def test_every_lazy_and_models_subcommand_is_listed() -> None:
    listed = {path for path in COMMANDS}
    assert {(name,) for name in LAZY_SUBCOMMANDS} <= listed
    assert {("models", "list"), ("models", "show"), ("models", "diff")} <= listed


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "lowops")
def test_help(path: tuple[str, ...]) -> None:
    result = invoke(None, *path, "--help", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stderr == ""
    text = result.stdout
    assert text.startswith(f"Usage: lowops {' '.join(path)}".rstrip())
    assert "Example:" in text
    example = text.split("Example:", 1)[1]
    assert f"lowops {' '.join(path)}".rstrip() in example  # the example shows this very command
    if path not in GROUPS and path != ("init",):
        assert "-C, --project DIRECTORY" in text and "-c, --config FILE" in text


def test_short_help_flag() -> None:
    assert invoke(None, "-h").stdout == invoke(None, "--help").stdout


def test_version() -> None:
    from lowops import __version__

    result = invoke(None, "--version", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == f"lowops, version {__version__}\n"


def test_unknown_command_is_a_usage_error() -> None:
    result = invoke(None, "trian")
    assert result.exit_code == 2
    assert "No such command 'trian'" in result.stderr


HEAVY = ("pandas", "sklearn", "numpy")
IMPORT_PROBE = textwrap.dedent("""
    import json, sys
    from lowops.cli import main
    for argv in {argvs!r}:
        sys.argv = argv
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), (argv, exc.code)
    print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
""")


def test_root_help_imports_no_heavy_library() -> None:
    code = IMPORT_PROBE.format(argvs=[["lowops", "--help"]], heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    assert "Usage: lowops" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_every_help_imports_no_heavy_library() -> None:
    argvs = [["lowops", *path, "--help"] for path in COMMANDS]
    code = IMPORT_PROBE.format(argvs=argvs, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Example:") == len(COMMANDS)
    assert json.loads(done.stdout.splitlines()[-1]) == []


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(("label", "detail"), [
    ("2025-13", "month 13 is not between 01 and 12; expected YYYY-MM-DD"),
    ("March", "expected YYYY-MM-DD (daily, e.g. 2025-03-15)"),
    ("2025-3", "expected YYYY-MM-DD"),
])
def test_bad_window_label(project: Path, label: str, detail: str) -> None:
    result = invoke(project, "run", "--window", label)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: Invalid window '{label}': {detail}")
    assert not (project / "repo").exists()


def test_window_of_another_frequency(project: Path) -> None:
    result = invoke(project, "extract", "--window", "2025-W10")
    assert result.exit_code == 2
    assert result.stderr == ("Error: Window '2025-W10' is weekly but the project's windows are monthly "
                             "(windows.frequency in config).\n")


@pytest.mark.parametrize("args", [
    ["run", "--window", "2099-01"],
    ["score", "--window", "2099-01"],
    ["extract", "--window", "2099-01"],
    ["train", "--window", "2099-01"],
    ["backfill", "--from", "2025-01", "--to", "2099-01"],
])
def test_future_window(project: Path, args: list[str]) -> None:
    result = invoke(project, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Window '2099-01' starts in the future (2099-01-01T00:00:00Z, now is ")
    assert "the latest complete window is " in result.stderr
    assert not (project / "repo").exists()


def test_backfill_from_after_to(project: Path) -> None:
    result = invoke(project, "backfill", "--from", "2025-06", "--to", "2025-01")
    assert result.exit_code == 2
    assert result.stderr == "Error: --from 2025-06 is after --to 2025-01; swap them.\n"


# --------------------------------------------------------------------------- models


def test_models_show_unknown_version(ran_project: Path) -> None:
    result = invoke(ran_project, "models", "show", "v9999")
    assert result.exit_code == 2
    assert result.stderr == "Error: Model 'churn' has no version 'v9999'; versions: v0001.\n"


def test_models_diff_unknown_version(ran_project: Path) -> None:
    result = invoke(ran_project, "models", "diff", "v0001", "v0007")
    assert result.exit_code == 2
    assert result.stderr == "Error: Model 'churn' has no version 'v0007'; versions: v0001.\n"


def test_models_list_on_a_new_project(project: Path) -> None:
    result = invoke(project, "models", "list", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == "No versions of 'churn' yet; run `lowops train` or `lowops run`.\n"
    assert json.loads(invoke(project, "models", "list", "--json").stdout) == []


def test_score_before_any_training(project: Path) -> None:
    result = invoke(project, "score", "--window", "2025-03")
    assert result.exit_code == 78
    assert result.stderr.endswith("Error: No version of model 'churn' is live yet; run `lowops train` first.\n")
    assert not (project / "repo" / "outputs").exists()


def test_project_option_after_the_command(project: Path) -> None:
    result = invoke(None, "models", "list", "-C", str(project), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_missing_project(tmp_path: Path) -> None:
    result = invoke(tmp_path / "nowhere", "validate")
    assert result.exit_code == 78
    assert result.stderr == (f"Error: No configuration at {tmp_path / 'nowhere' / 'config' / 'lowops.yaml'}; "
                             "run `lowops init DIR` to create a project, or pass -C/--project DIR or "
                             "-c/--config FILE.\n")


# --------------------------------------------------------------------------- validate


def sql_lines(project: Path) -> list[str]:
    return [
        f"sql      {project / 'sql' / 'profile.sql'}: compiles, 7 columns",
        f"sql      {project / 'sql' / 'usage.sql'}: compiles, 7 columns",
        f"sql      {project / 'sql' / 'billing.sql'}: compiles, 5 columns",
        f"sql      {project / 'sql' / 'labels.sql'}: compiles, 2 columns",
    ]


def test_validate_demo(demo_template: Path) -> None:
    result = invoke(demo_template, "validate", catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"config   {demo_template / 'config' / 'lowops.yaml'}: ok",
        "model    sklearn.ensemble.HistGradientBoostingClassifier: imports, a classifier for model.task "
        "'classification'",
        f"database sqlite:///{demo_template / 'demo' / 'store.sqlite'}: answers",
        *sql_lines(demo_template),
        f"sql      {demo_template / 'sql' / 'golden.sql'}: compiles, 17 columns (smoke.golden_sql)",
        "ready",
    ]
    assert not (demo_template / "repo").exists()  # validate writes nothing


def test_validate_with_explicit_config_file(project: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved.yaml"
    (project / "config" / "lowops.yaml").rename(moved)
    result = invoke(project, "-c", str(moved), "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"config   {moved}: ok"


def test_validate_missing_sql_file(project: Path) -> None:
    (project / "sql" / "usage.sql").unlink()
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr == (f"Error: The SQL file {project / 'sql' / 'usage.sql'} named by "
                             "'features.marts.usage' does not exist; create it or fix the path.\n")


def test_validate_unreachable_database(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no" / "such.sqlite"
    monkeypatch.setenv("LOWOPS_DB_URL", f"sqlite:///{missing}")
    result = invoke(project, "validate")
    assert result.exit_code == 69
    assert result.stderr == (f"Error: Database sqlite:///{missing} does not exist; check 'database.url' "
                             "(for the demo store run `lowops init` or scripts/demo.sh).\n")
    assert not missing.exists()  # not created by trying to open it


def test_validate_bad_database_url(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOWOPS_DB_URL", "not a url")
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr == ("Error: The 'database.url' parameter must be a SQLAlchemy URL such as "
                             "sqlite:///demo/store.sqlite. Got 'not a url' instead.\n")


@pytest.mark.parametrize(("sql", "problem"), [
    ("SELECT customer_id FROM usage_monthly; SELECT 1", "holds several statements; keep one SELECT per file."),
    ("UPDATE usage_monthly SET dropped_calls = 0", "must be a single read-only SELECT (or WITH … SELECT) query."),
    ("WITH x AS (SELECT 1) DELETE FROM usage_monthly", "must be a single read-only SELECT (or WITH … SELECT) query."),
    ("SELECT customer_id FROM usage_monthly; DROP TABLE usage_monthly;",
     "holds several statements; keep one SELECT per file."),
    ("-- nothing but a comment\n", "holds no query."),
])
def test_validate_refuses_non_select_sql(project: Path, sql: str, problem: str) -> None:
    path = project / "sql" / "usage.sql"
    path.write_text(sql)
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr == f"Error: The SQL file {path} ('features.marts.usage') {problem}\n"


def test_validate_refuses_unknown_parameters(project: Path) -> None:
    path = project / "sql" / "billing.sql"
    path.write_text("SELECT customer_id FROM billing_monthly WHERE month >= :window_start AND customer_id > :min_id")
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr == (f"Error: The SQL file {path} ('features.marts.billing') uses the parameter(s) "
                             ":min_id; only :window_start and :window_end are bound. Write a literal colon "
                             "as \\: .\n")


def test_validate_accepts_literals_and_comments_that_look_like_writes(project: Path) -> None:
    path = project / "sql" / "billing.sql"
    path.write_text(
        "-- delete me? no: update the docs; drop nothing\n"
        "SELECT customer_id, monthly_charge, 'update; drop' AS note\n"
        "FROM billing_monthly\n"
        "WHERE month >= :window_start AND month < :window_end;\n"
    )
    result = invoke(project, "validate")
    assert result.exit_code == 0, result.output
    assert f"sql      {path}: compiles, 3 columns" in result.stdout.splitlines()


def test_validate_accepts_the_replace_function(project: Path) -> None:
    # REPLACE(str, from, to) is a read-only string function in SQLite, PostgreSQL and MySQL.
    path = project / "sql" / "profile.sql"
    path.write_text(
        "SELECT customer_id, REPLACE(plan, '-', '_') AS plan, contract, tenure_months\n"
        "FROM customer_profile\n"
        "WHERE month >= :window_start AND month < :window_end\n"
    )
    result = invoke(project, "validate")
    assert result.exit_code == 0, result.output
    assert f"sql      {path}: compiles, 4 columns" in result.stdout.splitlines()


def test_validate_query_without_entity_key(project: Path) -> None:
    path = project / "sql" / "billing.sql"
    path.write_text("SELECT monthly_charge FROM billing_monthly WHERE month >= :window_start AND month < :window_end")
    result = invoke(project, "validate")
    assert result.exit_code == 65
    assert result.stderr == (f"Error: The query {path} (features.marts.billing) returns no 'customer_id' "
                             "column (entity_key in config).\n")


def test_validate_query_with_unknown_table(project: Path) -> None:
    set_config(project, {"database": {"retry_backoff": 0}})  # the failure is retried: do not sleep between attempts
    path = project / "sql" / "billing.sql"
    path.write_text("SELECT customer_id FROM billing_monthy WHERE month >= :window_start")
    result = invoke(project, "validate")
    # The SQL file is at fault, not the database: 78 naming the file, and cron does not retry it.
    assert result.exit_code == 78
    assert result.stderr == (f"Error: The SQL file {path} failed on sqlite:///{project / 'demo' / 'store.sqlite'}: "
                             "no such table: billing_monthy; fix the query (`lowops validate` runs every query on "
                             "an empty window).\n")


def test_validate_unknown_config_key(project: Path) -> None:
    config = project / "config" / "lowops.yaml"
    config.write_text(config.read_text().replace("\ntrain:\n", "\ntrian:\n", 1))
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr.startswith(f"Error: {config}: unknown key 'trian'. Did you mean 'train'? Allowed keys here: ")
    assert result.stdout == ""


@pytest.mark.parametrize(("model", "problem"), [
    ({"estimator": {"class": "sklearn.ensemble.HistGradientBoostingClasifier", "params": {}}},
     "must be an importable class. Got 'sklearn.ensemble.HistGradientBoostingClasifier' instead (module "
     "'sklearn.ensemble' has no attribute 'HistGradientBoostingClasifier'). Did you mean "
     "'sklearn.ensemble.HistGradientBoostingClassifier'?"),
    ({"estimator": {"class": "sklearn.ensembl.HistGradientBoostingClassifier", "params": {}}},
     "must be an importable class. Got 'sklearn.ensembl.HistGradientBoostingClassifier' instead (No module "
     "named 'sklearn.ensembl'); check the module's name, and that its package is installed."),
    ({"estimator": {"class": "xgboost.XGBClassifier", "params": {}}},
     "must come from sklearn (model.allowed_modules). Got 'xgboost.XGBClassifier' instead; list its package "
     "under model.allowed_modules to allow it."),
    ({"estimator": {"class": "sklearn.ensemble.HistGradientBoostingRegressor", "params": {}}},
     "must be a classifier for model.task 'classification' (it needs predict_proba). Got "
     "'sklearn.ensemble.HistGradientBoostingRegressor' instead, which is a regressor: choose a classifier or set "
     "model.task: regression."),
    ({"task": "regression"},
     "must be a regressor for model.task 'regression'. Got 'sklearn.ensemble.HistGradientBoostingClassifier' "
     "instead, which is a classifier: choose a regressor or set model.task: classification."),
])
def test_validate_checks_the_estimator(project: Path, model: dict[str, object], problem: str) -> None:
    config = set_config(project, {"model": model})
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stdout == f"config   {config}: ok\n"  # before the database is asked anything
    assert result.stderr == f"Error: {config}: the 'model.estimator.class' parameter {problem}\n"


def test_validate_checks_the_estimators_parameters(project: Path) -> None:
    config = set_config(project, {"model": {"estimator": {"params": {"max_iterr": 40}}}})
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr.startswith(f"Error: {config}: 'model.estimator.params' does not fit "
                                    "HistGradientBoostingClassifier: ")
    assert "got an unexpected keyword argument 'max_iterr'. Valid parameters: " in result.stderr
    assert result.stderr.count("\n") == 1


def test_validate_accepts_an_allowed_regressor(project: Path) -> None:
    set_config(project, {"model": {"task": "regression", "estimator": {
        "class": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}}, "train": {"primary_metric": "rmse"}})
    result = invoke(project, "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == ("model    sklearn.linear_model.Ridge: imports, a regressor for "
                                             "model.task 'regression'")


def test_validate_runs_the_golden_sample_query(project: Path) -> None:
    set_config(project, {"database": {"retry_backoff": 0}})
    golden = project / "sql" / "golden.sql"
    golden.write_text(golden.read_text().replace("    u.data_gb,\n", "    u.data_gbb,\n"))
    result = invoke(project, "validate")
    # Found by validate, not when a retrained version's switch fails its smoke test.
    assert result.exit_code == 78
    assert result.stdout.splitlines()[-1] == f"sql      {project / 'sql' / 'labels.sql'}: compiles, 2 columns"
    assert result.stderr == (f"Error: The SQL file {golden} failed on sqlite:///{project / 'demo' / 'store.sqlite'}: "
                             "no such column: u.data_gbb; fix the query (`lowops validate` runs every query on "
                             "an empty window).\n")


def test_validate_checks_the_configured_golden_sql_file(project: Path) -> None:
    moved = project / "sql" / "smoke" / "sample.sql"
    moved.parent.mkdir()
    (project / "sql" / "golden.sql").rename(moved)
    assert invoke(project, "validate").stderr == (
        f"Error: The SQL file {project / 'sql' / 'golden.sql'} named by 'smoke.golden_sql' does not exist; "
        "create it or fix the path.\n")
    set_config(project, {"smoke": {"golden_sql": "sql/smoke/sample.sql"}})
    result = invoke(project, "validate")
    assert result.exit_code == 0, result.output
    assert f"sql      {moved}: compiles, 17 columns (smoke.golden_sql)" in result.stdout.splitlines()
    moved.write_text("DELETE FROM churn_labels")
    refused = invoke(project, "validate")
    assert refused.exit_code == 78
    assert refused.stderr == (f"Error: The SQL file {moved} ('smoke.golden_sql') must be a single read-only SELECT "
                              "(or WITH … SELECT) query.\n")


def test_validate_leaves_the_golden_sql_alone_when_smoke_uses_the_hold_out(project: Path) -> None:
    (project / "sql" / "golden.sql").unlink()
    set_config(project, {"smoke": {"golden": "holdout"}})
    result = invoke(project, "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2:] == [f"sql      {project / 'sql' / 'labels.sql'}: compiles, 2 columns",
                                               "ready"]


def test_debug_shows_the_traceback(project: Path) -> None:
    (project / "sql" / "usage.sql").unlink()
    result = invoke(project, "--debug", "validate")
    from lowops.errors import ConfigError

    assert isinstance(result.exception, ConfigError)
    assert "named by 'features.marts.usage' does not exist" in str(result.exception)


# --------------------------------------------------------------------------- init and lock


def test_init_refuses_an_existing_project(demo_template: Path, tmp_path: Path) -> None:
    target = copy_project(demo_template, tmp_path / "p")
    before = (target / "config" / "lowops.yaml").read_bytes()
    result = invoke(None, "init", str(target), "--no-demo")
    assert result.exit_code == 78
    assert result.stderr == (f"Error: {target} already holds config, sql, pipelines, crontab.example; choose an "
                             "empty directory (lowops init never overwrites a project).\n")
    assert (target / "config" / "lowops.yaml").read_bytes() == before


def test_init_without_demo(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    result = invoke(None, "init", str(target), "--no-demo", "--json", catch_exceptions=False)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["project"] == str(target)
    assert data["demo_rows"] == {}
    assert sorted(Path(f).name for f in data["files"]) == ["config", "crontab.example", "pipelines", "sql"]
    assert sorted(p.name for p in (target / "sql").iterdir()) == [
        "billing.sql", "charge_labels.sql", "golden.sql", "labels.sql", "profile.sql", "usage.sql"]
    assert sorted(p.name for p in (target / "config").iterdir()) == ["lowops.yaml", "two-models.yaml"]
    assert not (target / "demo").exists()
    assert (target / "pipelines" / "daily.sh").stat().st_mode & 0o111


def test_init_makes_the_projects_integrity_key_outside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "runner-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    key = config / "lowops" / "keys" / "churn-demo.key"
    result = invoke(None, "init", str(tmp_path / "first"), "--no-demo")
    assert result.exit_code == 0, result.output
    assert (f"created integrity key {key} (mode 0600; back it up: without it no version of this project is "
            "trusted)") in result.stdout.splitlines()
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    secret = key.read_bytes()
    assert len(secret.strip()) == 64 and secret not in result.output.encode()
    # A second checkout of the same project keeps the key, so it verifies what the first signed.
    again = invoke(None, "init", str(tmp_path / "second"), "--no-demo", "--json")
    assert json.loads(again.stdout)["key"] == str(key) and json.loads(again.stdout)["key_created"] is False
    assert key.read_bytes() == secret


LOCK_HOLDER = """
import sys
from pathlib import Path
from lowops.io.lock import repository_lock
with repository_lock(Path(sys.argv[1]), command="lowops backfill --from 2025-01 --to 2025-12"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_run_while_another_process_holds_the_lock(project: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(project / "repo")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = invoke(project, "run", "--window", "2025-03")
        assert result.exit_code == 75
        assert result.stderr.startswith(
            f"Error: Repository {project / 'repo'} is locked by pid {holder.pid} running "
            "`lowops backfill --from 2025-01 --to 2025-12` since ")
        assert result.stderr.endswith("; try again later (set LOWOPS_LOCK_WAIT=SECONDS to wait for it).\n")
        assert sorted(p.name for p in (project / "repo").iterdir()) == [".lock"]
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=PATIENCE)


@pytest.mark.parametrize("command", ["retrain", "promote", "rollback", "smoke", "approve", "reject"])
def test_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(root, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and f"lowops {command}" in result.output
    assert "-C, --project DIR" in result.output and "--json" in result.output


def test_a_reader_that_stops_early_is_no_error(ran_project: Path, lowops_bin: Path) -> None:
    # `lowops status | head -1`: the reader closed the pipe before lowops wrote; nothing to report.
    import subprocess

    child = subprocess.Popen([str(lowops_bin), "-C", str(ran_project), "status"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    stderr = child.stderr.read()
    assert child.wait(timeout=PATIENCE) == 0
    assert stderr == b""
