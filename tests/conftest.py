"""Shared fixtures and the one way the suite builds and configures demo projects.

``make_project`` runs ``lowops init`` (the demo store with ``customers`` per window)
and applies config overlays through ``set_config``, the one editor of a project's
``config/lowops.yaml``. Building a store and running the loop over twelve windows
are the slow parts of the suite, so each suite builds its projects once per session
(``demo_template`` and ``ran_project`` here, ``ct_support`` and
``reliability_support`` for theirs) and tests work on copies (``copy_project``).
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import settings

from lowops.cli import cli as lowops_cli

if TYPE_CHECKING:
    from lowops.context import Context

ROOT = Path(__file__).resolve().parents[1]  # the repository: its config/, sql/ and pipelines/ are the templates
CUSTOMERS = 2000
BACKFILL = ("2025-01", "2025-12")
WINDOWS_2025 = [f"2025-{month:02d}" for month in range(1, 13)]
DEMO_TABLES = ("customer_profile", "usage_monthly", "billing_monthly", "churn_labels")
# How long the suite waits for a process it started (a lowops command, a lock holder, a probe) before
# calling it hung. A hang, not a slow machine: a busy server may take many times a quiet one's time, and
# the suite must pass there too. pytest-timeout's limit (pyproject.toml) is the net above it.
PATIENCE = 900

# The foundation suite's overlay: a quick estimator and a deterministic loop. This suite covers
# the foundation loop (extract, train the first version, score, evaluate, log) and what it writes.
# Training dominates its runtime, so the demo estimator boosts fewer rounds; and monitoring and
# continuous training, which have their own suites, are off so that v0001 stays live over 2025
# whatever the demo world's shift does to the KPIs.
LIGHT: dict[str, Any] = {
    "model": {"estimator": {"params": {"max_iter": 40}}},
    "drift": {"enabled": False},
    "triggers": {"model_drift": False, "data_drift": False, "every_windows": 0, "config_change": False},
}

Invoke = Callable[..., Result]

# The suite decides these itself (monkeypatch per test): a developer's or CI's
# environment must not point the demo project at another database or inject faults.
for _name in ("LOWOPS_DB_URL", "LOWOPS_LOCK_WAIT", "LOWOPS_FAULT", "LOWOPS_REPO", "LOWOPS_BIN", "LOWOPS_VENV"):
    os.environ.pop(_name, None)
# OpenMP's threads wait for work by spinning: beside a busy process on a 2-core machine each model fit then
# costs several times its CPU (the suite's projects are small: a fit is mostly waiting between trees). Passive
# waiting computes the same models; set before any OpenMP runtime loads, and inherited by every lowops started.
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
# Every command waits for the Sweetviz reports it starts in the background, so no report
# outlives its test or writes into a project a later test copies (tests of the background
# itself unset it).
os.environ["LOWOPS_SWEETVIZ_WAIT"] = "1"
# Projects' integrity keys (~/.config/lowops/keys/) go to a directory of this process's own,
# inherited by every lowops the suite starts, never to the runner's real configuration.
# A forked lowops child imports this module again (its target lives in reliability_support): it
# inherits its test process's directory instead of making one of its own. Each xdist worker makes
# its own (tests remove and restore a key), not the one it inherits from the controller.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_PREFIX = f"lowops-test-config-{WORKER}-"
_INHERITED = os.environ.get("XDG_CONFIG_HOME", "")
_OWN = not Path(_INHERITED).name.startswith(_PREFIX)
KEYS_HOME = Path(tempfile.mkdtemp(prefix=_PREFIX)) if _OWN else Path(_INHERITED)
os.environ["XDG_CONFIG_HOME"] = str(KEYS_HOME)


# Hypothesis fails an example that runs past its deadline (200 ms by default): a busy machine's speed, not the
# code's. The suite's tests set no deadline, and neither do tests added later. The examples are the same on every
# run (derandomize), so a landing is not decided by the draw; HYPOTHESIS_PROFILE=explore searches afresh.
settings.register_profile("lowops", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lowops"))


def pytest_unconfigure(config: pytest.Config) -> None:
    # Not atexit: the suite's forked lowops children would run it too, and remove the keys under the others.
    if _OWN:
        shutil.rmtree(KEYS_HOME, ignore_errors=True)


def home_with_keys(home: Path) -> Path:
    """``home`` made the runner's home for a bare environment (cron's: no XDG_CONFIG_HOME): the keys in ~/.config."""
    keys = home / ".config" / "lowops"
    if not keys.exists():
        keys.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if (KEYS_HOME / "lowops").is_dir():
            shutil.copytree(KEYS_HOME / "lowops", keys)
    return home


def invoke(project: Path | None, *args: str, catch_exceptions: bool = True,
           env: dict[str, str] | None = None) -> Result:
    """``lowops -C PROJECT ARGS...`` in-process; stdout and stderr are also kept apart."""
    argv = (["-C", str(project)] if project is not None else []) + list(args)
    return CliRunner().invoke(lowops_cli, argv, catch_exceptions=catch_exceptions, env=env, prog_name="lowops")


def set_config(project: Path, updates: Mapping[str, Any]) -> Path:
    """Deep-merge ``updates`` into the project's config/lowops.yaml, as a user editing it would; its path.

    Mappings merge key by key and anything else replaces what was there, with one exception:
    an ``estimator`` that names a ``class`` replaces the old estimator whole, so the previous
    class's ``params`` do not carry over (an estimator without ``class`` merges like any mapping).
    Keys keep their place in the file; new ones go at the end of their mapping.
    """
    path = project / "config" / "lowops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
        for key, value in extra.items():
            whole = key == "estimator" and isinstance(value, Mapping) and "class" in value
            if isinstance(value, Mapping) and isinstance(into.get(key), dict) and not whole:
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    merge(data, updates)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def make_project(dest: Path, *overlays: Mapping[str, Any], customers: int) -> Path:
    """A new demo project at ``dest``: ``lowops init`` with ``customers`` per window, then each overlay in turn.

    Every project of the suite is built here; callers that need one more than once cache it
    for the session and hand out copies (``copy_project``).
    """
    from lowops.commands.init import init_project

    result = init_project(dest, customers=customers)
    assert result["demo_rows"] == {name: 15 * customers for name in DEMO_TABLES}
    assert not (dest / "repo").exists()
    for overlay in overlays:
        set_config(dest, overlay)
    return dest


def copy_project(source: Path, dest: Path) -> Path:
    """A full copy of a project (config, SQL, pipelines, demo store and repository) at ``dest``."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def open_context(project: Path) -> Context:
    """The :class:`lowops.context.Context` a command would open on ``project``."""
    from lowops.config import load_project
    from lowops.context import Context

    return Context.open(load_project(project))


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
    """An initialised small demo project (config, SQL, pipelines, demo store), LIGHT, no repo/ yet.

    Never written to by tests: copy it (the ``project`` fixture) to change anything.
    """
    return make_project(tmp_path_factory.mktemp("template") / "churn", LIGHT, customers=CUSTOMERS)


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
