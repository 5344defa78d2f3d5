"""What ``lowops gc`` keeps and what it removes: the retention policy, read-only.

Windows (their data versions, predictions and monitoring files) and model
versions go oldest first, beyond the newest ``keep_windows`` and
``keep_versions``; besides those, never:

- a version that is live, in the other slot, what ``lowops rollback`` would
  switch to, pending (or staged, approved) in the governance gate, named by an
  alias, or that scored a kept window (re-checking a kept window uses the
  version that scored it);
- the data versions a kept version trained on (``lineage.data`` of its card);
- the windows the next run reads: the training range of a retrain at the next
  window (``train.windows`` + ``windows.label_delay``, the windows awaiting
  late labels with a label delay), at least the two windows whose live
  versions a comparison includes, and ``drift.baseline_window``;
- the newest version of a model, so a version number is never given twice.

A removed version's tags and description (the model's labels file) go with it.

Nothing here writes; ``lowops.commands.gc`` carries the plan out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowops.config_schema import Config
from lowops.errors import IntegrityError
from lowops.io import deploy, layout, registry, removal, snapshots, version_labels
from lowops.io import version_status as vstatus
from lowops.io.files import read_json
from lowops.io.runs import RunRecord

# Per time grain: about a quarter of daily windows, a year of weekly ones, two years of monthly ones (a
# year-on-year look at every month), two years of quarters, three years; what the repository costs grows
# with the number of windows, so the finest grain keeps the shortest span.
KEEP_WINDOWS = {"daily": 90, "weekly": 52, "monthly": 24, "quarterly": 8, "yearly": 3}
# Statuses of a version the governance gate still has to act on.
WAITING = ("pending", "staged", "approved")


@dataclass(frozen=True)
class Removal:
    """One version or one window to remove: the paths (relative to the repository) that go with it."""

    what: str  # "churn v0001" or "window 2025-01"
    paths: tuple[Path, ...]
    bytes: int
    model: str | None = None
    version: str | None = None
    window: str | None = None
    # What the model's labels file says of a removed version, which goes with it.
    tags: tuple[str, ...] = ()
    description: str | None = None

    def labels(self) -> str:
        """Its tags and description in words ('' when it has none): "tag(s) a, b and description"."""
        return in_words({"tags": self.tags, "description": self.description})

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "paths": [str(p) for p in self.paths], "bytes": self.bytes,
                "model": self.model, "version": self.version, "window": self.window,
                "tags": list(self.tags), "description": self.description}


@dataclass(frozen=True)
class Plan:
    """What one gc removes and what it keeps beyond the newest N, with why."""

    keep_windows: int
    keep_versions: int
    removals: tuple[Removal, ...]
    kept: tuple[tuple[str, str], ...]  # (what, why), for what the newest N alone would not keep
    leftovers: tuple[Path, ...]  # trash of an interrupted gc, relative to the repository

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.removals)

    @property
    def versions(self) -> list[Removal]:
        return [r for r in self.removals if r.version is not None]

    @property
    def windows(self) -> list[Removal]:
        return [r for r in self.removals if r.window is not None]

    def paths(self) -> list[str]:
        return [str(p) for r in self.removals for p in r.paths]

    def lines(self) -> list[str]:
        """The plan in words, one line each (the same with ``--dry-run`` and without)."""
        out = [f"keep: the newest {self.keep_windows} window(s) and {self.keep_versions} version(s), and:"]
        out += [f"keep {what}: {why}" for what, why in self.kept]
        out += [f"delete {p}: left by an interrupted gc" for p in self.leftovers]
        out += [f"remove {r.what}: {', '.join(map(str, r.paths))} ({human(r.bytes)})"
                + (f", with its {r.labels()}" if r.labels() else "") for r in self.removals]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"keep_windows": self.keep_windows, "keep_versions": self.keep_versions,
                "remove": [r.to_dict() for r in self.removals], "bytes": self.bytes,
                "kept": [{"what": what, "why": why} for what, why in self.kept],
                "leftovers": [str(p) for p in self.leftovers]}


def human(size: int) -> str:
    """A byte count as people read it."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def in_words(labels: dict[str, Any]) -> str:
    """A version's labels (``aliases``, ``tags``, ``description``, each optional) in words; '' for none."""
    said = ([f"alias(es) {', '.join('@' + a for a in labels['aliases'])}"] if labels.get("aliases") else [])
    said += [f"tag(s) {', '.join(labels['tags'])}"] if labels.get("tags") else []
    said += ["description"] if labels.get("description") else []
    return " and ".join(said)


