"""True lineage: a data version records what made it (model, SQL hashes, marts), and no stage reuses one that
today's SQL did not make; a model card claims only the SQL its data came from; two models never share data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import copy_project, invoke, open_context
from ct_support import base_project

from lowops.errors import DataError
from lowops.io import snapshots
from lowops.stages.extract import current, stored

BILLING = ["monthly_charge", "discount_pct", "late_payments", "total_charges"]
TRAIN_WINDOWS = ["2024-10", "2024-11", "2024-12"]  # v0001 of the base project: trained on two, the last held out


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """The continuous-training base project (v0001 live, trained at 2025-01), copied."""
    return copy_project(base_project(tmp_path_factory), tmp_path / "project")


def card(project: Path, version: str, model: str = "churn") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "repo" / "models" / model / version / "model.json").read_text())
    return data


def columns(version_card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema contract's columns by name."""
    return {c["name"]: c for c in version_card["schema"]["columns"]}


def manifest(project: Path, window: str, version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "repo" / "data" / window / version / "manifest.json").read_text())
    return data


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_usage_column(project: Path) -> str:
    """A new column in the usage mart's SQL; the file's new sha256."""
    sql = project / "sql" / "usage.sql"
    sql.write_text(sql.read_text().replace("    app_sessions\n", "    app_sessions,\n    sms_count + 1 AS sms_plus_one\n"))
    return sha256(sql)


def edit_config(path: Path, edit: Any) -> None:
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_changed_sql_retrains_on_data_the_new_sql_made(project: Path) -> None:
    before = {use["window"]: use["features"] for use in card(project, "v0001")["lineage"]["data"]}
    new_sha = add_usage_column(project)
    done = invoke(project, "train", "--window", "2024-12", "--json")
    assert done.exit_code == 0, done.stderr
    lineage = card(project, "v0002")["lineage"]
    assert lineage["sql_sha256"]["usage"] == new_sha
    assert [use["window"] for use in lineage["data"]] == TRAIN_WINDOWS
    for use in lineage["data"]:
        # every window extracted again with the new SQL: a new version, no stale one reused
        assert use["features"] != before[use["window"]]
        made = manifest(project, use["window"], use["features"])
        assert dict(map(tuple, made["definition"]["marts"]))["usage"] == new_sha
        assert made["sql"]["usage"]["sha256"] == new_sha
        frame = snapshots.load(snapshots.find(project / "repo", use["window"], "features", use["features"]))
        # the new column is the SQL's, in every window of the range (not NaN where the old snapshot lacked it)
        assert (frame["sms_plus_one"] == frame["sms_count"] + 1).all()
    assert columns(card(project, "v0002"))["sms_plus_one"]["missing_rate"] == 0.0
    log = (project / "repo" / "logs" / "lowops.log").read_text()
    assert f"2024-10 features: the stored {before['2024-10']} is not made from today's definition (mart 'usage' " \
        "SQL changed); extracting again" in log
    # v0001's versions are still there, as written
    assert all((project / "repo" / "data" / w / v / "manifest.json").is_file() for w, v in before.items())


def test_removed_mart_leaves_the_data_and_the_card(project: Path) -> None:
    edit_config(project / "config" / "lowops.yaml", lambda c: c["features"]["marts"].pop("billing"))
    done = invoke(project, "train", "--window", "2024-12")
    assert done.exit_code == 0, done.stderr
    new = card(project, "v0002")
    assert sorted(new["lineage"]["sql_sha256"]) == ["labels", "profile", "usage"]
    assert not set(BILLING) & set(columns(new))
    for use in new["lineage"]["data"]:
        made = manifest(project, use["window"], use["features"])
        assert [name for name, _ in made["definition"]["marts"]] == ["profile", "usage"]
        assert not set(BILLING) & {column["name"] for column in made["schema"]}
    assert set(BILLING) <= set(columns(card(project, "v0001")))


