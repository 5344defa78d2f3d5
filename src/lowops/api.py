"""The Python API: a project from a notebook or a script, through the CLI's own code paths.

    import lowops

    project = lowops.open("churn-demo")
    live = project.live()                      # the live version, verified and loaded
    frame = project.snapshot("2025-03")        # the features lowops scored that window
    live.predict(frame)                        # scores through the model's own preparation
    project.verdict("2025-03")["drift_that_matters"]
    project.metrics().query("metric == 'roc_auc'")
    project.run("2025-04")                     # the whole loop, under the repository lock

Every call checks what the CLI checks (digests, HMAC, the lock, the SQL gate) and raises
the CLI's own exceptions (:mod:`lowops.errors`, each with its ``exit_code``); nothing
here knows a path of the repository that the commands do not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowops import commands
from lowops.config import Project as LoadedProject
from lowops.config_schema import Config
from lowops.context import Context
from lowops.errors import DataError, UsageError
from lowops.io import layout, registry, version_labels
from lowops.io import snapshots as snaps
from lowops.io.logs import read_metrics
from lowops.model.card import ModelCard
from lowops.model.predict import scores
from lowops.windows import parse_window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Model", "Project", "open_project"]


@dataclass(frozen=True)
class Model:
    """One version of a model, verified and loaded: its fitted pipeline and its card."""

    name: str
    version: str
    pipeline: Any
    card: ModelCard

    def predict(self, frame: pd.DataFrame) -> Any:
        """Scores of ``frame``'s rows (positive-class probability, or the regression's value; multiclass:
        one probability per class, n x k, in the order of ``card.classes``)."""
        return scores(self.pipeline, self.card.task, frame[self.card.schema.names])


class Project:
    """A lowops project: its config, its repository and its loop."""

    def __init__(self, loaded: LoadedProject) -> None:
        self._loaded = loaded

    @property
    def path(self) -> Path:
        return self._loaded.root

    @property
    def repo(self) -> Path:
        """The repository (in a project with several models, the directory holding each model's)."""
        return self._loaded.shared_repo if self._loaded.several else self._loaded.repo

    @property
    def config(self) -> Config:
        """The validated configuration (read-only; of the first model in a project with several)."""
        return self._loaded.config

    def model_config(self, model: str) -> Config:
        """One model's validated configuration: the top-level sections with its `models:` entry merged in."""
        return self._one(model).config

    @property
    def models(self) -> list[str]:
        """The models of the project, in the config's order."""
        return self._loaded.model_names

    def _window(self, label: str) -> str:
        """``label`` checked against ``windows.frequency`` (a WindowError, exit 2, otherwise)."""
        windows = self._loaded.config.windows
        return parse_window(label, windows.frequency, tz=windows.timezone).label

    def _one(self, model: str | None) -> LoadedProject:
        """The project as one model sees it (its own repository directory in a project with several)."""
        return self._loaded.for_model(model, how="model=NAME")

    @contextmanager
    def _context(self, model: str | None) -> Iterator[Context]:
        ctx = commands.open_context(self._one(model))
        try:
            yield ctx
        finally:
            ctx.close()

    def versions(self, model: str | None = None) -> list[dict[str, Any]]:
        """Every version with its status and hold-out KPI, as ``lowops models list --json`` prints them."""
        from lowops.commands.models import list_models

        return list_models(self._one(model))

    def live(self, model: str | None = None) -> Model:
        """The live version, verified (digests, HMAC) and loaded.

        Raises:
            UsageError: no version is live yet.
            IntegrityError: a file of the version fails its digest or HMAC, or its model file needs a
                type outside ``model.allowed_modules``.
        """
        one = self._one(model)
        name = one.config.model.name
        pipeline, card, _slot = registry.load_live(one.repo, name, allowed_modules=one.config.model.allowed_modules,
                                                 pickles=one.config.integrity.load_pickles)
        return Model(name, str(card.version), pipeline, card)

    def load(self, version: str, model: str | None = None) -> Model:
        """One version (``v0003``, or an alias: ``@live``, ``@candidate``), verified and loaded.

        Raises:
            UnknownVersionError: there is no such version.
            IntegrityError: a file of the version fails its digest or HMAC, or its model file needs a
                type outside ``model.allowed_modules``.
        """
        one = self._one(model)
        name = one.config.model.name
        version = version_labels.resolve(one.repo, name, version)
        pipeline, card = registry.load_model(one.repo, name, version, allowed_modules=one.config.model.allowed_modules,
                                             pickles=one.config.integrity.load_pickles)
        return Model(name, version, pipeline, card)

    def snapshot(self, window: str, kind: str = "features", model: str | None = None) -> pd.DataFrame:
        """The window's latest extract (``features`` or ``labels``) as the model used it, digest verified.

        Raises:
            DataError: the window has no such snapshot (run or extract it first).
            IntegrityError: the snapshot's file does not match its manifest.
        """
        if kind not in ("features", "labels"):
            raise UsageError(f"kind must be features or labels, not {kind!r}")
        one = self._one(model)
        label = self._window(window)
        found = snaps.latest(one.repo, label, kind, one.config.model.name)
        if found is None:
            raise DataError(f"no {kind} snapshot of {label} in {one.repo}; run `lowops extract --window {label}` "
                            f"or `lowops run --window {label}` first")
        snaps.verify_snapshot(found)
        return snaps.load(found)

    def predictions(self, window: str, model: str | None = None) -> pd.DataFrame:
        """The window's latest predictions file (every column lowops wrote).

        Raises:
            DataError: the window was never scored.
        """
        import pandas as pd

        repo = self._one(model).repo
        label = self._window(window)
        files = layout.predictions_files(repo, label)
        if not files:
            raise DataError(f"{label} was never scored in {repo}; run `lowops score --window {label}` first")
        return pd.read_csv(files[-1])

    def verdict(self, window: str, model: str | None = None) -> dict[str, Any]:
        """The window's verdict file: drift, impact and model drift as monitoring judged them.

        Raises:
            DataError: the window was never monitored.
        """
        repo = self._one(model).repo
        label = self._window(window)
        path = layout.monitoring_dir(repo, label) / layout.VERDICT_FILE
        if not path.is_file():
            raise DataError(f"{label} was never monitored in {repo}; run `lowops run --window {label}` or "
                            f"`lowops drift --window {label}` first")
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found

    def metrics(self, model: str | None = None) -> pd.DataFrame:
        """Every line of logs/metrics.log: time, window, model, version, metric, value, rows, run (in a project
        with several models, every model's unless ``model`` names one)."""
        import pandas as pd

        names = [model] if model is not None or len(self.models) == 1 else self.models
        columns = ["time", "window", "model", "version", "metric", "value", "rows", "run"]
        rows = [row for name in names for row in read_metrics(self._one(name).repo)]
        return pd.DataFrame(rows, columns=columns)

    def run(self, window: str | None = None, *, force: bool = False, model: str | None = None) -> dict[str, Any]:
        """The whole loop for one window, exactly as ``lowops run --window W`` (lock, ledger, notifications).

        Returns:
            The outcome: window, status (done, empty, skipped), run id and the run's outputs. In a project
            with several models and no ``model``: each model's outcome, by name, run in the config's order.

        Raises:
            LockHeldError: another run holds the repository. Any :class:`lowops.errors.LowopsError`
            a run can end with, as the CLI would exit with its ``exit_code``.
        """
        from lowops.commands import run as pipeline

        if model is None and len(self.models) > 1:
            return {name: self.run(window, force=force, model=name) for name in self.models}
        with self._context(model) as ctx:
            outcome = pipeline.run(ctx, ctx.window(window), force=force)
        return {"window": outcome.window, "status": outcome.status, "run_id": outcome.run_id, **outcome.outputs}


def open_project(path: str | Path = ".", config: str | Path | None = None) -> Project:
    """The project at ``path`` (its config/lowops.yaml, or ``config``), loaded and validated.

    Raises:
        ConfigError: the config is missing or invalid (the CLI's exit 78).
    """
    return Project(commands.load(Path(path), Path(config) if config is not None else None))
