"""Shared fixtures: one small demo project per session, copied for tests that change it.

Building the demo store and running the loop over twelve windows are the slow
parts of the suite, so each happens once per session (``demo_template`` and
``ran_project``). A test that writes to a project works on a fresh copy
(``project``, or ``copy_project(ran_project)``); tests that only read use the
session fixtures directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lowops.cli import cli as lowops_cli

ROOT = Path(__file__).resolve().parents[1]  # the repository: its config/, sql/ and pipelines/ are the templates
CUSTOMERS = 2000
BACKFILL = ("2025-01", "2025-12")
WINDOWS_2025 = [f"2025-{month:02d}" for month in range(1, 13)]

Invoke = Callable[..., Result]

# The suite decides these itself (monkeypatch per test): a developer's or CI's
# environment must not point the demo project at another database or inject faults.
for _name in ("LOWOPS_DB_URL", "LOWOPS_LOCK_WAIT", "LOWOPS_FAULT", "LOWOPS_REPO", "LOWOPS_BIN", "LOWOPS_VENV"):
    os.environ.pop(_name, None)


def invoke(project: Path | None, *args: str, catch_exceptions: bool = True,
           env: dict[str, str] | None = None) -> Result:
    """``lowops -C PROJECT ARGS...`` in-process; stdout and stderr are also kept apart."""
    argv = (["-C", str(project)] if project is not None else []) + list(args)
    return CliRunner().invoke(lowops_cli, argv, catch_exceptions=catch_exceptions, env=env, prog_name="lowops")


def lighten(project: Path) -> None:
    """Make the demo project quick and its loop deterministic, by editing its config as a user would.

    This suite covers the foundation loop (extract, train the first version, score,
    evaluate, log) and what it writes. Training dominates its runtime, so the demo
    estimator boosts fewer rounds; and monitoring and continuous training, which have
    their own suites, are switched off so that v0001 stays live over 2025 whatever
    the demo world's shift does to the KPIs.
    """
    import yaml

    config = project / "config" / "lowops.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["model"]["estimator"]["params"]["max_iter"] = 40
    if "drift" in data:
        data["drift"]["enabled"] = False
    if "triggers" in data:
        data["triggers"].update(model_drift=False, data_drift=False, every_windows=0, config_change=False)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def copy_project(source: Path, dest: Path) -> Path:
    """A full copy of a project (config, SQL, pipelines, demo store and repository)."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def tree(root: Path, ignore: Sequence[str] = ()) -> list[str]:
    """Every file under ``root`` as sorted relative paths, minus ``ignore``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and str(p.relative_to(root)) not in ignore)


@pytest.fixture(scope="session")
def lowops_bin() -> Path:
    """The installed console script (the one cron calls)."""
    path = Path(sys.executable).parent / "lowops"
    assert path.is_file(), f"the lowops script is not installed next to {sys.executable}"
    return path


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised small demo project (config, SQL, pipelines, demo store), no repo/ yet.

    Never written to by tests: copy it (the ``project`` fixture) to change anything.
    """
    from lowops.commands.init import init_project

    target = tmp_path_factory.mktemp("template") / "churn"
    result = init_project(target, customers=CUSTOMERS)
    assert result["demo_rows"] == {name: 15 * CUSTOMERS for name in
                                   ("customer_profile", "usage_monthly", "billing_monthly", "churn_labels")}
    assert not (target / "repo").exists()
    lighten(target)
    return target


@pytest.fixture
def project(demo_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo project, to change at will."""
    return copy_project(demo_template, tmp_path / "churn")


@pytest.fixture(scope="session")
def ran_project(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo project on which ``lowops backfill --from 2025-01 --to 2025-12`` ran.

    Read-only for tests: copy it (``copy_project``) before running anything that writes.
    """
    target = copy_project(demo_template, tmp_path_factory.mktemp("ran") / "churn")
    result = invoke(target, "backfill", "--from", BACKFILL[0], "--to", BACKFILL[1])
    assert result.exit_code == 0, result.output
    return target


@pytest.fixture
def cli() -> Invoke:
    """``cli(project, *args)`` runs ``lowops -C project args...`` through click's CliRunner."""
    return invoke