def test_config_change_retrain_in_the_loop_uses_data_of_the_new_sql(project: Path) -> None:
    new_sha = add_usage_column(project)
    done = invoke(project, "run", "--window", "2025-02")
    assert done.exit_code == 0, done.stderr
    ledger = json.loads((project / "repo" / "runs" / "r000002.json").read_text())
    decide = ledger["stages"][-1]["outputs"]
    assert any(t.startswith("config_change: ") and "SQL 'usage' sha256" in t for t in decide["triggers"])
    new = card(project, decide["retrained"])
    assert new["lineage"]["sql_sha256"]["usage"] == new_sha
    assert [use["window"] for use in new["lineage"]["data"]] == ["2024-12", "2025-01", "2025-02"]
    for use in new["lineage"]["data"]:
        assert dict(map(tuple, manifest(project, use["window"], use["features"])["definition"]["marts"]))[
            "usage"] == new_sha
    assert columns(new)["sms_plus_one"]["missing_rate"] == 0.0
    # the comparison's hold-out rows are the new SQL's too: the version this run extracted for 2025-02
    extracted = ledger["stages"][0]["outputs"]["features"]
    assert new["lineage"]["data"][-1]["features"] == extracted


def test_two_models_in_one_repository_never_share_data(project: Path) -> None:
    repo = project / "repo"
    pointers = {p: p.read_bytes() for p in (repo / "data").glob("*/*.latest.json")}
    other = project / "config" / "upsell.yaml"
    other.write_text((project / "config" / "lowops.yaml").read_text())

    def second_model(config: dict[str, Any]) -> None:
        config["model"]["name"] = "upsell"
        config["features"]["marts"].pop("billing")

    edit_config(other, second_model)
    done = invoke(project, "-c", str(other), "train", "--window", "2024-12")
    assert done.exit_code == 0, done.stderr
    churn, upsell = card(project, "v0001"), card(project, "v0001", model="upsell")
    mine = {(u["window"], u[k]) for u in churn["lineage"]["data"] for k in ("features", "labels")}
    theirs = {(u["window"], u[k]) for u in upsell["lineage"]["data"] for k in ("features", "labels")}
    assert not mine & theirs
    assert {manifest(project, w, v)["model"] for w, v in theirs} == {"upsell"}
    assert not set(BILLING) & set(columns(upsell))
    # churn's latest-extract pointers did not move; upsell has its own
    assert {p: p.read_bytes() for p in pointers} == pointers
    assert sorted(p.name for p in (repo / "data" / "2024-12").glob("*.json")) == [
        "features.churn.latest.json", "features.upsell.latest.json", "labels.churn.latest.json",
        "labels.upsell.latest.json"]
    # churn trains again on its own stored data (reused, not extracted again), billing and all
    done = invoke(project, "train", "--window", "2024-12")
    assert done.exit_code == 0, done.stderr
    again = card(project, "v0002")
    assert again["lineage"]["data"] == churn["lineage"]["data"]
    assert set(BILLING) <= set(columns(again))


def test_data_versions_of_an_older_lowops_are_extracted_again(project: Path) -> None:
    repo = project / "repo"
    # The repository as an older lowops left it: versions named by their content alone, manifests without a
    # definition, one pointer per kind; the model cards name those versions.
    renamed = {}
    for path in sorted((repo / "data").glob("*/*-*/manifest.json")):
        made = json.loads(path.read_text())
        older = {k: v for k, v in made.items() if k not in ("model", "definition", "definition_sha256")}
        older["version"] = f"{made['kind']}-{made['content_sha256'][:12]}"
        path.write_text(json.dumps(older))
        path.parent.rename(path.parent.with_name(older["version"]))
        renamed[made["version"]] = older["version"]
    for pointer in (repo / "data").glob("*/*.churn.latest.json"):
        pointer.with_name(pointer.name.replace(".churn", "")).write_text(
            json.dumps({"version": renamed[json.loads(pointer.read_text())["version"]]}))
        pointer.unlink()
    first = card(project, "v0001")
    first_data = [{**u, "features": renamed[u["features"]], "labels": renamed[u["labels"]]}
                  for u in first["lineage"]["data"]]
    assert invoke(project, "verify").exit_code == 0
    done = invoke(project, "train", "--window", "2024-12")
    assert done.exit_code == 0, done.stderr
    old = first_data
    new = card(project, "v0002")["lineage"]["data"]
    assert [u["window"] for u in new] == TRAIN_WINDOWS
    assert all(n["features"] != o["features"] and n["labels"] != o["labels"] for n, o in zip(new, old, strict=True))
    assert all(manifest(project, u["window"], u["features"])["model"] == "churn" for u in new)
    log = (repo / "logs" / "lowops.log").read_text()
    assert f"2024-10 features: the stored {old[0]['features']} is not made from today's definition (its manifest " \
        "records no definition: an older lowops extracted it); extracting again" in log
    verified = invoke(project, "verify")
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_current_reuses_only_todays_data_and_refuses_when_the_database_lost_it(project: Path) -> None:
    ctx = open_context(project)
    window = ctx.window("2025-01")
    kept = current(ctx, window, "features")
    assert kept is not None and stored(ctx, window, "features") == kept
    assert current(ctx, window, "labels") == stored(ctx, window, "labels") is not None
    # today's SQL, so no database needed to reuse it
    store = project / "demo" / "store.sqlite"
    moved = store.rename(store.with_suffix(".away"))
    assert current(ctx, window, "features") == kept
    moved.rename(store)
    ctx.close()
    # The profile mart (the first, the join's left side) now returns nothing for 2025-01.
    profile = project / "sql" / "profile.sql"
    profile.write_text(profile.read_text().replace("WHERE ", "WHERE month < '2025-01-01' AND "))
    ctx = open_context(project)
    assert stored(ctx, window, "features") is None
    with pytest.raises(DataError) as refused:
        current(ctx, window, "features")
    assert str(refused.value) == (
        f"window 2025-01: the stored features {kept.version} are not made from today's definition (mart 'profile' "
        "SQL changed), and the database now returns no features for the window; restore the SQL they were made "
        "from, or leave 2025-01 out (train.windows, --window).")
    assert refused.value.exit_code == 65
    ctx.close()


