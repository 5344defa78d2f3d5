"""lowops: MLOps for one Linux server, a SQL database and cron.

From Python: ``lowops.open(project_dir)`` (see :mod:`lowops.api`); importing lowops
itself loads nothing else, so the CLI starts fast.
"""

from __future__ import annotations

import os as _os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lowops.api import Project

# OpenMP threads that wait for work sleep instead of spinning. The runtime reads this once, when
# it loads (with scikit-learn), so it is set here, before anything of lowops imports scikit-learn.
# A spinning thread burns a core that cron's other jobs hold; a value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"


def open(path: str | Path = ".", config: str | Path | None = None) -> Project:  # noqa: A001 - lowops.open reads as intended
    """The lowops project at ``path``, loaded and validated (:class:`lowops.api.Project`).

    Raises:
        lowops.errors.ConfigError: the config is missing or invalid.
    """
    from lowops.api import open_project

    return open_project(path, config)