def default_windows(config: Config) -> int:
    """The windows kept without ``--keep-windows``: ``retention.keep_windows``, else per grain."""
    configured = config.retention.keep_windows
    return KEEP_WINDOWS[config.windows.frequency] if configured is None else configured


def next_run_windows(config: Config) -> int:
    """How many of the newest windows the next run may read again (see the module's docstring)."""
    delay = config.windows.label_delay
    late = config.drift.model_drift.backfill_windows if delay else 0
    return max(config.train.windows + delay, late, 2)


def plan(repo: Path, config: Config, models: list[str], runs: list[RunRecord], *,
         keep_windows: int | None = None, keep_versions: int | None = None) -> Plan:
    """What a gc removes now: windows and versions of ``models`` beyond the newest N that nothing protects.

    Args:
        repo: the repository.
        config: the project's configuration (grain, training range, label delay, drift reference).
        models: the models whose versions may go (every other model's versions all stay).
        runs: every run ledger (which version scored which window).
        keep_windows: windows to keep besides the protected ones (None: ``retention.keep_windows`` of the
            config, and when that is null, per grain: ``KEEP_WINDOWS``).
        keep_versions: versions per model to keep besides the protected ones (None: ``retention.keep_versions``).

    Raises:
        IntegrityError: a kept version's card cannot be read, so its lineage is unknown (nothing is planned).
    """
    n_windows = default_windows(config) if keep_windows is None else keep_windows
    n_versions = config.retention.keep_versions if keep_versions is None else keep_versions
    assert n_windows >= 0 and n_versions >= 1, "the newest version always stays"
    kept: list[tuple[str, str]] = []
    windows = _kept_windows(config, layout.window_labels(repo), n_windows, kept)
    removals: list[Removal] = []
    lineage: dict[tuple[str, str], str] = {}
    for name in registry.model_names(repo):
        stays = _kept_versions(repo, name, runs, windows, n_versions, kept) if name in models else None
        labels = version_labels.read(repo, name) if stays is not None else {}
        for version in registry.list_versions(repo, name):
            if stays is not None and version not in stays:
                removals.append(_version_removal(repo, name, version, labels))
                continue
            for use in _card(repo, name, version).lineage.data:
                for data_version in (use.features, use.labels):
                    lineage.setdefault((use.window, data_version), f"{name} {version}")
        if stays is not None:
            removals += _orphan_statuses(repo, name)
    for window in layout.window_labels(repo):
        if window not in windows:
            removals.append(_window_removal(repo, window, lineage, kept))
    leftovers = tuple(p.relative_to(repo) for p in layout.trash_dirs(repo))
    return Plan(n_windows, n_versions, tuple(r for r in removals if r.paths), tuple(kept), leftovers)


def _card(repo: Path, name: str, version: str) -> Any:
    try:
        return registry.read_card(repo, name, version)
    except IntegrityError as exc:
        raise IntegrityError(f"{exc} lowops gc removes nothing while a kept version's lineage cannot be read; "
                             "run `lowops verify`.") from None


def _kept_windows(config: Config, labels: list[str], n: int, kept: list[tuple[str, str]]) -> set[str]:
    stays = set(labels[-n:]) if n else set()
    reads = next_run_windows(config)
    for window in labels[-reads:]:
        if window not in stays:
            stays.add(window)
            kept.append((f"window {window}", f"one of the {reads} newest, which the next run may read "
                                             "(train.windows + windows.label_delay, T-1 and T-2)"))
    baseline = config.drift.baseline_window
    if config.drift.reference == "baseline" and baseline in labels and baseline not in stays:
        stays.add(str(baseline))
        kept.append((f"window {baseline}", "drift.baseline_window"))
    return stays


