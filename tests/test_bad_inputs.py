"""RELIABILITY.md table (a): the 28 bad inputs, each through the CLI.

Every test asserts the message (or its distinctive parts), the exit code, and
that the repository is unchanged: the same files and directories with the same
bytes, except appended lines in ``logs/lowops.log``, the lock's holder record
and, for a run that failed, its own ledger ``runs/<run>.json`` with
``status: failed`` and the error (the run's record of its failure). Where an
input is not an error (an empty window, non-finite values, duplicate keys,
awkward strings, a big window) the test asserts the documented policy instead.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_project, invoke, set_config
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reliability_support import (
    april_ids,
    assert_unchanged,
    changes,
    fast_ran,
    last_log_lines,
    no_traceback,
    sign_version,
    snapshot,
    store_exec,
    store_schema,
)

FEW = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture
def ran(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy of the fast project after the 2025-01 … 2025-03 backfill (v0001 live)."""
    return copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for the hypothesis tests, whose every example must leave it unchanged."""
    return copy_project(fast_ran(tmp_path_factory), tmp_path_factory.mktemp("bad-shared") / "churn")


def cfg(project: Path) -> Path:
    return project / "config" / "lowops.yaml"


def edit_config(project: Path, old: str, new: str) -> Path:
    path = cfg(project)
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def repo(project: Path) -> Path:
    return project / "repo"


def predictions(project: Path, window: str) -> pd.DataFrame:
    (path,) = sorted((repo(project) / "outputs" / window).glob("predictions-*.csv"))
    return pd.read_csv(path, dtype={"region": str, "plan": str}, keep_default_na=False, na_values=[""])


# =========================================================================== configuration (1-7, 13)


def test_01_python_tag_is_refused_and_never_runs(ran: Path) -> None:
    path = edit_config(ran, "project: churn-demo", f'project: !!python/object/apply:os.system ["touch {ran}/PWNED"]')
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    assert result.stderr == (
        f"Error: {path}, line {line_of(path, 'PWNED')}, column 10: not valid YAML: could not determine a "
        "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'.\n")
    assert not (ran / "PWNED").exists()
    assert_unchanged(repo(ran), before)


def test_02_missing_key_and_wrong_type_name_the_key_path(ran: Path) -> None:
    path = edit_config(ran, "  target: churned\n", "")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    assert result.stderr == (f"Error: {path}: missing key 'labels.target'; add it (see config/lowops.yaml in "
                             "a new `lowops init` project).\n")
    edit_config(ran, "  windows: 3\n", "  windows: many\n")
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    assert f"Error: {path}: missing key 'labels.target'" in result.stderr
    assert (f"{path}: the 'train.windows' parameter must be a valid integer, unable to parse string as an "
            "integer. Got 'many' instead.") in result.stderr
    no_traceback(result)
    assert_unchanged(repo(ran), before)


def test_03_duplicate_key_is_refused_with_its_line(ran: Path) -> None:
    path = cfg(ran)
    path.write_text(path.read_text() + "train:\n  windows: 4\n")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    lines = path.read_text().splitlines()
    assert result.stderr == (f"Error: {path}, line {len(lines) - 1}, column 1: duplicate key 'train'; each key "
                             "may appear once in a mapping.\n")
    assert_unchanged(repo(ran), before)


def test_04_unset_variable_is_named_not_valued(ran: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    path = set_config(ran, {"database": {"url": "postgresql+psycopg://lowops:${DB_PASSWORD}@127.0.0.1:1/test"}})
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    assert result.stderr == (f"Error: {path}: key 'database.url' uses the environment variable DB_PASSWORD, "
                             "which is not set; export DB_PASSWORD or write ${DB_PASSWORD:-default}.\n")
    assert_unchanged(repo(ran), before)


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n"])
def test_05_empty_config_is_a_clear_error(ran: Path, text: str) -> None:
    cfg(ran).write_text(text)
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    assert result.stderr == f"Error: {cfg(ran)} is empty; start from the config/lowops.yaml of `lowops init`.\n"
    no_traceback(result)
    assert_unchanged(repo(ran), before)


def test_06_literal_password_is_warned_about_and_masked_everywhere(ran: Path) -> None:
    secret = "Lit3ral-pw-6"
    path = set_config(ran, {"database": {"url": f"postgresql+psycopg://lowops:{secret}@127.0.0.1:1/test"}})
    before = snapshot(repo(ran))
    outputs = []
    for args in (["validate"], ["run", "--window", "2025-04"], ["--debug", "validate"]):
        result = invoke(ran, *args)
        outputs.append(result.output + result.stderr + repr(result.exception))
        assert result.exit_code in (69, 1) if args[0] == "--debug" else result.exit_code == 69
        assert result.stderr.startswith(
            f"warning: {path}: database.url holds a literal password; put it in the environment and write "
            "${DB_PASSWORD} instead.\n")
    assert "Error: Database postgresql+psycopg://lowops:***@127.0.0.1:1/test failed to " in outputs[0]
    for text in outputs:
        assert secret not in text
    for file in repo(ran).rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file
    assert_unchanged(repo(ran), before, failed_runs=1, message="DatabaseError: Database postgresql+psycopg://lowops:***@")


UNSAFE_NAMES = ["../x", "/etc", "a\x00b", "x" * 300, "\uff0e\uff0e", "\u2024\u2024", "..", ".", "churn\n",
                "a/../../b", "C:\\x", "churn ", "ch urn", "-rf", "~root", "$HOME", "\u0441hurn"]


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_07_unsafe_model_names_are_refused(shared: Path, name: str) -> None:
    original = cfg(shared).read_text()
    try:
        path = set_config(shared, {"model": {"name": name}})
        before = snapshot(repo(shared))
        result = invoke(shared, "models", "list")
        assert result.exit_code == 78, result.output
        assert result.stderr.startswith(f"Error: {path}: the 'model.name' parameter must be a name of 1-64 "
                                        "letters, digits, '_' or '-' that starts with a letter or digit. Got ")
        assert_unchanged(repo(shared), before)
    finally:
        cfg(shared).write_text(original)


@FEW
@given(name=st.text(min_size=0, max_size=80) | st.sampled_from(UNSAFE_NAMES))
def test_07_any_model_name_is_safe_or_refused(shared: Path, name: str) -> None:
    original = cfg(shared).read_text()
    try:
        set_config(shared, {"model": {"name": name}})
        result = invoke(shared, "models", "list")
    finally:
        cfg(shared).write_text(original)
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        assert result.exit_code == 0, result.output
        models = (repo(shared) / "models").resolve()
        assert (models / name).resolve().is_relative_to(models)
    else:
        assert result.exit_code == 78, (name, result.output)
        assert "the 'model.name' parameter must be" in result.stderr


@FEW
@given(version=st.text(max_size=30) | st.sampled_from(["../v0001", "v0001/..", "v0001\n", "v\u0660\u0660\u0660\u0661",
                                                        "/etc/passwd", "v0001/../../deploy"]))
def test_07_any_version_id_other_than_a_listed_one_is_a_usage_error(shared: Path, version: str) -> None:
    assume(version != "v0001" and not version.startswith("-"))
    result = invoke(shared, "models", "show", version)
    assert result.exit_code == 2, result.output
    assert result.stderr.endswith("; versions: v0001.\n") or "Error:" in result.stderr


# =========================================================================== versions and windows (8-11)


@pytest.mark.parametrize("args", [["models", "show", "v0099"], ["promote", "v0099"], ["smoke", "v0099"],
                                  ["models", "diff", "v0001", "v0099"]])
def test_08_unknown_version_lists_the_valid_ones(ran: Path, args: list[str]) -> None:
    before = snapshot(repo(ran))
    result = invoke(ran, *args)
    assert result.exit_code == 2
    assert result.stderr == "Error: Model 'churn' has no version 'v0099'; versions: v0001.\n"
    assert_unchanged(repo(ran), before)


@pytest.mark.parametrize(("args", "message"), [
    (["backfill", "--from", "2025-03", "--to", "2025-01"], "Error: --from 2025-03 is after --to 2025-01; swap them.\n"),
    (["run", "--window", "2025-13"], "Error: Invalid window '2025-13': month 13 is not between 01 and 12; expected "),
    (["run", "--window", "2025-02-30"], "Error: Invalid window '2025-02-30': "),
    (["extract", "--window", "2025-W10"], "Error: Window '2025-W10' is weekly but the project's windows are monthly "),
    (["run", "--window", " 2025-03"], "Error: Invalid window ' 2025-03': "),
])
def test_09_reversed_range_or_malformed_window_is_a_usage_error(ran: Path, args: list[str], message: str) -> None:
    before = snapshot(repo(ran))
    result = invoke(ran, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert_unchanged(repo(ran), before)


@pytest.mark.parametrize("args", [["run", "--window", "2099-01"], ["backfill", "--from", "2025-04", "--to", "2099-01"],
                                  ["score", "--window", "2099-01"], ["drift", "--window", "2099-01"]])
def test_10_future_window_is_a_usage_error(ran: Path, args: list[str]) -> None:
    before = snapshot(repo(ran))
    result = invoke(ran, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Window '2099-01' starts in the future (2099-01-01T00:00:00Z, now is ")
    assert "the latest complete window is " in result.stderr
    assert_unchanged(repo(ran), before)


TRANSITIONS = {  # a day on which the clocks change, per zone
    "Europe/Paris": [datetime(2025, 3, 30), datetime(2025, 10, 26)],
    "America/Sao_Paulo": [datetime(2018, 11, 4), datetime(2019, 2, 17)],
    "Australia/Lord_Howe": [datetime(2025, 4, 6), datetime(2025, 10, 5)],
    "UTC": [datetime(2025, 6, 1)],
}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_11_consecutive_windows_partition_the_rows_across_dst(tmp_path_factory: pytest.TempPathFactory,
                                                             data: st.DataObject) -> None:
    """Rows stored as naive UTC, selected through lowops' own binding: each row in exactly one window."""
    from lowops.io.db import Database, read_sql_file
    from lowops.windows import parse_window, window_containing, window_range

    tz = data.draw(st.sampled_from(sorted(TRANSITIONS)))
    day = data.draw(st.sampled_from(TRANSITIONS[tz]))
    frequency = data.draw(st.sampled_from(["daily", "weekly"]))
    offsets = data.draw(st.lists(st.integers(-36 * 3600, 60 * 3600), min_size=1, max_size=40))
    instants = [datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(seconds=s, microseconds=m)
                for s, m in zip(offsets, data.draw(st.lists(st.integers(0, 999_999), min_size=len(offsets),
                                                              max_size=len(offsets))))]
    folder = tmp_path_factory.mktemp("partition")
    store = folder / "events.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE events (id INTEGER, ts TIMESTAMP)")
        conn.executemany("INSERT INTO events VALUES (?, ?)",
                         [(i, t.strftime("%Y-%m-%d %H:%M:%S.%f")) for i, t in enumerate(instants)])
    sql_path = folder / "events.sql"
    sql_path.write_text("SELECT id FROM events WHERE ts >= :window_start AND ts < :window_end ORDER BY id\n")
    sql = read_sql_file(sql_path, "features.marts.events")
    db = Database(f"sqlite:///{store}", folder, retries=1, backoff=0)
    try:
        first = window_containing(min(instants), frequency, tz)
        last = window_containing(max(instants), frequency, tz)
        seen: dict[int, str] = {}
        for window in window_range(first, last):
            assert window.start <= window.end and window.start.tzinfo is not None
            for row in db.read_frame(sql, window, 100)["id"]:
                assert int(row) not in seen, f"row {row} in {seen.get(int(row))} and {window.label}"
                seen[int(row)] = window.label
        assert sorted(seen) == list(range(len(instants)))
        for i, instant in enumerate(instants):
            # A naive timestamp means UTC; the window that holds it is the one whose rows include it.
            naive = instant.replace(tzinfo=None)
            assert window_containing(naive, frequency, tz).label == seen[i]
            assert parse_window(seen[i], frequency, tz).start <= instant < parse_window(seen[i], frequency, tz).end
    finally:
        db.dispose()


