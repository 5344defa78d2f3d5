"""The Python API: README's worked example, executed; the CLI's exceptions, lock and checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PATIENCE, copy_project
from ct_support import base_project

import lowops
from lowops.errors import (
    ConfigError,
    IntegrityError,
    LockHeldError,
    UnknownVersionError,
    WindowError,
)

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    found = re.search(r"<!-- api-example -->\n```python\n(.*?)```\n<!-- /api-example -->", README.read_text(), re.DOTALL)
    assert found, "README.md has no api-example block"
    return found.group(1)


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(base_project(tmp_path_factory), tmp_path / "churn-demo")


def test_the_readme_example_runs_as_written(project: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _example()], cwd=project.parent, capture_output=True, text=True,
                          timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    status, version, rows, auc, matters = done.stdout.splitlines()[0].split()
    assert (status, version, rows, matters) == ("done", "v0001", "2000", "False")
    logged = [line.split() for line in (project / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    assert auc == f"{float(next(p[5] for p in logged if p[1] == '2025-02' and p[4] == 'roc_auc')):.4f}"
    assert done.stdout.splitlines()[1] == "65"
    runs = sorted(p.name for p in (project / "repo" / "runs").glob("r*.json"))
    assert runs == ["r000001.json", "r000002.json"]  # one ledger per run, as the CLI writes


def test_errors_are_the_cli_exceptions(project: Path, tmp_path: Path) -> None:
    opened = lowops.open(project)
    assert opened.models == ["churn"]
    assert [v["version"] for v in opened.versions()] == ["v0001"]
    with pytest.raises(UnknownVersionError, match="Model 'churn' has no version 'v0009'; versions: v0001.") as err:
        opened.load("v0009")
    assert err.value.exit_code == 2
    with pytest.raises(WindowError):
        opened.verdict("2025-13")
    with pytest.raises(ConfigError) as bad:
        lowops.open(tmp_path / "nowhere")
    assert bad.value.exit_code == 78


def test_a_tampered_model_is_refused_before_it_is_loaded(project: Path) -> None:
    model = next((project / "repo" / "models" / "churn" / "v0001").glob("model.*"))
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(IntegrityError) as err:
        lowops.open(project).live()
    assert err.value.exit_code == 77


def test_run_takes_the_repository_lock(project: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from lowops.io.lock import repository_lock\n"
         f"with repository_lock(Path({str(project / 'repo')!r}), command='holder'):\n"
         "    print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockHeldError) as err:
            lowops.open(project).run("2025-02")
        assert err.value.exit_code == 75
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=PATIENCE)
    assert not (project / "repo" / "runs" / "r000002.json").exists()