def _kept_versions(repo: Path, name: str, runs: list[RunRecord], windows: set[str], n: int,
                   kept: list[tuple[str, str]]) -> set[str]:
    versions = registry.list_versions(repo, name)
    newest = set(versions[-n:])
    why: dict[str, list[str]] = {}
    state = deploy.read_pointer(repo, name)
    if state is not None:
        for slot in deploy.SLOTS:
            version = deploy.slot_version(state, slot)
            if version:
                why.setdefault(version, []).append(f"{'live in' if slot == state['live'] else 'in'} slot {slot}")
        live = deploy.slot_version(state, state["live"])
        back = next((h.get("from") for h in reversed(state["history"]) if h.get("to") == live), None)
        if back:
            why.setdefault(str(back), []).append("what `lowops rollback` switches to")
    for version in versions:
        status = (vstatus.current(repo, name, version) or {}).get("status")
        if status in WAITING:
            why.setdefault(version, []).append(f"{status} (the governance gate has not acted on it)")
    for alias, version in sorted(version_labels.read(repo, name)["aliases"].items()):
        why.setdefault(str(version), []).append(f"alias @{alias}")
    for record in runs:
        if record.command == "run" and record.window in windows and record.status == "done":
            score = record.done("score") or {}
            if score.get("version"):
                why.setdefault(str(score["version"]), []).append(f"scored kept window {record.window}")
    stays = set(newest)
    for version in versions:
        if version in why and version not in newest:
            stays.add(version)
            kept.append((f"{name} {version}", "; ".join(dict.fromkeys(why[version]))))
    return stays


def _version_removal(repo: Path, name: str, version: str, labels: dict[str, Any]) -> Removal:
    folder, status = layout.version_dir(repo, name, version), layout.status_file(repo, name, version)
    paths = [folder] + ([status] if status.is_file() else [])
    return Removal(f"{name} {version}", tuple(p.relative_to(repo) for p in paths),
                   sum(removal.size(p) for p in paths), model=name, version=version,
                   tags=tuple(sorted(labels["tags"].get(version, []))),
                   description=labels["descriptions"].get(version))


def _orphan_statuses(repo: Path, name: str) -> list[Removal]:
    """Status files of versions an interrupted gc already renamed away."""
    versions = set(registry.list_versions(repo, name))
    found = []
    for path in sorted(layout.model_dir(repo, name).glob("v*.status")):
        version = path.name.removesuffix(".status")
        if layout.is_version(version) and version not in versions and path.is_file():
            # Not a version removal: the version went (and was audited) with the interrupted gc.
            found.append(Removal(f"the status file of {name} {version}, gone already",
                                 (path.relative_to(repo),), removal.size(path)))
    return found


def _window_removal(repo: Path, window: str, lineage: dict[tuple[str, str], str],
                    kept: list[tuple[str, str]]) -> Removal:
    """A window's outputs and monitoring, and its data versions no kept version trained on."""
    paths = [p for p in (layout.outputs_dir(repo, window), layout.monitoring_dir(repo, window)) if p.is_dir()]
    data = layout.window_data(repo, window)
    if data.is_dir():
        stored = [s for kind in snapshots.KINDS for s in snapshots.versions(repo, window, kind)]
        trained = [s for s in stored if (window, s.version) in lineage]
        if not trained:
            paths.insert(0, data)
        else:
            gone = {s.version for s in stored} - {s.version for s in trained}
            pointers = [p for p in layout.data_pointers(repo, window) if _names(p) in gone]
            paths = [s.path for s in stored if s.version in gone] + pointers + paths
            kept += [(str(s.path.relative_to(repo)), f"lineage of {lineage[(window, s.version)]}") for s in trained]
    return Removal(f"window {window}", tuple(p.relative_to(repo) for p in paths),
                   sum(removal.size(p) for p in paths), window=window)


def _names(pointer: Path) -> str | None:
    """The data version a latest-extract pointer names (None: not one lowops wrote)."""
    try:
        target = read_json(pointer)
    except IntegrityError:
        return None
    version = target.get("version") if isinstance(target, dict) else None
    return version if isinstance(version, str) else None


def interrupted(runs: list[RunRecord], held: dict[str, list[str]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Versions an interrupted gc planned and renamed away: (model, version, run id, the plan's entry).

    ``held``: every version the registry still holds, per model.
    """
    found = []
    for record in runs:
        if record.command != "gc" or record.status == "done":
            continue
        for item in (record.done("plan") or {}).get("remove", []):
            model, version = item.get("model"), item.get("version")
            if model and version and version not in held.get(model, []):
                found.append((str(model), str(version), record.run_id, item))
    return found


def unaudited(runs: list[RunRecord], entries: list[dict[str, Any]], held: dict[str, list[str]]) -> list[
        tuple[str, str, str, dict[str, Any]]]:
    """Versions an interrupted gc renamed away before it could audit them: (model, version, run id, plan entry).

    ``entries``: the audit log's records.
    """
    audited = {(e.get("model"), e.get("version")) for e in entries if e.get("action") == "remove"}
    found = []
    for model, version, run_id, item in interrupted(runs, held):
        if (model, version) not in audited:
            found.append((model, version, run_id, item))
            audited.add((model, version))
    return found
