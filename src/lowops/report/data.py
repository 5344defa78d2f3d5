"""What ``lowops report`` reads: the repository's logs, pointers, registry and monitoring files.

Everything here is read-only and forgiving: a repository with no monitoring,
no labels or a single window gives empty sections, and a file that cannot be
read becomes a line in ``problems`` (shown at the top of the page) instead of
stopping the report. Every text that reaches the page passes through
:func:`lowops.secrets.redact`.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.config import Project
from lowops.errors import LowopsError
from lowops.io import audit, deploy, layout, registry
from lowops.io import version_labels
from lowops.io import version_status as vstatus
from lowops.io.files import read_json
from lowops.io.logs import read_metrics
from lowops.io.runs import read_runs
from lowops.model.card import ModelCard

_SLOT = re.compile(r"^slot\.(blue|green)\.(.+)$")


def _number(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return math.nan
    return value


def _flag(text: Any) -> bool:
    return str(text).strip().lower() in ("true", "1", "1.0", "yes")


def _read_csv(path: Path, problems: list[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path}: cannot be read ({type(exc).__name__}: {exc})")
        return []


def _guard(problems: list[str], what: str, default: Any, func: Any, *args: Any) -> Any:
    """``func(*args)``, or ``default`` with a line in ``problems`` when the file behind it is damaged."""
    try:
        return func(*args)
    except (LowopsError, OSError, ValueError, KeyError, TypeError) as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        problems.append(f"{what}: {secrets.redact(str(message))}")
        return default


def kpi_series(rows: list[dict[str, Any]], name: str, primary: str) -> dict[str, Any]:
    """The primary KPI from ``logs/metrics.log``, by window (the latest line wins for a window).

    Returns:
        ``served``: window -> (version, value) of the version that scored it (realised);
        ``estimated``: window -> (version, value) of the estimate (CBPE, DLE);
        ``static``: window -> (version, value) of the very first version (no retraining);
        ``compare``: (window, version) -> value on the comparison hold-out;
        ``slots``: window -> slot -> {version, value, rows}.
    """
    served: dict[str, tuple[str, float]] = {}
    estimated: dict[str, tuple[str, float]] = {}
    static: dict[str, tuple[str, float]] = {}
    compare: dict[tuple[str, str], float] = {}
    slots: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["model"] != name:
            continue
        metric, window, version, value = row["metric"], row["window"], row["version"], row["value"]
        if metric == primary:
            served[window] = (version, value)
        elif metric in (f"cbpe.{primary}", f"dle.{primary}"):
            estimated[window] = (version, value)
        elif metric == f"static.{primary}":
            static[window] = (version, value)
        elif metric == f"compare.{primary}":
            compare[(window, version)] = value
        else:
            match = _SLOT.match(metric)
            if match and match.group(2) == primary:
                slots.setdefault(window, {})[match.group(1)] = {"version": version, "value": value,
                                                               "rows": row["rows"]}
    return {"served": served, "estimated": estimated, "static": static, "compare": compare, "slots": slots}


def monitoring_windows(repo: Path, problems: list[str]) -> list[dict[str, Any]]:
    """One entry per ``monitoring/<window>/``, oldest first: drift rows, impact rows, verdict, files."""
    found = []
    for folder in layout.monitoring_windows(repo):
        entry: dict[str, Any] = {"window": folder.name, "drift": [], "impact": [], "verdict": None,
                                 "decisions": [], "sweetviz": None}
        drift, impact, verdict = (folder / layout.DATA_DRIFT_FILE, folder / layout.IMPACT_FILE,
                                  folder / layout.VERDICT_FILE)
        if drift.is_file():
            entry["drift"] = [_drift_row(r) for r in _read_csv(drift, problems) if r.get("feature")]
        if impact.is_file():
            entry["impact"] = [_impact_row(r) for r in _read_csv(impact, problems) if r.get("feature")]
        if verdict.is_file():
            read = _guard(problems, str(verdict), None, read_json, verdict)
            entry["verdict"] = read if isinstance(read, dict) else None
        for path in layout.decision_files(folder):
            text = _guard(problems, str(path), "", path.read_text, "utf-8")
            entry["decisions"].append(parse_decision(path.relative_to(repo), secrets.redact(text)))
        if (folder / layout.SWEETVIZ_FILE).is_file():
            entry["sweetviz"] = folder / layout.SWEETVIZ_FILE
        found.append(entry)
    return found


def _drift_row(row: dict[str, str]) -> dict[str, Any]:
    return {"feature": row["feature"], "kind": row.get("kind", ""), "method": row.get("method", ""),
            "statistic": _number(row.get("statistic")), "threshold": _number(row.get("threshold")),
            "drifted": _flag(row.get("drifted")), "drift_score": _number(row.get("drift_score"))}


def _impact_row(row: dict[str, str]) -> dict[str, Any]:
    return {"feature": row["feature"], "rank": int(_number(row.get("rank")) if row.get("rank") else 0),
            "drifted": _flag(row.get("drifted")), "importance": _number(row.get("importance")),
            "impact": _number(row.get("impact")), "counterfactual": _number(row.get("counterfactual_impact")),
            "flip_share": _number(row.get("counterfactual_flip_share"))}


def parse_decision(path: Path, text: str) -> dict[str, Any]:
    """The winner, reason, outcome and triggers of a ``decision.txt``, and its full text."""
    fields: dict[str, Any] = {"file": str(path), "text": text, "triggers": []}
    in_triggers = False
    for line in text.splitlines():
        if line.startswith("triggers:"):
            in_triggers = True
            continue
        if in_triggers and line.startswith("  "):
            fields["triggers"].append(line.strip())
            continue
        in_triggers = False
        for key in ("winner", "reason", "outcome"):
            if line.startswith(f"{key}:"):
                fields[key] = line.split(":", 1)[1].strip()
    return fields


_TRIGGER = re.compile(r"\b(model_drift|data_drift|schedule|config_change|manual):")


def short_reason(reason: str) -> str:
    """Why a version was trained, in a few words: ``retrain at 2025-09: model_drift, data_drift``."""
    head = reason.split(":", 1)[0] if reason.startswith("retrain at ") else ""
    names = list(dict.fromkeys(_TRIGGER.findall(reason)))
    return f"{head}: {', '.join(names)}" if head and names else (reason if len(reason) <= 80 else reason[:78] + "…")


def _periods(history: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """When a version was live: from which switch until the next one."""
    periods = []
    for i, entry in enumerate(history):
        if entry.get("to") != version:
            continue
        until = next((h for h in history[i + 1:] if h.get("to") != version), None)
        periods.append({"from": entry.get("at"), "window": entry.get("window"), "action": entry.get("action")
                        or ("first" if entry.get("from") is None else "switch"),
                        "until": until.get("at") if until else None,
                        "until_window": until.get("window") if until else None})
    return periods


def _version_row(card: ModelCard | None, primary: str) -> dict[str, Any]:
    """What the page shows of a version's card (empty fields for a card that cannot be read)."""
    if card is None:
        return {"created": None, "reason": "", "why": "", "train_windows": [], "holdout_window": None, "rows": {},
                "holdout": {}, "primary": primary, "cv_mean": None, "cv_std": None, "cv_folds": None,
                "estimator": None}
    reason = secrets.redact(card.reason)
    lineage, cv = card.lineage, card.metrics.cv
    return {"created": card.created_at, "reason": reason, "why": short_reason(reason),
            "train_windows": list(lineage.train_windows) or [d.window for d in lineage.data],
            "holdout_window": lineage.holdout_window, "rows": dict(lineage.rows),
            "holdout": dict(card.metrics.holdout), "primary": card.metrics.primary or primary,
            "cv_mean": cv.mean, "cv_std": cv.std, "cv_folds": cv.folds, "estimator": card.estimator.class_}


