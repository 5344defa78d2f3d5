"""``lowops init``: a new project from the templates, with the demo store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lowops.errors import ConfigError
from lowops.io.templates import ITEMS, copy_templates


def init_project(target: Path, *, demo: bool = True, customers: int = 24_000) -> dict[str, Any]:
    """Lay out a project in ``target`` and build the demo feature store in it.

    Raises:
        ConfigError: ``target`` already holds a project file.
    """
    target = target.resolve()
    clashes = [item for item in ITEMS if (target / item).exists()]
    if clashes:
        raise ConfigError(
            f"{target} already holds {', '.join(clashes)}; choose an empty directory "
            "(lowops init never overwrites a project)."
        )
    target.mkdir(parents=True, exist_ok=True)
    written = copy_templates(target)
    rows: dict[str, int] = {}
    if demo:
        rows = build_demo_store(target, customers=customers)
    return {"project": str(target), "files": [str(p) for p in written], "demo_rows": rows}


def build_demo_store(project_dir: Path, *, customers: int = 24_000) -> dict[str, int]:
    """Write the demo SQLite store to ``<project>/demo/store.sqlite`` (replacing it)."""
    from lowops.demo import write_demo_store

    store = project_dir / "demo" / "store.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    if store.exists():
        store.unlink()
    return write_demo_store(f"sqlite:///{store}", customers=customers)


def demo_store_url(project_dir: Path) -> str:
    store = project_dir / "demo" / "store.sqlite"
    if not store.parent.exists():
        raise ConfigError(f"{project_dir} has no demo/ directory.")
    return f"sqlite:///{store}"
