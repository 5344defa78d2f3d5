"""``lowops models list | show | diff``: read-only views of the registry (no pandas: these must start fast)."""

from __future__ import annotations

from typing import Any

from lowops.config import Project
from lowops.io import deploy, layout, registry, version_labels
from lowops.io import version_status as vstatus
from lowops.model.card import ModelCard
from lowops.model.search_record import Search

# Fields left out of a diff: they differ for every version and say nothing of how two versions differ.
_DIFF_SKIP = ("created_at", "run_id", "version")


def list_models(project: Project) -> list[dict[str, Any]]:
    """One row per version, oldest first."""
    name = project.config.model.name
    repo = project.repo
    state = deploy.read_pointer(repo, name)
    live = deploy.live_version(repo, name) if state else None
    slots = {s["version"]: slot for slot, s in (state or {}).get("slots", {}).items() if s}
    labels = version_labels.read(repo, name)
    rows = []
    for version in registry.list_versions(repo, name):
        card = registry.read_card(repo, name, version, checked=True)
        rows.append({
            "model": name,
            "version": version,
            "created_at": card.created_at,
            "live": version == live,
            "slot": slots.get(version),
            "holdout_window": card.lineage.holdout_window,
            "train_windows": list(card.lineage.train_windows),
            "primary_metric": card.metrics.primary,
            "primary_value": card.benchmark,
            "status": _status(project, version),
            **version_labels.of_version(labels, version, live),
        })
    return rows


def _status(project: Project, version: str) -> str:
    """The version's current status (its ``.status`` file's last line); "registered" when it never had one."""
    entry = vstatus.current(project.repo, project.config.model.name, version) or {}
    return str(entry.get("status") or "registered")


def show(project: Project, version: str) -> dict[str, Any]:
    """One version's ``model.json``, where it lives, and what it is called (aliases, tags, description)."""
    name = project.config.model.name
    version = version_labels.resolve(project.repo, name, version)
    data = registry.read_card(project.repo, name, version).to_dict()
    data["path"] = str(layout.version_dir(project.repo, name, version))
    data["labels"] = version_labels.of_version(version_labels.read(project.repo, name), version,
                                               deploy.live_version(project.repo, name))
    return data


def describe(project: Project, version: str) -> str:
    """A person's view of one version: lineage, metrics, search, importance, schema contract, profile."""
    name = project.config.model.name
    version = version_labels.resolve(project.repo, name, version)
    card = registry.read_card(project.repo, name, version)
    lineage, metrics, cv = card.lineage, card.metrics, card.metrics.cv
    called = version_labels.of_version(version_labels.read(project.repo, name), version,
                                       deploy.live_version(project.repo, name))
    lines = [
        f"{card.model} {card.version}  ({card.task}, created {card.created_at}, {card.reason})",
        *([f"  description: {called['description']}"] if called["description"] else []),
        *([f"  aliases:     {' '.join(called['aliases'])}"] if called["aliases"] else []),
        *([f"  tags:        {', '.join(called['tags'])}"] if called["tags"] else []),
        f"  path:        {layout.version_dir(project.repo, card.model, version)}",
        f"  estimator:   {card.estimator.class_} {card.estimator.params}",
        f"  trained on:  {', '.join(lineage.train_windows)} ({lineage.rows['train']} rows)",
        f"  hold-out:    {lineage.holdout_window} ({lineage.rows['holdout']} rows)",
        "  data:        " + ", ".join(f"{d.window}={d.features}/{d.labels}" for d in lineage.data),
        f"  config hash: {lineage.config_hash[:16]}…  git: {lineage.git.get('commit') or '-'}"
        + (" (dirty)" if lineage.git.get("dirty") else ""),
        "  metrics (hold-out):",
        *[f"    {k:<10} {v:.4f}" for k, v in sorted(metrics.holdout.items())],
    ]
    if cv.mean is not None:
        chosen = " of the chosen candidate" if card.search is not None else ""
        lines.append(f"    cv {cv.metric} {cv.mean:.4f} ± {cv.std:.4f} ({cv.folds} folds{chosen})")
    if card.search is not None:
        lines.extend(_search_lines(card.search))
    lines.append("  importance:")
    for feature, share in sorted(card.importance.values.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {feature:<18} {share:.3f} {'#' * int(round(share * 40))}")
    lines.append("  schema contract:")
    for column in card.schema.columns:
        if column.numeric:
            lines.append(f"    {column.name:<18} numeric      [{column.min}, {column.max}]")
        else:
            lines.append(f"    {column.name:<18} categorical  {', '.join(column.categories[:8])}")
    lines.append(f"  profile:     {_timing(card)}, {card.profile.model_bytes} bytes, "
                 f"{card.profile.predict_ms_per_1000_rows} ms per 1000 rows")
    return "\n".join(lines)


def _timing(card: ModelCard) -> str:
    """The whole training time beside the final fit's."""
    profile = card.profile
    if profile.train_seconds is None:  # a version from before the whole training was timed
        return f"fit {profile.fit_seconds}s"
    return f"trained in {profile.train_seconds} s (final fit {profile.fit_seconds} s)"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sorted(params.items()))


def _search_lines(search: Search) -> list[str]:
    """The search table: every candidate's CV score, best first, the chosen one starred."""
    lines = [f"  search:      {search.kind}, {len(search.candidates)} candidates, {search.folds} folds "
             f"({search.metric}; * chosen, refit on all training rows)",
             f"    {'rank':>6}  {'mean':>7}  {'std':>7}  params"]
    order = sorted(range(len(search.candidates)), key=lambda i: (search.candidates[i].rank, i))
    for i in order:
        c = search.candidates[i]
        mark = "*" if i == search.chosen else " "
        lines.append(f"    {mark}{c.rank:>5}  {c.mean:>7.4f}  {c.std:>7.4f}  {_params(c.params)}")
    return lines


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _leaves(card: ModelCard) -> dict[str, Any]:
    """A card's fields by path; a search's candidates by their parameters, so the same setting lines up."""
    data = card.to_dict()
    search = data.pop("search", None)
    leaves = _flatten(data)
    if search is not None:
        candidates = search.pop("candidates")
        leaves.update(_flatten(search, "search"))
        leaves["search.chosen"] = _params(candidates[search["chosen"]]["params"])
        for candidate in candidates:
            key = f"search.candidates[{_params(candidate.pop('params'))}]"
            leaves.update(_flatten(candidate, key))
    return leaves


def diff(project: Project, version_a: str, version_b: str) -> list[dict[str, Any]]:
    """The leaves that differ between two versions' metadata (lineage with its git commit, profile, search …)."""
    name = project.config.model.name
    a = _leaves(registry.read_card(project.repo, name, version_labels.resolve(project.repo, name, version_a)))
    b = _leaves(registry.read_card(project.repo, name, version_labels.resolve(project.repo, name, version_b)))
    changes = []
    for path in sorted(set(a) | set(b)):
        if any(path == skip or path.startswith(skip + ".") for skip in _DIFF_SKIP):
            continue
        if a.get(path) != b.get(path):
            changes.append({"path": path, "a": a.get(path), "b": b.get(path)})
    return changes
