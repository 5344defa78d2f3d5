"""The one set of project templates: the demo project's own config/, sql/, pipelines/, crontab.example.

An installed wheel carries them as ``lowops/_templates`` (see pyproject.toml);
an editable install reads them straight from the repository root. Either way
there is exactly one copy in the source tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lowops.errors import ConfigError, WriteError

ITEMS = ("config", "sql", "pipelines", "crontab.example")


def templates_root() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_templates"
    if (packaged / "config" / "lowops.yaml").is_file():
        return packaged
    source = Path(__file__).resolve().parents[3]
    if (source / "config" / "lowops.yaml").is_file() and (source / "pyproject.toml").is_file():
        return source
    raise ConfigError("The project templates are missing from this lowops installation; reinstall lowops.")


def copy_templates(target: Path) -> list[Path]:
    """Copy the templates into ``target`` (which must not hold a project yet)."""
    root = templates_root()
    written = []
    try:
        for item in ITEMS:
            source, dest = root / item, target / item
            if source.is_dir():
                shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", ".keep"))
            else:
                shutil.copy2(source, dest)
            written.append(dest)
    except OSError as exc:
        raise WriteError(f"Cannot create the project in {target}: {exc}.") from exc
    return written
