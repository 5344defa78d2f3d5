"""Several models in one project: a `models:` list, a repository directory per model, --model.

The project here is the suite's demo project with its single model turned into the first entry
of a `models:` list (same sections, same settings) and a second, regression model (next month's
charge, sql/charge_labels.sql) beside it. The churn model must then do exactly what the same
model does alone (``ran_project``), and the charge model must never see the churn model's files.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import lowops
from conftest import PATIENCE, copy_project, invoke
from lowops.errors import UsageError
from lowops.io import layout
from lowops.io.logs import read_metrics

WINDOWS = ("2025-01", "2025-03")
CHARGE = {
    "name": "charge",
    "labels": {"sql": "sql/charge_labels.sql", "target": "next_charge"},
    "model": {"task": "regression",
              "estimator": {"class": "sklearn.ensemble.HistGradientBoostingRegressor", "params": {"max_iter": 40}}},
    "train": {"primary_metric": "rmse"},
}


def as_models(project: Path, *extra: dict[str, Any]) -> Path:
    """Turn the project's one-model config into a `models:` list: churn (its own sections), then ``extra``."""
    path = project / "config" / "lowops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    churn = {"name": data["model"]["name"], "labels": data.pop("labels"),
             "model": {k: v for k, v in data.pop("model").items() if k != "name"}}
    data["models"] = [churn, *copy.deepcopy(list(extra))]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def lowops_cmd(lowops_bin: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(lowops_bin), "-C", str(project), *args], capture_output=True, text=True,
                          timeout=PATIENCE)


