"""Aliases, tags and descriptions of versions: ``models/<name>/labels.json``.

Versions are immutable and signed; what people call them changes. So names live
beside the versions in one small JSON file, rewritten atomically under the
repository lock (the commands take it) and recorded in the audit log:

- an **alias** (``@candidate``, ``@champion``) names one version and can move; ``@live``
  is not stored: it always names the version in the live slot;
- **tags** are free labels a version carries (``q3-review``, ``regulator-approved``);
- a **description** is one line of text per version.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lowops.errors import IntegrityError, UnknownVersionError, UsageError
from lowops.io import deploy, layout
from lowops.io.files import read_json, write_json
from lowops.io.registry import check_version

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,39}\Z")
LIVE = "live"


def check_name(what: str, value: str) -> str:
    """An alias or tag name: lower-case letters, digits, '_', '-', '.', starting with a letter.

    Raises:
        UsageError: anything else (an alias cannot be ``live``: that one lowops keeps).
    """
    if not _NAME.match(value):
        raise UsageError(f"{what} {value!r} is not a name lowops accepts: lower-case letters, digits, '_', '-' "
                         "or '.', starting with a letter, at most 40 characters")
    return value


def read(repo: Path, name: str) -> dict[str, Any]:
    """The model's labels: ``{"aliases": {alias: version}, "tags": {version: [tag]}, "descriptions": {version: text}}``.

    Raises:
        IntegrityError: the file is not the JSON lowops writes.
    """
    path = layout.labels_file(repo, name)
    data = read_json(path) if path.is_file() else {}
    ok = isinstance(data, dict) and all(isinstance(data.get(k, {}), dict) for k in ("aliases", "tags", "descriptions"))
    if not ok:
        raise IntegrityError(f"{path} is not a labels file lowops wrote; restore it from a backup or remove it.")
    return {"aliases": dict(data.get("aliases", {})), "tags": {v: list(t) for v, t in data.get("tags", {}).items()},
            "descriptions": dict(data.get("descriptions", {}))}


def _write(repo: Path, name: str, labels: dict[str, Any]) -> None:
    write_json(layout.labels_file(repo, name), labels, overwrite=True)


def resolve(repo: Path, name: str, ref: str) -> str:
    """A version named directly (``v0003``) or by alias (``@candidate``, ``@live``).

    Raises:
        UnknownVersionError: no such alias, or nothing is live for ``@live``.
    """
    if not ref.startswith("@"):
        return ref
    alias = ref[1:]
    if alias == LIVE:
        live = deploy.live_version(repo, name)
        if live is None:
            raise UnknownVersionError(f"@live names no version of '{name}': nothing was deployed yet.")
        return live
    aliases = read(repo, name)["aliases"]
    if alias not in aliases:
        known = ", ".join(["@live", *(f"@{a}" for a in sorted(aliases))])
        raise UnknownVersionError(f"Model '{name}' has no alias {ref!r}; aliases: {known}.")
    return str(aliases[alias])


def set_alias(repo: Path, name: str, alias: str, version: str | None) -> str | None:
    """Point ``alias`` at ``version`` (None: remove it); the version it named before."""
    check_name("alias", alias)
    if alias == LIVE:
        raise UsageError("@live always names the live slot; switch it with `lowops promote`")
    labels = read(repo, name)
    before: str | None = labels["aliases"].get(alias)
    if version is None:
        if before is None:
            raise UsageError(f"Model '{name}' has no alias @{alias} to remove")
        del labels["aliases"][alias]
    else:
        check_version(repo, name, version)
        labels["aliases"][alias] = version
    _write(repo, name, labels)
    return before


def tag(repo: Path, name: str, version: str, value: str, *, remove: bool = False) -> list[str]:
    """Add (or remove) one tag of ``version``; its tags after."""
    check_name("tag", value)
    check_version(repo, name, version)
    labels = read(repo, name)
    tags = labels["tags"].setdefault(version, [])
    if remove:
        if value not in tags:
            raise UsageError(f"{name} {version} has no tag {value!r}")
        tags.remove(value)
    elif value not in tags:
        tags.append(value)
    if not tags:
        del labels["tags"][version]
    _write(repo, name, labels)
    return sorted(tags)


def describe(repo: Path, name: str, version: str, text: str) -> None:
    """Set ``version``'s one-line description (empty: remove it)."""
    check_version(repo, name, version)
    labels = read(repo, name)
    cleaned = " ".join(text.split())
    if len(cleaned) > 500:
        raise UsageError(f"a description holds at most 500 characters (got {len(cleaned)})")
    if cleaned:
        labels["descriptions"][version] = cleaned
    else:
        labels["descriptions"].pop(version, None)
    _write(repo, name, labels)


def forget(repo: Path, name: str, versions: list[str]) -> dict[str, dict[str, Any]]:
    """Drop every label of removed ``versions``: their tags, description and any alias naming them.

    One atomic rewrite of the file, none when nothing names them (so running it again changes nothing).

    Returns:
        Per version that had any: ``{"aliases": [alias], "tags": [tag], "description": text or None}``.

    Raises:
        IntegrityError: the file is not the JSON lowops writes (nothing is changed).
    """
    if not layout.labels_file(repo, name).is_file():
        return {}
    labels = read(repo, name)
    dropped: dict[str, dict[str, Any]] = {}
    for version in versions:
        aliases = sorted(a for a, v in labels["aliases"].items() if v == version)
        for alias in aliases:
            del labels["aliases"][alias]
        said = {"aliases": aliases, "tags": sorted(labels["tags"].pop(version, [])),
                "description": labels["descriptions"].pop(version, None)}
        if any(said.values()):
            dropped[version] = said
    if dropped:
        _write(repo, name, labels)
    return dropped


def of_version(labels: dict[str, Any], version: str, live: str | None) -> dict[str, Any]:
    """What one version is called: its aliases (``@live`` among them when it is live), tags and description."""
    aliases = sorted(f"@{a}" for a, v in labels["aliases"].items() if v == version)
    if live == version:
        aliases.insert(0, "@live")
    return {"aliases": aliases, "tags": sorted(labels["tags"].get(version, [])),
            "description": labels["descriptions"].get(version)}