# =========================================================================== SQL (12-15)


INJECTIONS = ["'; DROP TABLE churn_labels;--", "2025-03'; DROP TABLE churn_labels;--", "2025-03\"; --",
              "2025-03 OR 1=1", "2025-03/*", "2025-03;", "'2025-03'", "2025-03--", "x' UNION SELECT 1 --"]


@FEW
@given(label=st.sampled_from(INJECTIONS) | st.text(alphabet="'\";-/*= 0123456789WQxOR", min_size=1, max_size=30))
def test_12_hostile_window_values_never_reach_sql(shared: Path, label: str) -> None:
    assume(not re.fullmatch(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?|-W[0-9]{2}|-Q[0-9])?", label))
    schema = store_schema(shared)
    before = snapshot(repo(shared))
    result = invoke(shared, "run", "--window", label)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and "window" in result.stderr.lower()
    assert store_schema(shared) == schema
    assert_unchanged(repo(shared), before)


@pytest.mark.parametrize(("key", "value"), [
    ("entity_key", "customer_id; DROP TABLE churn_labels"),
    ("entity_key", "customer_id\n"),
    ("entity_key", '"customer_id"'),
    ("labels.target", "churned --"),
    ("features.exclude", ["plan) OR (1=1"]),
])
def test_13_identifiers_from_config_must_be_plain(ran: Path, key: str, value: object) -> None:
    *parents, last = key.split(".")
    updates: dict[str, object] = {last: value}
    for parent in reversed(parents):
        updates = {parent: updates}
    path = set_config(ran, updates)
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 78
    shown = key
    assert result.stderr.startswith(f"Error: {path}: the '{shown}' parameter must be a plain column name "
                                    "(letters, digits, '_'). Got ")
    assert_unchanged(repo(ran), before)


@pytest.mark.parametrize(("snippet", "where"), [
    ("':window_start' AS note", "':window_start'"),
    ("'10:30 at :place' AS note", "':place'"),
    ("app_sessions -- was :old_name\n", "':old_name'"),
])
def test_14_colon_words_in_literals_are_reported_never_misbound(ran: Path, snippet: str, where: str) -> None:
    sql = ran / "sql" / "usage.sql"
    sql.write_text(sql.read_text().replace("    app_sessions\n", f"    app_sessions, {snippet}\n"
                                           if not snippet.startswith("app_sessions") else f"    {snippet}"))
    before = snapshot(repo(ran))
    for args in (["validate"], ["run", "--window", "2025-04"]):
        result = invoke(ran, *args)
        assert result.exit_code == 78, result.output
        assert f"Error: The SQL file {sql} ('features.marts.usage') has {where[1:-1]} inside a string literal " \
               "or comment, where it would be bound as a parameter; write \\: for a literal colon." in result.stderr
    assert_unchanged(repo(ran), before)


def test_14_escaped_colon_is_a_literal(ran: Path) -> None:
    from lowops.config import load_project
    from lowops.context import Context

    sql = ran / "sql" / "usage.sql"
    sql.write_text(sql.read_text().replace("    app_sessions\n", "    app_sessions, '\\:window_start \\:x' AS note\n"))
    result = invoke(ran, "validate")
    assert result.exit_code == 0, result.output
    ctx = Context.open(load_project(ran))
    try:
        frame = ctx.db.read_frame(ctx.mart_sql()["usage"], ctx.window("2025-04"), 1000)
    finally:
        ctx.db.dispose()
    assert set(frame["note"]) == {":window_start :x"}
    assert len(frame) == 500


@pytest.mark.parametrize(("sql", "problem"), [
    ("DELETE FROM churn_labels", "must be a single read-only SELECT"),
    ("SELECT customer_id, churned FROM churn_labels; DROP TABLE churn_labels", "holds several statements"),
    ("SELECT customer_id, churned FROM churn_labels;;", "holds several statements"),
    ("WITH gone AS (SELECT 1) DELETE FROM churn_labels", "must be a single read-only SELECT"),
    ("SELECT customer_id, churned INTO backup FROM churn_labels", "must be a single read-only SELECT"),
    ("SELECT customer_id, churned FROM churn_labels FOR UPDATE", "must be a single read-only SELECT"),
    ("SELECT load_extension('/tmp/evil.so') AS customer_id, 1 AS churned", "must be a single read-only SELECT"),
    ("SELECT '--' AS x, 1; DROP TABLE churn_labels", "holds several statements"),
])
def test_15_dml_or_several_statements_are_refused_before_any_work(ran: Path, sql: str, problem: str) -> None:
    path = ran / "sql" / "labels.sql"
    path.write_text(sql + "\n")
    schema = store_schema(ran)
    before = snapshot(repo(ran))
    for args in (["validate"], ["run", "--window", "2025-04"], ["extract", "--window", "2025-04"]):
        result = invoke(ran, *args)
        assert result.exit_code == 78, result.output
        assert result.stderr.startswith(f"Error: The SQL file {path} ('labels.sql') {problem}")
    assert store_schema(ran) == schema
    assert_unchanged(repo(ran), before)


def test_15_the_store_is_opened_read_only(ran: Path) -> None:
    import sqlalchemy as sa

    from lowops.config import load_project
    from lowops.context import Context

    ctx = Context.open(load_project(ran))
    try:
        with pytest.raises(sa.exc.OperationalError, match="readonly database"), ctx.db.engine().begin() as conn:
            conn.execute(sa.text("CREATE TABLE intruder (x INTEGER)"))
    finally:
        ctx.db.dispose()
    assert "intruder" not in {name for _, name, _ in store_schema(ran)}


# =========================================================================== data (16-22)


def test_16_empty_window_is_logged_as_empty_and_exits_0(ran: Path) -> None:
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2024-05")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2024-05: empty window, nothing to score (run r000004)\n"
    diff = changes(before, snapshot(repo(ran)))
    assert diff == {"added": ["runs/r000004.json"]}
    record = json.loads((repo(ran) / "runs" / "r000004.json").read_text())
    assert record["status"] == "empty" and [s["name"] for s in record["stages"]] == ["extract"]
    assert any("2024-05 is empty: no feature rows (status=empty)" in line for line in last_log_lines(repo(ran), before))


def test_17_missing_column_is_bad_data_and_writes_nothing(ran: Path) -> None:
    sql = ran / "sql" / "usage.sql"
    sql.write_text(sql.read_text().replace("    sms_count,\n", ""))
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 65, result.output
    assert result.stderr == ("Error: window 2025-04: column(s) 'sms_count' required by the model are missing; "
                             "restore them in the feature SQL or retrain the model without them.\n")
    assert_unchanged(repo(ran), before, failed_runs=1, message="'sms_count'")


def test_18_text_in_a_numeric_column_is_bad_data_with_its_count(ran: Path) -> None:
    ids = april_ids(ran, 3)
    store_exec(ran, f"UPDATE usage_monthly SET data_gb = 'N/A' WHERE month >= '2025-04-01' AND month < '2025-05-01' "
                    f"AND customer_id IN ({','.join(map(str, ids))})")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 65, result.output
    assert result.stderr == ("Error: window 2025-04: column 'data_gb' must be numeric but 3 value(s) are not "
                             "(e.g. 'N/A'); fix the source or the feature SQL.\n")
    assert_unchanged(repo(ran), before, failed_runs=1, message="'data_gb' must be numeric")


def test_19_non_finite_values_are_missing_and_every_row_is_accounted_for(ran: Path) -> None:
    ids = april_ids(ran, 4)
    april = "month >= '2025-04-01' AND month < '2025-05-01'"
    store_exec(ran,
               f"UPDATE usage_monthly SET data_gb = 9e999 WHERE {april} AND customer_id = {ids[0]}",
               f"UPDATE usage_monthly SET data_gb = -9e999 WHERE {april} AND customer_id = {ids[1]}",
               f"UPDATE usage_monthly SET call_minutes = 1e308 WHERE {april} AND customer_id = {ids[2]}",
               f"UPDATE billing_monthly SET discount_pct = -1e308 WHERE {april} AND customer_id = {ids[3]}",
               f"UPDATE billing_monthly SET monthly_charge = 9e999 WHERE {april} AND customer_id = {ids[3]}")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    log = "\n".join(last_log_lines(repo(ran), before))
    match = re.search(r"rows in 500 = scored (\d+) \+ rejected (\d+)", log)
    assert match, log
    scored, rejected = map(int, match.groups())
    assert scored + rejected == 500
    assert "non-finite values 3 {'data_gb': 2, 'monthly_charge': 1} (treated as missing)" in log
    frame = predictions(ran, "2025-04")
    assert len(frame) == 500 and frame["customer_id"].is_unique
    assert frame["score"].notna().sum() == scored
    record = json.loads((repo(ran) / "runs" / "r000004.json").read_text())
    score_stage = next(s for s in record["stages"] if s["name"] == "score")
    assert score_stage["outputs"]["rows"] == 500
    assert score_stage["outputs"]["rejected"] == rejected
    assert score_stage["outputs"]["non_finite_values"] == {"data_gb": 2, "monthly_charge": 1}


def test_20_all_missing_and_constant_columns_have_a_defined_drift(ran: Path) -> None:
    set_config(ran, {"drift": {"enabled": True, "sweetviz": {"enabled": False}}})
    store_exec(ran, "UPDATE usage_monthly SET data_gb = NULL, sms_count = 7 "
                    "WHERE month >= '2025-04-01' AND month < '2025-05-01'")
    result = invoke(ran, "drift", "--window", "2025-04", "--json")
    assert result.exit_code == 0, result.output
    no_traceback(result)
    data = json.loads(result.stdout)
    assert data["features"]["data_gb"]["drifted"] is True  # the missing share went from ~1% to 100%
    assert data["features"]["sms_count"]["drifted"] in (True, False)
    table = pd.read_csv(repo(ran) / "monitoring" / "2025-04" / "data_drift.csv")
    assert set(table["feature"]) >= {"data_gb", "sms_count"}


def test_21_unseen_categories_are_counted_and_refused_above_the_threshold(ran: Path) -> None:
    ids = april_ids(ran, 3)
    april = "month >= '2025-04-01' AND month < '2025-05-01'"
    store_exec(ran, f"UPDATE customer_profile SET plan = 'platinum' WHERE {april} "
                    f"AND customer_id IN ({','.join(map(str, ids))})")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    log = "\n".join(last_log_lines(repo(ran), before))
    assert "unknown_rate plan=0.0060 (3 of 500; features.max_unknown_rate 0.05)" in log
    record = json.loads((repo(ran) / "runs" / "r000004.json").read_text())
    assert next(s for s in record["stages"] if s["name"] == "score")["outputs"]["unknown_rate"] == {"plan": 0.006}

    store_exec(ran, "UPDATE customer_profile SET plan = 'platinum' WHERE month >= '2025-05-01' AND month < '2025-06-01'")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-05")
    assert result.exit_code == 65, result.output
    assert result.stderr.startswith(
        "Error: window 2025-05: column 'plan' has unknown_rate 1.0000 (500 of 500 values are categories the model "
        "never saw, e.g. 'platinum'), above features.max_unknown_rate 0.05; ")
    assert_unchanged(repo(ran), before, failed_runs=1, message="unknown_rate")


def test_22_duplicate_keys_give_one_prediction_per_key(ran: Path) -> None:
    ids = april_ids(ran, 2)
    store_exec(ran, "INSERT INTO customer_profile SELECT * FROM customer_profile "
                    f"WHERE month >= '2025-04-01' AND month < '2025-05-01' AND customer_id IN ({ids[0]}, {ids[1]})")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    assert "2 duplicate 'customer_id' rows dropped (one row per key, first kept)" in result.stderr
    frame = predictions(ran, "2025-04")
    assert len(frame) == 500 and frame["customer_id"].is_unique
    assert any("duplicate 'customer_id' rows dropped" in line for line in last_log_lines(repo(ran), before))


# =========================================================================== strings in CSV (23-24)


def _write_csv(values: list[str]) -> str:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from lowops.io.predictions import output_table

    table = pa.table({"customer_id": pa.array(range(len(values)), pa.int64()), "region": pa.array(values, pa.string())})
    out = output_table(table, "customer_id", ["region"], "classification", [0.5] * len(values), 0.5,
                        list(range(len(values))), None, {"run_id": "r000001"})
    buffer = io.BytesIO()
    writer = pa_csv.CSVWriter(buffer, out.schema, write_options=pa_csv.WriteOptions(quoting_style="needed"))
    writer.write_table(out)
    writer.close()
    return buffer.getvalue().decode("utf-8")


def _neutral(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@settings(max_examples=60, deadline=None, derandomize=True)
@given(values=st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
                       | st.sampled_from(['a,"b"\nc', "\r\n", '""', "'; DROP TABLE t;--", "=1+1", "caf\u00e9",
                                          "\x00", ",", "\ufeffbom"]),
                       min_size=1, max_size=20))
def test_23_csv_round_trip_of_any_text(values: list[str]) -> None:
    text = _write_csv(values)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:2] == ["customer_id", "region"]
    assert [row[1] for row in rows[1:]] == [_neutral(v) for v in values]
    assert len(rows) == len(values) + 1