@pytest.fixture(scope="module")
def two_models(demo_template: Path, lowops_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-model project after `lowops backfill` of 2025-01..03, run by the installed script."""
    project = copy_project(demo_template, tmp_path_factory.mktemp("two") / "churn")
    path = as_models(project, CHARGE)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["export"] = {"prometheus_textfile": "prom/lowops.prom"}  # shared: each model writes its own file
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    done = lowops_cmd(lowops_bin, project, "backfill", "--from", WINDOWS[0], "--to", WINDOWS[1])
    assert done.returncode == 0, done.stderr
    return project


def values(repo: Path) -> list[tuple[str, str, str, str, str]]:
    """Every metric line of a repository without its time and run id (they differ between runs)."""
    return [(r["window"], r["model"], r["version"], r["metric"], r["value"]) for r in read_metrics(repo)]


def test_each_model_runs_in_its_own_directory_in_the_configs_order(two_models: Path, lowops_bin: Path) -> None:
    repo = two_models / "repo"
    assert sorted(p.name for p in repo.iterdir()) == ["charge", "churn"]
    for name in ("churn", "charge"):
        assert (layout.models_root(repo / name) / name / "v0001").is_dir()
        assert not (layout.models_root(repo / name) / ({"churn", "charge"} - {name}).pop()).exists()
        assert [r.name for r in sorted(layout.runs_dir(repo / name).glob("r*.json"))] == \
            ["r000001.json", "r000002.json", "r000003.json"]
    status = lowops_cmd(lowops_bin, two_models, "status")
    assert status.returncode == 0, status.stderr
    headers = [line for line in status.stdout.splitlines() if line in ("model churn:", "model charge:")]
    assert headers == ["model churn:", "model charge:"]
    assert "model charge: v0001 live in slot blue since " in status.stdout


def test_each_model_writes_its_own_prometheus_textfile(two_models: Path) -> None:
    assert sorted(p.name for p in (two_models / "prom").iterdir()) == ["lowops-charge.prom", "lowops-churn.prom"]
    for name in ("churn", "charge"):
        text = (two_models / "prom" / f"lowops-{name}.prom").read_text(encoding="utf-8")
        assert f'lowops_live_version{{model="{name}",version="v0001"}} 1' in text
        assert f'model="{({"churn", "charge"} - {name}).pop()}"' not in text


def test_the_first_model_does_exactly_what_it_does_alone(two_models: Path, ran_project: Path) -> None:
    alone = [v for v in values(ran_project / "repo") if v[0] <= WINDOWS[1]]
    assert alone  # ran_project's backfill logged these windows
    assert values(two_models / "repo" / "churn") == alone


def test_the_second_model_trains_and_scores_on_its_own_labels(two_models: Path) -> None:
    repo = two_models / "repo" / "charge"
    logged = values(repo)
    assert {v[1] for v in logged} == {"charge"}
    assert {"rmse", "mae", "r2", "mape"} <= {v[3] for v in logged}
    assert not {"roc_auc", "f1"} & {v[3] for v in logged}
    project = lowops.open(two_models)
    labels = project.snapshot("2025-02", "labels", model="charge")
    assert list(labels.columns) == ["customer_id", "next_charge"]
    predictions = project.predictions("2025-02", model="charge")
    assert len(predictions) == 2000
    joined = predictions.merge(labels, on="customer_id", how="inner")
    assert len(joined) == len(labels) > 1000
    assert (joined["label"] == joined["next_charge"]).all()  # the charge model's labels, not churned's 0/1
    assert joined["label"].nunique() > 100
    assert project.live("charge").card.task == "regression"
    assert project.live("churn").card.task == "classification"


def test_a_command_for_one_version_needs_the_model(two_models: Path) -> None:
    config = two_models / "config" / "lowops.yaml"
    result = invoke(two_models, "models", "show", "v0001")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (f"Error: {config} has several models (churn, charge); "
                                              "say which with --model NAME.")
    result = invoke(two_models, "models", "show", "v0001", "--model", "nope")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: no model 'nope' in {config}; its models: churn, charge."
    shown = invoke(two_models, "--model", "charge", "models", "show", "v0001", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["task"] == "regression"


def test_json_output_is_one_document_by_model(two_models: Path) -> None:
    result = invoke(two_models, "models", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert sorted(listed) == ["charge", "churn"]
    assert [v["version"] for v in listed["charge"]] == ["v0001"]
    one = json.loads(invoke(two_models, "models", "list", "--json", "--model", "churn").stdout)
    assert one == listed["churn"]


def test_the_api_names_the_model_when_there_are_several(two_models: Path) -> None:
    project = lowops.open(two_models)
    assert project.models == ["churn", "charge"]
    with pytest.raises(UsageError, match=r"has several models \(churn, charge\); say which with model=NAME"):
        project.live()
    metrics = project.metrics()
    assert set(metrics["model"]) == {"churn", "charge"}
    assert set(project.metrics("charge")["model"]) == {"charge"}
    assert project.model_config("charge").labels.target == "next_charge"
    assert project.model_config("churn").labels.sql == "sql/labels.sql"


def test_a_failing_model_does_not_stop_the_next(two_models: Path, tmp_path: Path) -> None:
    project = copy_project(two_models, tmp_path / "p")
    config = as_models_again(project, {"sql": "sql/charge_labels.sql", "target": "no_such_column"})
    result = invoke(project, "run", "--window", "2025-04")
    assert result.exit_code == 65, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: model charge: ")
    assert "no_such_column" in errors[0]
    assert "2025-04: scored 2000 rows with v0001" in result.stdout  # churn ran first, to the end
    assert config.is_file()


def as_models_again(project: Path, charge_labels: dict[str, str]) -> Path:
    path = project / "config" / "lowops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["models"][1]["labels"] = charge_labels
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_an_entry_merges_over_the_top_level_key_by_key(project: Path) -> None:
    path = project / "config" / "lowops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["models"] = [{"name": "churn"},  # the top-level sections as they are
                      {"name": "charge", "labels": {"target": "next_charge"}, "model": CHARGE["model"],
                       "drift": {"reference": "previous"}}]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    loaded = lowops.open(project)
    charge, churn = loaded.model_config("charge"), loaded.model_config("churn")
    assert churn.model.name == "churn" and churn.labels.target == "churned"
    assert churn.model.estimator.class_ == data["model"]["estimator"]["class"]
    assert charge.labels.sql == "sql/labels.sql"  # inherited: the entry set only the target
    assert charge.drift.reference == "previous" and churn.drift.reference == "training"
    assert charge.drift.enabled is churn.drift.enabled is False  # the rest of the section comes from the top
    assert charge.model.name == "charge" and charge.model.estimator.params == {"max_iter": 40}
    assert charge.model.task == "regression"


@pytest.mark.parametrize(("entries", "message"), [
    ([{"name": "churn"}, {"name": "churn"}],
     "models[1]: the name 'churn' is given twice; each model needs its own name (it names the model's "
     "directory in the repository)."),
    ([{"name": "churn", "repository": "elsewhere"}],
     "models[0] (churn): unknown key 'repository'. It is shared by the project's models: set it at the top "
     "level. Allowed keys here: name, entity_key, features, labels, model, train, drift, triggers, compare, "
     "smoke, deploy, governance, notify."),
    ([{"name": "churn", "labls": {}}],
     "models[0] (churn): unknown key 'labls'. Did you mean 'labels'? Allowed keys here: name, entity_key, "
     "features, labels, model, train, drift, triggers, compare, smoke, deploy, governance, notify."),
    ([{"name": "churn", "model": {"name": "other"}}],
     "models[0] (churn): model.name is 'other'; leave it out, the entry's name is the model's name."),
    ([], "the 'models' parameter must be a list of models, each a mapping with a name (e.g. - name: churn). "
         "Got [] instead."),
])
def test_a_bad_models_list_is_a_config_error(project: Path, entries: list[dict[str, Any]], message: str) -> None:
    path = project / "config" / "lowops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["models"] = entries
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr.splitlines()[-1] == f"Error: {path}: {message}"


def test_a_models_section_error_names_the_entry(project: Path) -> None:
    path = as_models(project, {**CHARGE, "train": {"primary_metric": "rsme"}})
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr.splitlines()[-1].startswith(f"Error: {path}: models[1] (charge): the 'train.primary_metric' "
                                                     "parameter must be ")


def test_a_model_may_not_take_a_name_the_repository_uses(project: Path) -> None:
    path = as_models(project, {**CHARGE, "name": "logs"})
    result = invoke(project, "validate")
    assert result.exit_code == 78
    assert result.stderr.splitlines()[-1] == (
        f"Error: {path}: a model may not be named 'logs' in a project with several models: its directory would "
        f"be {project / 'repo' / 'logs'}, a name the repository uses (audit.head, audit.log, data, deploy, logs, models, monitoring, outputs, reports, runs). Rename the model.")


def test_a_one_model_repository_is_not_taken_for_several(ran_project: Path, tmp_path: Path) -> None:
    project = copy_project(ran_project, tmp_path / "p")
    path = as_models(project, CHARGE)
    result = invoke(project, "status")
    assert result.exit_code == 78
    assert result.stderr.splitlines()[-1].startswith(f"Error: {project / 'repo'} holds a one-model repository (")
    assert result.stderr.splitlines()[-1].endswith(
        f"), but {path} lists several models, each with its own directory there. Move what it holds into "
        f"{project / 'repo' / 'churn'}/ if it is 'churn''s, or set 'repository' to another directory.")


def test_the_demos_two_model_config_holds_churn_and_a_regression_of_next_months_charge() -> None:
    from conftest import ROOT

    project = lowops.open(ROOT, ROOT / "config" / "two-models.yaml")
    assert project.models == ["churn", "charge"]
    charge = project.model_config("charge")
    assert (charge.model.task, charge.train.primary_metric, charge.labels.target) == ("regression", "rmse",
                                                                                      "next_charge")
    assert (ROOT / charge.labels.sql).is_file()
    assert project.model_config("churn").labels.target == "churned"
    assert project.repo == ROOT / "repo-two-models"


def test_each_model_has_its_own_lock(two_models: Path, tmp_path: Path) -> None:
    """One model's run holding its lock stops neither the other model's run nor, for the other, `run` of all."""
    project = copy_project(two_models, tmp_path / "p")
    lock = layout.lock_file(project / "repo" / "churn")
    holder = subprocess.Popen(["flock", str(lock), "cat"], stdin=subprocess.PIPE)  # holds it until stdin closes
    try:
        while subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode == 0:
            assert holder.poll() is None, "flock did not take the lock"
        alone = invoke(project, "--model", "charge", "run", "--window", "2025-04")
        assert alone.exit_code == 0, alone.output
        assert "2025-04: scored 2000 rows with v0001" in alone.stdout
        both = invoke(project, "run", "--window", "2025-05")
        assert both.exit_code == 75, both.output
        errors = [line for line in both.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and errors[0].startswith(f"Error: model churn: Repository {project / 'repo' / 'churn'} "
                                                          "is locked by another lowops process")
        assert both.stdout.splitlines()[-1].startswith("2025-05: scored 2000 rows with v0001")  # charge's, after
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=PATIENCE)
