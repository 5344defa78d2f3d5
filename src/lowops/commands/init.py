"""``lowops init``: a new project from the templates, with the demo store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lowops.config import load_project
from lowops.errors import ConfigError
from lowops.io import keys
from lowops.io.db import masked
from lowops.io.demo_store import build_demo_store
from lowops.io.templates import ITEMS, copy_templates

__all__ = ["build_demo_store", "init_project", "masked"]


def init_project(target: Path, *, demo: bool = True, customers: int = 24_000,
                 demo_url: str | None = None) -> dict[str, Any]:
    """Lay out a project in ``target``, make its integrity key and build the demo feature store in it.

    The key goes to the runner's configuration directory (``keys.default_file``),
    outside the repository; an existing key of the same project name is kept, so
    a second checkout of a project verifies what the first signed.

    Args:
        target: the new project's directory.
        demo: build the demo store.
        customers: customers per window in the demo store.
        demo_url: load the demo store into this database instead of ``demo/store.sqlite``.

    Raises:
        ConfigError: ``target`` already holds a project file, or ``demo_url`` is unusable.
        DatabaseError: the database at ``demo_url`` refused the load.
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
    key = keys.default_file(load_project(target).config.project)
    created = keys.create(key)
    rows: dict[str, int] = {}
    if demo:
        rows = build_demo_store(target, customers=customers, url=demo_url)
    return {"project": str(target), "files": [str(p) for p in written], "demo_rows": rows,
            "key": str(key), "key_created": created}
