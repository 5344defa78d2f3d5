"""What every stage receives: the project, its database and the logs of this run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lowops.compute import Engine, open_engine
from lowops.config import Project
from lowops.config_schema import Config
from lowops.io import keys, layout, registry
from lowops.io.db import Database, SqlFile, read_sql_file
from lowops.io.files import confine, refuse_links
from lowops.io.logs import EventLog, MetricsLog
from lowops.model.card import ModelCard
from lowops.progress import Progress
from lowops.windows import Window, last_complete, parse_window

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cap_threads(n_jobs: int) -> None:
    """``compute.n_jobs`` > 0 caps the OpenMP and BLAS threads of this process and its children.

    HistGradientBoosting and BLAS take every core whatever ``n_jobs`` says; the
    variables reach libraries loaded from now on (and Dask workers started by
    this command), threadpoolctl the ones already loaded.
    """
    if n_jobs <= 0:
        return
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(n_jobs)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n_jobs)


def use_model_key(project: Project, *, create: bool = True) -> None:
    """Sign and check the project's versions and audit lines with its integrity key (read on first use).

    A project without a configured key uses its default key file; with ``create``, a
    repository that holds no version yet gets one made there (a project made before
    keys were). A repository with versions never gets a new key by itself.
    """
    cfg = project.config.integrity
    if create and not cfg.hmac_key_file and not cfg.hmac_key_env:
        default = keys.default_file(project.config.project)
        if not default.exists() and not any(registry.list_versions(project.repo, name)
                                            for name in registry.model_names(project.repo)):
            keys.create(default)
    keys.use(project.repo, lambda: keys.load(cfg.hmac_key_file, cfg.hmac_key_env, cfg.previous_key_files,
                                             project=project.config.project, root=project.root,
                                             repo=project.repo))


@dataclass
class Context:
    """One command's view of a project."""

    project: Project
    db: Database
    log: EventLog
    run_id: str = "-"
    _sql: dict[str, SqlFile] = field(default_factory=dict)
    _engine: Engine | None = None
    progress: Progress = field(default_factory=Progress)  # a bar on a terminal, else nothing

    @classmethod
    def open(cls, project: Project, echo: bool = False) -> Context:
        """Open a project for a command (close it when done).

        Raises:
            IntegrityError: a path lowops writes in the repository is a symbolic link (nothing is written).
        """
        confine(project.repo)
        refuse_links(layout.fixed_paths(project.repo))
        cfg = project.config.database
        db = Database(cfg.url, project.root, retries=cfg.retries, backoff=cfg.retry_backoff,
                      connect_timeout=cfg.connect_timeout, statement_timeout=cfg.statement_timeout)
        use_model_key(project)
        cap_threads(project.config.compute.n_jobs)
        return cls(project=project, db=db, log=EventLog(project.repo, echo=echo))

    @property
    def engine(self) -> Engine:
        """Where scoring, drift statistics and search run (``compute.engine``), opened on first use."""
        if self._engine is None:
            self._engine = open_engine(self.project.config.compute, self.project.config_path)
            if self._engine.distributed:
                self.log.event("engine", f"compute on {self._engine.describe()}")
        return self._engine

    def close(self) -> None:
        """Release the database connections and the compute engine."""
        self.db.dispose()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            engine.close()

    @property
    def repo(self) -> Path:
        return self.project.repo

    @property
    def config(self) -> Config:
        return self.project.config

    @property
    def metrics(self) -> MetricsLog:
        """Where this run's metric lines go."""
        return MetricsLog(self.repo, self.name, self.run_id)

    @property
    def name(self) -> str:
        """The model's name (``model.name``)."""
        return self.project.config.model.name

    @property
    def classes(self) -> tuple[int | str, ...]:
        """A multiclass model's classes (``labels.classes``, the order of its score columns); none otherwise."""
        cfg = self.project.config
        return tuple(cfg.labels.classes) if cfg.model.task == "classification" and cfg.labels.multiclass else ()

    def _warn_load(self, message: str) -> None:
        self.log.event("load", message, level="WARN")

    def load_live(self) -> tuple[Any, ModelCard, str]:
        """The live model, verified and loaded, with its card and slot (see ``registry.load_live``)."""
        return registry.load_live(self.repo, self.name, warn=self._warn_load,
                                  allowed_modules=self.config.model.allowed_modules,
                                  pickles=self.config.integrity.load_pickles)

    def load_model(self, version: str) -> tuple[Any, ModelCard]:
        """One version, verified and loaded, with its card (a skops file only from ``model.allowed_modules``)."""
        return registry.load_model(self.repo, self.name, version, warn=self._warn_load,
                                   allowed_modules=self.config.model.allowed_modules,
                                   pickles=self.config.integrity.load_pickles)

    def card(self, version: str) -> ModelCard:
        """One version's model card."""
        return registry.read_card(self.repo, self.name, version)

    def window(self, label: str | None) -> Window:
        """The window named on the command line, or the last complete one."""
        windows = self.project.config.windows
        if label is None:
            return last_complete(windows.frequency, tz=windows.timezone)
        return parse_window(label, windows.frequency, tz=windows.timezone)

    def labels_due(self, window: Window) -> bool:
        """Whether the window's labels should be complete, given ``label_delay``."""
        windows = self.project.config.windows
        newest = last_complete(windows.frequency, tz=windows.timezone)
        return window.start <= newest.prev(windows.label_delay).start

    def mart_sql(self) -> dict[str, SqlFile]:
        """The feature marts' SQL files, read and checked once per command."""
        marts = self.project.config.features.marts
        for name, rel in marts.items():
            if name not in self._sql:
                self._sql[name] = read_sql_file(self.project.path(rel), f"features.marts.{name}", self.db.dialect)
        return {name: self._sql[name] for name in marts}

    def label_sql(self) -> SqlFile:
        if "__labels__" not in self._sql:
            self._sql["__labels__"] = read_sql_file(
                self.project.path(self.project.config.labels.sql), "labels.sql", self.db.dialect)
        return self._sql["__labels__"]

    def golden_sql(self) -> SqlFile:
        """``smoke.golden_sql``, the smoke test's golden sample, read and checked once per command."""
        if "__golden__" not in self._sql:
            self._sql["__golden__"] = read_sql_file(
                self.project.path(self.project.config.smoke.golden_sql), "smoke.golden_sql", self.db.dialect)
        return self._sql["__golden__"]

    def with_run(self, run_id: str, window: str | None) -> Context:
        self.run_id = run_id
        self.log = EventLog(self.repo, run_id=run_id, window=window, echo=self.log.echo)
        return self