NASTY = {"region": ['=HYPERLINK("http://evil.example","x")', '+1+1', "-2-2", "@SUM(A1)",
                    "'; DROP TABLE churn_labels;--", 'north, "east"\nwest', "caf\u00e9 \u2603"]}


def test_23_24_strings_from_the_store_round_trip_and_formulas_are_neutralised(ran: Path) -> None:
    ids = april_ids(ran, len(NASTY["region"]))
    april = "month >= '2025-04-01' AND month < '2025-05-01'"
    schema = store_schema(ran)
    for cid, value in zip(ids, NASTY["region"]):
        store_exec(ran, f"UPDATE customer_profile SET region = ? WHERE {april} AND customer_id = {cid}", params=[value])
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    assert store_schema(ran) == schema
    frame = predictions(ran, "2025-04").set_index("customer_id")
    assert [frame.loc[cid, "region"] for cid in ids] == [_neutral(v) for v in NASTY["region"]]
    assert len(frame) == 500


def test_23_text_that_is_not_utf8_is_bad_data(ran: Path) -> None:
    (cid,) = april_ids(ran, 1)
    store_exec(ran, "UPDATE customer_profile SET region = CAST(X'6e6f7274ff68' AS TEXT) "
                    f"WHERE month >= '2025-04-01' AND month < '2025-05-01' AND customer_id = {cid}")
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 65, result.output
    assert result.stderr == (f"Error: The query {ran / 'sql' / 'profile.sql'} returned text that is not valid "
                             "UTF-8 in column 'region'; fix the source rows, or convert or drop the column in the SQL.\n")
    no_traceback(result)
    assert_unchanged(repo(ran), before, failed_runs=1, message="not valid UTF-8")