def versions_table(repo: Path, name: str, primary: str, state: dict[str, Any] | None,
                   served: dict[str, tuple[str, float]], problems: list[str]) -> list[dict[str, Any]]:
    """Every registered version: metrics, data windows, when live, which windows it served, status."""
    history = (state or {}).get("history", [])
    live_slot = (state or {}).get("live")
    in_slot = {}
    for slot, content in ((state or {}).get("slots") or {}).items():
        if content and content.get("version"):
            in_slot[content["version"]] = slot
    out = []
    models = layout.model_dir(repo, name)
    labels = _guard(problems, str(layout.labels_file(repo, name).relative_to(repo)),
                    {"aliases": {}, "tags": {}, "descriptions": {}}, version_labels.read, repo, name)
    live_version = ((state or {}).get("slots") or {}).get(live_slot or "", {}) or {}
    for version in _guard(problems, f"{models.relative_to(repo)}/", [], registry.list_versions, repo, name):
        card = _guard(problems, str((layout.version_dir(repo, name, version) / layout.CARD_FILE).relative_to(repo)),
                      None, registry.read_card, repo, name, version)
        status = _guard(problems, str(layout.status_file(repo, name, version).relative_to(repo)), None,
                        vstatus.current, repo, name, version)
        slot = in_slot.get(version)
        out.append({
            "version": version, **_version_row(card, primary),
            "status": (status or {}).get("status"),
            "status_reason": secrets.redact(str((status or {}).get("reason") or "")),
            "slot": slot, "live": slot is not None and slot == live_slot, "periods": _periods(history, version),
            "served": [w for w, (v, _) in sorted(served.items()) if v == version],
            **version_labels.of_version(labels, version, live_version.get("version")),
        })
    return out


def served_by_runs(runs: list[dict[str, Any]]) -> dict[str, str]:
    """window -> the version whose score stage ran last for it (the run ledgers' view)."""
    out: dict[str, str] = {}
    for record in runs:
        if record.get("status") != "done" or not record.get("window"):
            continue
        for stage in record.get("stages", []):
            version = (stage.get("outputs") or {}).get("version") if stage.get("name") == "score" else None
            if version:
                out[record["window"]] = str(version)
    return out


