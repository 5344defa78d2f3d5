"""`lowops score` on a window not yet extracted: extract and score in one pass.

Each chunk is scored as it is staged into the new data version. The pass must
leave exactly what `lowops extract` followed by `lowops score` leaves (same data
version, same predictions), commit nothing when it fails, and leave nothing but
removable leftovers when it is killed.
"""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest
from click.testing import Result
from conftest import LIGHT, copy_project, invoke, make_project, set_config
from reliability_support import (
    FAST,
    april_ids,
    assert_unchanged,
    fast_ran,
    forked,
    snapshot,
    store_exec,
)

WINDOW = "2025-04"


@pytest.fixture
def ran(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """The fast project after its 2025-01 … 2025-03 backfill, in chunks of 100 rows (500 customers a window)."""
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    set_config(project, {"compute": {"chunk_rows": 100}})
    return project


def _versions(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "repo" / "data" / WINDOW).glob("features-*"))


def _predictions(project: Path) -> list[dict[str, str]]:
    files = sorted((project / "repo" / "outputs" / WINDOW).glob("predictions-*.csv"))
    assert len(files) == 1, files
    with files[0].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in row.items() if k not in ("run_id", "scored_at", "label")} for row in rows]


def _refused(project: Path, code: int, message: str | None = None) -> Result:
    """`lowops score` on the window fails with ``code``; nothing is committed but the failed run's ledger."""
    before = snapshot(project / "repo")
    result = invoke(project, "score", "--window", WINDOW)
    assert result.exit_code == code, result.output
    assert_unchanged(project / "repo", before, failed_runs=1, message=message)
    return result


def _ledger(project: Path) -> dict:
    runs = sorted((project / "repo" / "runs").glob("r*.json"))
    return json.loads(runs[-1].read_text())


def test_one_pass_leaves_what_extract_then_score_leaves(ran: Path, tmp_path: Path) -> None:
    two = copy_project(ran, tmp_path / "two" / "churn")
    assert invoke(two, "extract", "--window", WINDOW).exit_code == 0
    assert invoke(two, "score", "--window", WINDOW).exit_code == 0

    result = invoke(ran, "score", "--window", WINDOW)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{WINDOW}: scored 500 rows with v0001 -> ")
    assert _versions(ran) == _versions(two) and len(_versions(ran)) == 1
    version = _versions(ran)[0]
    manifest = json.loads((ran / "repo" / "data" / WINDOW / version / "manifest.json").read_text())
    assert manifest["rows"] == 500
    assert _predictions(ran) == _predictions(two)
    assert len(_predictions(ran)) == 500
    stages = {s["name"]: s for s in _ledger(ran)["stages"]}
    assert stages["extract"]["status"] == stages["score"]["status"] == "done"
    assert stages["extract"]["outputs"]["features"] == version
    assert stages["score"]["outputs"]["rows"] == 500
    assert invoke(ran, "verify").exit_code == 0


def test_text_in_a_number_column_commits_neither_file(ran: Path) -> None:
    # The last customers of April. The whole 500-row window is one read of the SQLite driver, which
    # types data_gb as text from it, so the first chunk is refused; see the wide project below
    # for text that turns up after chunks were scored.
    ids = april_ids(ran, 500)[-3:]
    store_exec(ran, f"UPDATE usage_monthly SET data_gb = 'N/A' WHERE month >= '2025-04-01' AND month < '2025-05-01' "
                    f"AND customer_id IN ({','.join(map(str, ids))})")
    result = _refused(ran, 65, "'data_gb' must be numeric")
    assert result.stderr == ("Error: window 2025-04: column 'data_gb' must be numeric but 3 value(s) are not "
                             "(e.g. 'N/A'); fix the source or the feature SQL.\n")


