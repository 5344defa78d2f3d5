"""``lowops models list | show | diff``: read-only views of the registry (no pandas: these must start fast)."""

from __future__ import annotations

from typing import Any

from lowops.config import Project
from lowops.io import deploy, layout, registry

# Bulky fields left out of a diff: the plots' and artifact's digests say enough.
_DIFF_SKIP = ("created_at", "run_id", "version", "lineage.git", "profile")


def list_models(project: Project) -> list[dict[str, Any]]:
    """One row per version, oldest first."""
    name = project.config.model.name
    repo = project.repo
    state = deploy.read_pointer(repo, name)
    live = deploy.live_version(repo, name) if state else None
    slots = {s["version"]: slot for slot, s in (state or {}).get("slots", {}).items() if s}
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
            "status": "registered",
        })
    return rows


def show(project: Project, version: str) -> dict[str, Any]:
    """One version's ``model.json``, and where it lives."""
    data = registry.read_card(project.repo, project.config.model.name, version).to_dict()
    data["path"] = str(layout.version_dir(project.repo, project.config.model.name, version))
    return data


def describe(project: Project, version: str) -> str:
    """A person's view of one version: lineage, metrics, importance, schema contract, profile."""
    card = registry.read_card(project.repo, project.config.model.name, version)
    lineage, metrics, cv = card.lineage, card.metrics, card.metrics.cv
    lines = [
        f"{card.model} {card.version}  ({card.task}, created {card.created_at}, {card.reason})",
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
        lines.append(f"    cv {cv.metric} {cv.mean:.4f} ± {cv.std:.4f}")
    lines.append("  importance:")
    for feature, share in sorted(card.importance.values.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {feature:<18} {share:.3f} {'#' * int(round(share * 40))}")
    lines.append("  schema contract:")
    for column in card.schema.columns:
        if column.numeric:
            lines.append(f"    {column.name:<18} numeric      [{column.min}, {column.max}]")
        else:
            lines.append(f"    {column.name:<18} categorical  {', '.join(column.categories[:8])}")
    profile = card.profile
    lines.append(f"  profile:     fit {profile.fit_seconds}s, {profile.model_bytes} bytes, "
                 f"{profile.predict_ms_per_1000_rows} ms per 1000 rows")
    return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def diff(project: Project, version_a: str, version_b: str) -> list[dict[str, Any]]:
    """The leaves that differ between two versions' metadata."""
    a = _flatten(registry.read_card(project.repo, project.config.model.name, version_a).to_dict())
    b = _flatten(registry.read_card(project.repo, project.config.model.name, version_b).to_dict())
    changes = []
    for path in sorted(set(a) | set(b)):
        if any(path == skip or path.startswith(skip + ".") for skip in _DIFF_SKIP):
            continue
        if a.get(path) != b.get(path):
            changes.append({"path": path, "a": a.get(path), "b": b.get(path)})
    return changes