def decide_outputs(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """window -> the ``decide`` stage outputs of the latest finished run of that window."""
    out: dict[str, dict[str, Any]] = {}
    for record in runs:
        for stage in record.get("stages", []):
            if stage.get("name") == "decide" and stage.get("status") == "done" and record.get("window"):
                out[record["window"]] = stage.get("outputs") or {}
    return out


def _answer(switches: list[dict[str, Any]], window: str, version: Any) -> dict[str, Any] | None:
    """The first switch to another version at or after ``window`` (a rollback answers nothing), if any."""
    return next((h for h in switches if str(h["window"]) >= window and h.get("to") != version), None)


def attention(monitoring: list[dict[str, Any]], history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What the summary flags, window by window: drift that matters, model drift and blocked retrains.

    A finding at window W is unresolved while no switch to a version other than the one
    that scored W happened at or after W; a resolved one is listed under ``handled`` with
    the switch that answered it. A blocked retrain is a decision whose outcome kept the
    incumbent (it won, the cool-down, or the winner failed its smoke test).

    Returns:
        ``drift``, ``model_drift``, ``blocked``: the unresolved findings, oldest first, each
        ``{"window", "version", "evidence"}`` (``blocked``: ``"outcome"`` and ``"file"``);
        ``handled``: the resolved ones, each with its ``kind`` and ``switch``.
    """
    switches = [h for h in history if h.get("window") and h.get("from") and h.get("action") != "rollback"]
    found: dict[str, list[dict[str, Any]]] = {"drift": [], "model_drift": [], "blocked": [], "handled": []}
    for entry in monitoring:
        verdict = entry.get("verdict") or {}
        window, version = entry["window"], verdict.get("version")
        evidence = [str(e) for e in verdict.get("evidence") or []]
        items: list[tuple[str, dict[str, Any]]] = []
        if verdict.get("drift_that_matters"):
            items.append(("drift", {"evidence": evidence[0] if evidence else ""}))
        if verdict.get("model_drift"):
            items.append(("model_drift", {"evidence": evidence[-1] if evidence else ""}))
        for decision in entry.get("decisions") or []:
            if str(decision.get("outcome") or "").startswith("keep "):
                items.append(("blocked", {"outcome": decision["outcome"], "file": decision["file"]}))
        switch = _answer(switches, window, version)
        for kind, item in items:
            item.update(window=window, version=version)
            found["handled" if switch else kind].append({**item, "kind": kind, "switch": switch} if switch else item)
    return found


def collect(project: Project) -> dict[str, Any]:
    """Everything the report shows, read from the project's repository (no database access).

    Args:
        project: the loaded project.

    Returns:
        A dictionary of plain data; ``problems`` lists the files that could not be read.
    """
    cfg, repo = project.config, project.repo
    name, primary = cfg.model.name, cfg.train.primary_metric
    problems: list[str] = []
    def where(path: Path) -> str:
        return str(path.relative_to(repo))

    state = _guard(problems, where(layout.deploy_pointer(repo, name)), None, deploy.read_pointer, repo, name)
    rows = _guard(problems, where(layout.metrics_log(repo)), [], read_metrics, repo)
    kpis = kpi_series(rows, name, primary)
    records = _guard(problems, f"{where(layout.runs_dir(repo))}/", [], read_runs, repo)
    runs = [record.to_dict() for record in records]
    entries = _guard(problems, where(layout.audit_log(repo)), [], audit.read_entries, repo)
    chain = _guard(problems, where(layout.audit_log(repo)), [], audit.check_chain, repo)
    pending = _guard(problems, f"{where(layout.model_dir(repo, name))}/*.status", [], vstatus.with_status, repo,
                     name, "pending")
    monitoring = monitoring_windows(repo, problems)
    live = None
    if state:
        content = (state.get("slots") or {}).get(state.get("live")) or {}
        live = {"version": content.get("version"), "slot": state.get("live"), "since": content.get("since")}
    return {
        "project": cfg.project, "model": name, "primary": primary,
        "repo": repo, "mode": cfg.deploy.mode, "governance": cfg.governance.promote,
        "task": cfg.model.task, "kpis": kpis, "state": state, "live": live,
        "history": (state or {}).get("history", []), "runs": runs, "served_runs": served_by_runs(runs),
        "monitoring": monitoring, "attention": attention(monitoring, (state or {}).get("history", [])),
        "versions": versions_table(repo, name, primary, state, kpis["served"], problems),
        "audit": entries, "audit_problems": chain, "pending": pending,
        "impact_thresholds": (cfg.drift.impact.threshold, cfg.drift.impact.counterfactual_threshold),
        "drift_enabled": cfg.drift.enabled, "sweetviz_enabled": cfg.drift.enabled and cfg.drift.sweetviz.enabled,
        "problems": problems,
    }