# =========================================================================== size, model, pointer (25-28)


def test_25_a_window_far_above_the_chunk_size_streams_in_chunks(ran: Path) -> None:
    import pyarrow.parquet as pq

    set_config(ran, {"compute": {"chunk_rows": 100}})
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    (data,) = (repo(ran) / "data" / "2025-04").glob("features-*/features.parquet")
    meta = pq.ParquetFile(data).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == 500 and len(sizes) >= 4 and max(sizes) <= 200, sizes  # written chunk by chunk
    assert len(predictions(ran, "2025-04")) == 500


def _edit_model_json(project: Path, change: object) -> None:
    """Edit v0001's model.json as a registry on another machine sharing the key would have written it (signed)."""
    folder = repo(project) / "models" / "churn" / "v0001"
    meta = json.loads((folder / "model.json").read_text())
    change(meta)  # type: ignore[operator]
    (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    sign_version(folder)


def test_26_model_from_another_major_library_version_is_refused(ran: Path) -> None:
    import sklearn

    _edit_model_json(ran, lambda m: m["lineage"]["packages"].update({"scikit-learn": "0.24.2"}))
    before = snapshot(repo(ran))
    for args in (["run", "--window", "2025-04"], ["score", "--window", "2025-03"]):
        result = invoke(ran, *args)
        assert result.exit_code == 77, result.output
        assert result.stderr == (
            f"Error: churn v0001 was trained with scikit-learn 0.24.2 but scikit-learn {sklearn.__version__} is "
            "installed (another major version): refusing to load it. Retrain it here (lowops train) or install "
            "scikit-learn 0.24.2.\n")
    assert_unchanged(repo(ran), before, failed_runs=2, message="scikit-learn 0.24.2")


def test_26_model_from_another_minor_library_version_warns(ran: Path) -> None:
    import sklearn

    major, minor = sklearn.__version__.split(".")[:2]
    other = f"{major}.{int(minor) + 1}.0"
    _edit_model_json(ran, lambda m: m["lineage"]["packages"].update({"scikit-learn": other}))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 0, result.output
    assert (f"churn v0001 was trained with scikit-learn {other} but scikit-learn {sklearn.__version__} is "
            "installed (another minor version); its predictions may differ: retrain it here") in result.stderr


def test_26_model_feature_names_other_than_the_contract_are_refused(ran: Path) -> None:
    def rename(meta: dict) -> None:  # type: ignore[type-arg]
        column = next(c for c in meta["schema"]["columns"] if c["name"] == "age")
        column["name"] = "age_years"

    _edit_model_json(ran, rename)
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 77, result.output
    assert result.stderr.startswith("Error: churn v0001: the model was fitted on features that differ from its "
                                    "schema contract in model.json (only in the model: 'age'; only in the "
                                    "contract: 'age_years')")
    assert_unchanged(repo(ran), before, failed_runs=1, message="schema contract")


@pytest.mark.parametrize("keep", [0, 100, -1])
def test_27_truncated_or_empty_model_is_refused_and_the_pointer_stays(ran: Path, keep: int) -> None:
    model = repo(ran) / "models" / "churn" / "v0001" / "model.skops"
    data = model.read_bytes()
    model.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    pointer = (repo(ran) / "deploy" / "churn.json").read_bytes()
    before = snapshot(repo(ran))
    result = invoke(ran, "run", "--window", "2025-04")
    assert result.exit_code == 77, result.output
    assert result.stderr.startswith(f"Error: Refusing to load {model}: its sha256 ")
    assert "recorded at registration, so the file was altered or truncated." in result.stderr
    assert (repo(ran) / "deploy" / "churn.json").read_bytes() == pointer
    assert_unchanged(repo(ran), before, failed_runs=1, message="Refusing to load")


def test_28_dangling_pointer_is_an_integrity_error_never_a_fallback(ran: Path) -> None:
    pointer = repo(ran) / "deploy" / "churn.json"
    pointer.write_text(pointer.read_text().replace('"v0001"', '"v0009"'))
    before = snapshot(repo(ran))
    for args in (["run", "--window", "2025-04"], ["score", "--window", "2025-03"]):
        result = invoke(ran, *args)
        assert result.exit_code == 77, result.output
        assert result.stderr == (f"Error: {pointer} names churn v0009 live, but the registry has no complete "
                                 "version v0009 (versions: v0001); run `lowops verify`, then `lowops promote "
                                 "VERSION` or restore the version.\n")
    assert_unchanged(repo(ran), before, failed_runs=2, message="v0009")


@pytest.mark.parametrize("target", ["data", "model", "pointer"])
def test_28_corrupt_manifest_is_an_integrity_error(ran: Path, target: str) -> None:
    if target == "data":
        (path,) = (repo(ran) / "data" / "2025-03").glob("features-*/manifest.json")
    elif target == "model":
        path = repo(ran) / "models" / "churn" / "v0001" / "model.json"
    else:
        path = repo(ran) / "deploy" / "churn.json"
    path.write_text(path.read_text()[:40])
    before = snapshot(repo(ran))
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77, result.output
    # model.json is covered by the version's signed digests: that it is altered is found before it is parsed.
    found = (f"Error: Refusing to use {path}: its sha256 differs from the signed SHA256SUMS" if target == "model"
             else f"Error: {path} is not valid JSON (")
    assert result.stderr.startswith(found)
    assert result.stderr.endswith("; run `lowops verify`.\n")
    assert_unchanged(repo(ran), before, failed_runs=1, message=found.removeprefix("Error: ")[-30:])
