"""The deploy pointer ``deploy/<name>.json``: two slots, which one is live, every switch.

The file is only ever replaced whole (one ``os.replace``), so a reader sees
the old pointer or the new one. The first trained version goes live in the
blue slot; later switches place a version in the idle slot and flip ``live``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lowops.errors import IntegrityError
from lowops.io.files import read_json, write_json

SLOTS = ("blue", "green")


def pointer_path(repo: Path, name: str) -> Path:
    return repo / "deploy" / f"{name}.json"


def read_pointer(repo: Path, name: str) -> dict[str, Any] | None:
    """The deploy state, or None when nothing was ever deployed."""
    path = pointer_path(repo, name)
    if not path.exists():
        return None
    state = read_json(path)
    if (not isinstance(state, dict) or state.get("live") not in SLOTS
            or not isinstance(state.get("slots"), dict)):
        raise IntegrityError(f"{path} is not a valid deploy pointer; run `lowops verify`.")
    return state


def live_version(repo: Path, name: str) -> str | None:
    state = read_pointer(repo, name)
    if state is None:
        return None
    slot = state["slots"].get(state["live"])
    if not slot or not slot.get("version"):
        raise IntegrityError(
            f"{pointer_path(repo, name)} names slot {state['live']!r} live but it holds no version."
        )
    return str(slot["version"])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def switch(repo: Path, name: str, version: str, *, by: str, reason: str, window: str | None) -> dict[str, Any]:
    """Put ``version`` in the idle slot and make it live, in one atomic replace."""
    state = read_pointer(repo, name) or {
        "model": name, "live": "green", "slots": {"blue": None, "green": None}, "history": [],
    }
    previous_slot = state["live"]
    previous = (state["slots"].get(previous_slot) or {}).get("version")
    target = "green" if previous_slot == "blue" else "blue"
    if previous is None:
        target = "blue"
    state["slots"][target] = {"version": version, "since": _now()}
    state["live"] = target
    state["history"].append({
        "at": _now(), "by": by, "reason": reason, "window": window,
        "from": previous, "to": version, "slot": target,
    })
    write_json(pointer_path(repo, name), state, overwrite=True)
    return state