@pytest.mark.parametrize("checkpoint", ["stage:features-*", "write:predictions-*"])
def test_kill_9_in_the_one_pass_then_verify_and_score_again(ran: Path, tmp_path: Path, checkpoint: str) -> None:
    reference = copy_project(ran, tmp_path / "reference" / "churn")
    assert invoke(reference, "score", "--window", WINDOW).exit_code == 0
    code, output = forked(ran, "score", "--window", WINDOW, out=tmp_path / "killed.txt", LOWOPS_FAULT=checkpoint)
    assert code == -signal.SIGKILL, f"{checkpoint} was never reached (exit {code}): {output}"
    assert not list((ran / "repo" / "outputs").glob(f"{WINDOW}/predictions-*.csv"))  # nothing half-visible
    found = invoke(ran, "verify")
    if found.exit_code != 0:
        assert all(line.endswith("(removable with --repair)") for line in found.stdout.splitlines()), found.stdout
        assert invoke(ran, "verify", "--repair").exit_code == 0
    again = invoke(ran, "score", "--window", WINDOW)
    assert again.exit_code == 0, again.output
    assert _versions(ran) == _versions(reference)
    assert _predictions(ran) == _predictions(reference)
    assert invoke(ran, "verify").exit_code == 0


def test_marts_not_sorted_by_the_key_are_joined_in_memory_then_scored(ran: Path, tmp_path: Path) -> None:
    reference = copy_project(ran, tmp_path / "reference" / "churn")
    assert invoke(reference, "score", "--window", WINDOW).exit_code == 0
    usage = ran / "sql" / "usage.sql"
    text = usage.read_text()
    assert "ORDER BY customer_id" in text
    usage.write_text(text.replace("ORDER BY customer_id", "ORDER BY customer_id DESC"))
    result = invoke(ran, "score", "--window", WINDOW)
    assert result.exit_code == 0, result.output
    log = (ran / "repo" / "logs" / "lowops.log").read_text()
    assert "streaming join not possible (NotSorted: usage); joining in memory" in log
    assert _predictions(ran) == _predictions(reference)
    assert invoke(ran, "verify").exit_code == 0


@pytest.fixture(scope="module")
def wide_ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 customers a window: more rows than one read of the SQLite driver (1,024), so the
    database can fail after chunks were already scored."""
    root = make_project(tmp_path_factory.mktemp("wide") / "churn", LIGHT, {**FAST, "compute": {"chunk_rows": 100}},
                        customers=1500)
    done = invoke(root, "train", "--window", "2025-03")
    assert done.exit_code == 0, done.output
    return root


def test_text_in_a_number_column_past_the_first_read_fails_after_scored_chunks_and_commits_nothing(
        wide_ran: Path, tmp_path: Path) -> None:
    """The last customers of April have 'N/A' in data_gb: the driver typed the column from its first
    1,024 rows, so the error comes mid-stream, after chunks were staged and scored."""
    project = copy_project(wide_ran, tmp_path / "churn")
    store_exec(project, "UPDATE usage_monthly SET data_gb = 'N/A' WHERE month >= '2025-04-01' AND month < '2025-05-01' "
                        "AND customer_id IN (SELECT customer_id FROM usage_monthly WHERE month >= '2025-04-01' "
                        "AND month < '2025-05-01' ORDER BY customer_id DESC LIMIT 3)")
    result = _refused(project, 65, "'data_gb' holds string values")
    assert result.stderr == ("Error: window 2025-04: column 'data_gb' holds string values after rows of double "
                             "(a number column with text in it?); fix the source or the feature SQL.\n")


def test_too_many_unseen_categories_found_after_every_chunk_was_scored_commit_nothing(ran: Path) -> None:
    store_exec(ran, "UPDATE customer_profile SET plan = 'platinum' WHERE month >= '2025-04-01' "
                    "AND month < '2025-05-01' AND customer_id % 4 = 0")
    result = _refused(ran, 65)
    assert "unknown_rate plan=" in result.stderr or "'plan'" in result.stderr, result.stderr
