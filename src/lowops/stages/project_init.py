"""``lowops init``: a new project from the templates, with the demo store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lowops.errors import ConfigError
from lowops.io.templates import ITEMS, copy_templates


def init_project(target: Path, *, demo: bool = True, customers: int = 24_000,
                 demo_url: str | None = None) -> dict[str, Any]:
    """Lay out a project in ``target`` and build the demo feature store in it.

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
    rows: dict[str, int] = {}
    if demo:
        rows = build_demo_store(target, customers=customers, url=demo_url)
    return {"project": str(target), "files": [str(p) for p in written], "demo_rows": rows}


def build_demo_store(project_dir: Path, *, customers: int = 24_000, url: str | None = None) -> dict[str, int]:
    """Write the demo store to ``<project>/demo/store.sqlite``, or into the database at ``url``.

    Either way its four tables are replaced. A server URL (PostgreSQL, MariaDB)
    loads into the database, and the schema its search path names, as given.

    Raises:
        ConfigError: ``url`` is not a SQLAlchemy URL, or its driver is not installed.
        DatabaseError: the database does not answer or refuses the load.
    """
    from lowops.demo import write_demo_store

    if url is not None:
        return _load_demo(project_dir, url, customers)
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


def _load_demo(project_dir: Path, url: str, customers: int) -> dict[str, int]:
    from sqlalchemy import exc as sa_exc

    from lowops import secrets
    from lowops.demo import write_demo_store
    from lowops.errors import DatabaseError
    from lowops.io.db import Database

    db = Database(url, project_dir)  # parses, resolves a relative SQLite path, registers the password
    try:
        return write_demo_store(db.url.render_as_string(hide_password=False), customers=customers)
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"Cannot use database {db.masked_url}: {secrets.redact(str(exc))}. "
            "Install the driver (e.g. pip install 'lowops[postgres]' or 'lowops[mysql]')."
        ) from None
    except sa_exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        detail = secrets.redact(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__)
        raise DatabaseError(f"Database {db.masked_url} failed to load the demo store: {detail}") from None
