"""The deploy pointer ``deploy/<name>.json``: two slots, which one is live, every switch.

The file is only ever replaced whole (one ``os.replace``), so a reader sees
the old pointer or the new one. The first trained version goes live in the
blue slot; later switches place a version in the idle slot and flip ``live``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lowops.errors import IntegrityError
from lowops.io import layout
from lowops.io.files import read_json, write_json

SLOTS = ("blue", "green")


def pointer_path(repo: Path, name: str) -> Path:
    return layout.deploy_pointer(repo, name)


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
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def other_slot(slot: str) -> str:
    """The slot that is not ``slot``."""
    return "green" if slot == "blue" else "blue"


def idle_slot(state: dict[str, Any]) -> str:
    """The slot that is not live."""
    return other_slot(state["live"])


def slot_version(state: dict[str, Any], slot: str) -> str | None:
    content = state["slots"].get(slot) or {}
    return content.get("version")


def place(repo: Path, name: str, version: str | None, *, by: str, reason: str) -> dict[str, Any]:
    """Put ``version`` in the idle slot (None: empty it) without touching which slot is live.

    One atomic replace; the live slot's content is never changed here.

    Raises:
        IntegrityError: nothing is deployed yet (the first version goes live with ``switch``).
    """
    state = read_pointer(repo, name)
    if state is None:
        raise IntegrityError(f"{pointer_path(repo, name)} does not exist; nothing is live to stand beside.")
    target = idle_slot(state)
    state["slots"][target] = (None if version is None
                              else {"version": version, "since": _now(), "placed_by": by, "reason": reason})
    write_json(pointer_path(repo, name), state, overwrite=True)
    return state


def activate(repo: Path, name: str, version: str, *, by: str, reason: str, window: str | None,
             action: str, **details: Any) -> dict[str, Any]:
    """Make ``version`` live: flip to the idle slot holding it, or place it there and flip, in one replace.

    The previous live version stays in the other slot, so a rollback is one more flip.
    """
    state = read_pointer(repo, name)
    if state is None:
        raise IntegrityError(f"{pointer_path(repo, name)} does not exist; nothing was ever deployed.")
    previous_slot = state["live"]
    previous = slot_version(state, previous_slot)
    target = idle_slot(state)
    if slot_version(state, target) != version:
        state["slots"][target] = {"version": version, "since": _now()}
    else:
        state["slots"][target]["since"] = _now()
    state["live"] = target
    state["history"].append({
        "at": _now(), "by": by, "reason": reason, "window": window, "from": previous, "to": version,
        "slot": target, "action": action, **details,
    })
    write_json(pointer_path(repo, name), state, overwrite=True)
    return state
