"""``lowops report``: the static HTML dashboard of the repository (read-only; no lock, no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lowops.config import Project
from lowops.report import write_report


def report(project: Project, output: Path | None = None) -> dict[str, Any]:
    """Write the dashboard (``repo/reports/index.html`` unless ``output``) and say what went into it."""
    return write_report(project, output)