def test_score_and_drift_read_the_window_as_todays_sql_makes_it(project: Path) -> None:
    kept = snapshots.latest(project / "repo", "2025-01", "features", "churn")
    assert kept is not None
    new_sha = add_usage_column(project)
    for command in ("score", "drift"):
        done = invoke(project, command, "--window", "2025-01")
        assert done.exit_code == 0, done.stderr
    now = snapshots.latest(project / "repo", "2025-01", "features", "churn")
    assert now is not None and now.version != kept.version
    assert dict(map(tuple, now.manifest["definition"]["marts"]))["usage"] == new_sha
    ledgers = [json.loads(p.read_text()) for p in sorted((project / "repo" / "runs").glob("r*.json"))]
    score, drift = ledgers[-2], ledgers[-1]
    # score extracted the window again (in the same pass); drift found that version current and reused it
    assert [s["name"] for s in score["stages"]] == ["extract", "score"]
    assert score["stages"][0]["outputs"]["features"] == now.version
    assert [s["name"] for s in drift["stages"]] == ["monitor"]


def test_a_repository_whose_versions_carry_the_pandas_digest_extracts_unchanged(project: Path) -> None:
    import pyarrow.parquet as pq

    from lowops.io.content_digest import legacy_update

    repo = project / "repo"
    # The repository as the lowops before arrow-columns-v1 left it: the same definition and rows, the
    # content digested through pandas, no scheme in the manifest, the version named by that digest.
    renamed = {}
    for path in sorted((repo / "data" / "2025-01").glob("*-*/manifest.json")):
        made = json.loads(path.read_text())
        parquet = path.parent / made["file"]
        digest = hashlib.sha256(repr([(f.name, str(f.type)) for f in pq.read_schema(parquet)]).encode())
        legacy_update(digest, pq.read_table(parquet).to_pandas())
        older = {k: v for k, v in made.items() if k != "content_digest_scheme"}
        older["content_sha256"] = digest.hexdigest()
        older["version"] = f"{made['kind']}-" + hashlib.sha256(
            (made["definition_sha256"] + digest.hexdigest()).encode()).hexdigest()[:12]
        path.write_text(json.dumps(older))
        path.parent.rename(path.parent.with_name(older["version"]))
        renamed[made["kind"]] = older["version"]
    for kind, version in renamed.items():
        (repo / "data" / "2025-01" / f"{kind}.churn.latest.json").write_text(json.dumps({"version": version}))
    before = sorted(p.name for p in (repo / "data" / "2025-01").iterdir())
    done = invoke(project, "extract", "--window", "2025-01")
    assert done.exit_code == 0, done.output
    assert f"{renamed['features']} (unchanged)" in done.stdout
    assert f"{renamed['labels']} (unchanged)" in done.stdout
    assert sorted(p.name for p in (repo / "data" / "2025-01").iterdir()) == before
