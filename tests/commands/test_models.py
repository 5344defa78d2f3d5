"""``lowops models list | show | diff`` on versions with a life after registration: each version's status, the
whole training time beside the final fit's, a search's candidates, and the git commit each came from."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import copy_project, invoke, set_config
from ct_support import base_project, run_ok

from lowops.model.card import ModelCard

# The base project's estimator (a quick LogisticRegression) with base parameters no candidate shares, so a CV of
# the base parameters could never pass for the chosen candidate's.
SEARCH = {"model": {"estimator": {"params": {"C": 0.001}},
                    "search": {"kind": "grid", "params": {"C": [0.1, 1.0]}}},
          "train": {"cv_folds": 3}}


def git(project: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(project), "-c", "user.name=test", "-c", "user.email=test@example.org",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(project: Path, message: str) -> str:
    """The project's config and SQL committed (the repository and the demo store stay untracked); the commit."""
    git(project, "add", "config", "sql")
    git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The base project (v0001, live) under git, then with SEARCH: v0002 at one commit, v0003 and v0004 at the
    next; v0003 promoted (so v0001 retired), v0002's promotion refused by its smoke test (rejected), v0004 left
    as registered. Read-only for tests; the commits by version."""
    project = copy_project(base_project(tmp_path_factory), tmp_path_factory.mktemp("models") / "project")
    git(project, "init", "-q")
    set_config(project, SEARCH)
    commits = {"v0002": commit(project, "search C")}
    run_ok(project, "train", "--window", "2025-03")
    set_config(project, {"compare": {"bootstrap": 100}})  # any edit: a commit of its own
    commits["v0003"] = commits["v0004"] = commit(project, "fewer bootstrap rounds")
    run_ok(project, "train", "--window", "2025-04")
    run_ok(project, "train", "--window", "2025-05")
    run_ok(project, "promote", "v0003", "--by", "alice", "--reason", "better")
    golden = project / "sql" / "golden.sql"
    kept = golden.read_text()
    golden.write_text(kept.replace("    u.data_gb,\n", ""))  # a sample no version can score
    assert invoke(project, "promote", "v0002").exit_code == 65
    golden.write_text(kept)
    return project, commits


def card(project: Path, version: str) -> dict[str, Any]:
    return json.loads((project / "repo" / "models" / "churn" / version / "model.json").read_text())


# --------------------------------------------------------------------------- list


def test_models_list_shows_each_versions_status(versions: tuple[Path, dict[str, str]]) -> None:
    project, _ = versions
    rows = json.loads(invoke(project, "models", "list", "--json").stdout)
    assert [(r["version"], r["status"], r["live"], r["slot"]) for r in rows] == [
        ("v0001", "retired", False, "blue"), ("v0002", "rejected", False, None), ("v0003", "promoted", True, "green"),
        ("v0004", "registered", False, None)]
    listed = invoke(project, "models", "list", catch_exceptions=False)
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0] == "version  live  created              holdout  primary       value  status"
    for row, line in zip(rows, lines[1:], strict=True):
        live = "*green" if row["live"] else ""
        assert line == (f"{row['version']:<8} {live:<5} {row['created_at']:<20} {row['holdout_window']:<8} "
                        f"roc_auc    {row['primary_value']:>8.4f}  {row['status']}")


# --------------------------------------------------------------------------- training time


def test_train_logs_and_records_the_whole_training_time(versions: tuple[Path, dict[str, str]]) -> None:
    project, _ = versions
    profile = card(project, "v0002")["profile"]
    whole, final = profile["train_seconds"], profile["fit_seconds"]
    assert whole > final > 0  # the search, importance and plots besides the final fit
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    (line,) = [x for x in log.splitlines() if " registered churn v0002: " in x]
    rows = card(project, "v0002")["lineage"]["rows"]["train"]
    found = re.search(rf" train INFO registered churn v0002: hold-out 2025-03 roc_auc=0\.\d{{4}}, trained on {rows} rows "
                      r"\(2025-01, 2025-02, 2025-03\) in (\d+\.\d) s \(final fit (\d+\.\d) s\)$", line)
    assert found is not None, line
    assert found.groups() == (f"{whole:.1f}", f"{final:.1f}")
    shown = invoke(project, "models", "show", "v0002", catch_exceptions=False).stdout.splitlines()
    assert shown[-1] == (f"  profile:     trained in {whole} s (final fit {final} s), {profile['model_bytes']} bytes, "
                         f"{profile['predict_ms_per_1000_rows']} ms per 1000 rows")


def test_a_version_from_before_the_whole_time_was_recorded_reads_back_as_written(
        versions: tuple[Path, dict[str, str]]) -> None:
    project, _ = versions
    old = card(project, "v0001")
    del old["profile"]["train_seconds"]
    parsed = ModelCard.from_dict(old)
    assert parsed.profile.train_seconds is None and parsed.search is None
    assert parsed.to_dict() == old


# --------------------------------------------------------------------------- search


def test_the_cv_of_a_searched_version_is_the_chosen_candidates(versions: tuple[Path, dict[str, str]]) -> None:
    project, _ = versions
    meta = card(project, "v0002")
    search = meta["search"]
    assert (search["kind"], search["metric"], search["folds"]) == ("grid", "roc_auc", 3)
    assert [c["params"] for c in search["candidates"]] == [{"C": 0.1}, {"C": 1.0}]
    chosen = search["candidates"][search["chosen"]]
    assert chosen["rank"] == 1
    assert chosen["mean"] == max(c["mean"] for c in search["candidates"])
    for candidate in search["candidates"]:
        assert len(candidate["scores"]) == 3
        assert (candidate["mean"], candidate["std"]) == (float(np.mean(candidate["scores"])),
                                                         float(np.std(candidate["scores"])))
    assert meta["estimator"]["params"] == {"max_iter": 300, "C": 0.001}  # as configured
    assert meta["estimator"]["best_params"] == {"estimator__C": chosen["params"]["C"]}
    assert meta["metrics"]["cv"] == {"metric": "roc_auc", "folds": 3, "mean": chosen["mean"], "std": chosen["std"],
                                     "scores": chosen["scores"]}
    metrics_txt = (project / "repo" / "models" / "churn" / "v0002" / "metrics.txt").read_text()
    assert f"cv.roc_auc.mean {chosen['mean']:.6f}\n" in metrics_txt


def test_models_show_describes_the_search(versions: tuple[Path, dict[str, str]]) -> None:
    project, _ = versions
    meta = card(project, "v0002")
    cv, search = meta["metrics"]["cv"], meta["search"]
    lines = invoke(project, "models", "show", "v0002", catch_exceptions=False).stdout.splitlines()
    start = lines.index(f"    cv roc_auc {cv['mean']:.4f} ± {cv['std']:.4f} (3 folds of the chosen candidate)")
    best, other = sorted(search["candidates"], key=lambda c: c["rank"])
    assert lines[start + 1:start + 5] == [
        "  search:      grid, 2 candidates, 3 folds (roc_auc; * chosen, refit on all training rows)",
        "      rank     mean      std  params",
        f"    *    1  {best['mean']:>7.4f}  {best['std']:>7.4f}  C={best['params']['C']}",
        f"         2  {other['mean']:>7.4f}  {other['std']:>7.4f}  C={other['params']['C']}",
    ]
    assert lines[start + 5] == "  importance:"
    plain = invoke(project, "models", "show", "v0001", catch_exceptions=False).stdout
    assert "  search:" not in plain and "  cv " not in plain  # the base project trains without CV or search


# --------------------------------------------------------------------------- diff


def test_models_diff_shows_the_commit_the_profile_and_the_search(versions: tuple[Path, dict[str, str]]) -> None:
    project, commits = versions
    a, b = card(project, "v0002"), card(project, "v0003")
    lines = invoke(project, "models", "diff", "v0002", "v0003", catch_exceptions=False).stdout.splitlines()
    assert f"lineage.git.commit: {commits['v0002']} -> {commits['v0003']}" in lines
    assert "lineage.git.dirty: False -> False" not in lines
    for field in ("train_seconds", "fit_seconds"):
        assert f"profile.{field}: {a['profile'][field]} -> {b['profile'][field]}" in lines
    for i, params in enumerate(({"C": 0.1}, {"C": 1.0})):
        label = f"search.candidates[C={params['C']}]"
        assert f"{label}.mean: {a['search']['candidates'][i]['mean']} -> {b['search']['candidates'][i]['mean']}" \
            in lines
    assert not any(line.startswith(("search.kind", "search.folds", "created_at", "run_id", "version:"))
                   for line in lines)

    same_commit = invoke(project, "models", "diff", "v0003", "v0004", "--json", catch_exceptions=False)
    assert not any(c["path"].startswith("lineage.git") for c in json.loads(same_commit.stdout))

    searched = invoke(project, "models", "diff", "v0001", "v0002", "--json", catch_exceptions=False)
    changes = {c["path"]: (c["a"], c["b"]) for c in json.loads(searched.stdout)}
    assert changes["lineage.git.commit"] == (None, commits["v0002"])
    assert changes["search.kind"] == (None, "grid")
    chosen = a["search"]["candidates"][a["search"]["chosen"]]["params"]["C"]
    assert changes["search.chosen"] == (None, f"C={chosen}")
    assert changes["search.candidates[C=0.1].scores"] == (None, a["search"]["candidates"][0]["scores"])
