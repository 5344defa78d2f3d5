"""The report's sections, each from the data :mod:`lowops.report.data` collected.

Every section renders something whatever the repository holds: with nothing
to show it says so, and what would fill it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lowops.io import layout
from lowops.report.data import decide_outputs
from lowops.report.html import badge, empty, esc, image, num, section, signed, stamp, table

# Where things are in a repository, as the page names them for people (relative to repo/).
_HERE = Path()
_EVENTS = layout.event_log(_HERE)
_METRICS = layout.metrics_log(_HERE)
_MONITORING = layout.monitoring_dir(_HERE, "<window>")
_CARD = layout.version_dir(_HERE, "<name>", "<version>") / layout.CARD_FILE
_RUNS = layout.runs_dir(_HERE)
_RUN = layout.run_file(_HERE, "<run>")


def _yes(flag: Any, yes: str = "YES", no: str = "no") -> str:
    if flag is None:
        return badge("–")
    return badge(yes, "bad") if flag else badge(no, "ok")


def decision_text(outputs: dict[str, Any] | None, files: list[dict[str, Any]]) -> str:
    """What the pipeline decided at a window, in a line: the slots' outcome, then the comparison's."""
    said = []
    slot_outcome = ((outputs or {}).get("slots") or {}).get("outcome")
    if slot_outcome:
        said.append(f"slots: {slot_outcome}")
    if files and files[-1].get("outcome"):
        said.append(str(files[-1]["outcome"]))
    elif outputs is not None:
        if outputs.get("outcome"):
            said.append(str(outputs["outcome"]))
        elif outputs.get("decision"):
            said.append(str(outputs["decision"]))
        elif not outputs.get("triggers"):
            said.append("no retraining trigger fired")
    return "; ".join(said)


def summary(data: dict[str, Any], windows: list[str]) -> str:
    kpis, primary = data["kpis"], data["primary"]
    cards = []
    live = data["live"]
    cards.append(_card("Live model", esc(live["version"] if live else "none"),
                       f"slot {esc(live['slot'])} since {stamp(live['since'])}" if live else "nothing trained yet",
                       raw=True))
    served = kpis["served"]
    labelled = [w for w in windows if w in served]
    if labelled:
        last = labelled[-1]
        detail = f"window {last}, {served[last][0]}"
        if len(labelled) > 1:
            delta = served[last][1] - served[labelled[-2]][1]
            detail += f"; {signed(delta)} vs {labelled[-2]}"
        cards.append(_card(f"Latest {primary}", num(served[last][1]), detail))
    elif kpis["estimated"]:
        last = max(kpis["estimated"])
        cards.append(_card(f"Latest {primary}", "≈ " + num(kpis["estimated"][last][1]),
                           f"window {last}, estimated: no labels yet"))
    else:
        cards.append(_card(f"Latest {primary}", "–", "no labelled window yet"))
    verdict = next((m["verdict"] for m in reversed(data["monitoring"]) if m["verdict"]), None)
    if verdict:
        drifted = verdict.get("drifted") or []
        cards.append(_card(f"Monitoring {verdict.get('window')}",
                           f"{_yes(verdict.get('drift_that_matters'), 'drift matters', 'no drift that matters')}"
                           f"<br>{_yes(verdict.get('model_drift'), 'model drift', 'no model drift')}",
                           "drifted: " + esc(", ".join(drifted) if drifted else "none"), raw=True))
    else:
        cards.append(_card("Monitoring", "–", "no monitoring yet"))
    pending = data["pending"]
    cards.append(_card("Pending approval", str(len(pending)),
                       ", ".join(p["version"] for p in pending) if pending else "nothing waits"))
    runs = data["runs"]
    if runs:
        last_run = runs[-1]
        status = last_run.get("status")
        cards.append(_card("Last run", f"{badge(str(status), 'ok' if status in ('done', 'empty') else 'bad')}",
                           f"{esc(last_run.get('run_id'))} {esc(last_run.get('command'))} "
                           f"{esc(last_run.get('window') or '')} at {stamp(last_run.get('started_at'))}", raw=True))
    body = f'<div class="cards">{"".join(cards)}</div>' + _attention(data)
    return section("summary", "At a glance", body)


def _card(label: str, value: str, detail: str, raw: bool = False) -> str:
    """A summary card; with ``raw`` the value and detail are HTML already (escaped by the caller)."""
    shown, said = (value, detail) if raw else (esc(value), esc(detail))
    return (f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{shown}</div>'
            f'<div class="detail">{said}</div></div>')


_KINDS = {"drift": "drift that matters", "model_drift": "model drift", "blocked": "a blocked retrain"}


def _windows(found: list[dict[str, Any]]) -> str:
    windows = list(dict.fromkeys(str(f["window"]) for f in found))
    return f"{len(windows)} window{'s' if len(windows) != 1 else ''} ({', '.join(windows)})"


def _findings(found: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[str]]:
    """Unresolved drift that matters, model drift and blocked retrains; and the ones a switch answered."""
    items = []
    for kind, said in (("drift", "drift that matters not followed by a switch"),
                       ("model_drift", "model drift not answered by a switch")):
        if found[kind]:
            last = found[kind][-1]
            items.append(f"{said} in {esc(_windows(found[kind]))}; latest, {esc(last['window'])} "
                         f"({esc(last['version'] or '?')}): {esc(last['evidence'])}")
    for item in found["blocked"]:
        items.append(f"retrain blocked at {esc(item['window'])}: {esc(item['outcome'])} "
                     f"(<code>{esc(item['file'])}</code>)")
    notes: list[str] = []
    by_switch: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for item in found["handled"]:
        switch = item["switch"]
        by_switch.setdefault((switch.get("to"), switch.get("window"), switch.get("action") or "switch"), []).append(item)
    for (version, window, action), handled in by_switch.items():
        kinds = [f"{_KINDS[kind]} at {', '.join(dict.fromkeys(str(h['window']) for h in handled if h['kind'] == kind))}"
                 for kind in _KINDS if any(h["kind"] == kind for h in handled)]
        notes.append(f"{esc('; '.join(kinds))}: since then {esc(version)} went live ({esc(action)} at {esc(window)})")
    return items, notes


def _attention(data: dict[str, Any]) -> str:
    items = []
    failed = [r for r in data["runs"][-10:] if r.get("status") not in ("done", "empty", "running")]
    for run in failed[-3:]:
        items.append(f"run {esc(run.get('run_id'))} ({esc(run.get('command'))} {esc(run.get('window') or '')}) "
                     f"ended <b>{esc(run.get('status'))}</b>: {esc(run.get('message') or f'see {_EVENTS}')}")
    for item in data["pending"]:
        items.append(f"{esc(item['version'])} waits for approval since {stamp(item.get('at'))}: "
                     f"<code>lowops approve {esc(item['version'])} --by NAME --reason TEXT</code> or "
                     f"<code>lowops reject …</code>")
    found, notes = _findings(data["attention"])
    items.extend(found)
    if data["audit_problems"]:
        items.append(f"audit.log chain broken: {esc(data['audit_problems'][0])} — run <code>lowops verify</code>")
    noted = "".join(f"<li>{n}</li>" for n in notes)
    if not items:
        return (f'<div class="attention calm">Nothing needs attention.'
                f'{"<br>Handled:<ul>" + noted + "</ul>" if noted else ""}</div>')
    return ('<div class="attention"><b>Needs attention</b><ul>' + "".join(f"<li>{i}</li>" for i in items)
            + "</ul>" + (f"Handled:<ul>{noted}</ul>" if noted else "") + "</div>")


def timeline(data: dict[str, Any], windows: list[str]) -> str:
    kpis = data["kpis"]
    monitoring = {m["window"]: m for m in data["monitoring"]}
    decided = decide_outputs(data["runs"])
    every = sorted(set(windows) | set(monitoring) | set(decided) | set(data["served_runs"]))
    if not every:
        return section("timeline", "Window by window", empty("No data yet: no window has been run "
                                                             "(lowops run or lowops backfill)."))
    rows, classes = [], []
    for window in reversed(every):
        served = kpis["served"].get(window)
        estimated = kpis["estimated"].get(window)
        static = kpis["static"].get(window)
        version = served[0] if served else data["served_runs"].get(window) or (estimated[0] if estimated else "")
        kpi = num(served[1]) if served else (f"≈ {num(estimated[1])} <span class=\"small\">est.</span>"
                                             if estimated else "–")
        verdict = (monitoring.get(window) or {}).get("verdict") or {}
        drifted = verdict.get("drifted") or []
        decision = decision_text(decided.get(window), (monitoring.get(window) or {}).get("decisions") or [])
        rows.append([esc(window), esc(version), kpi, num(static[1]) if static else "–",
                     _yes(verdict.get("drift_that_matters")) if verdict else "–",
                     _yes(verdict.get("model_drift")) if verdict else "–",
                     esc(", ".join(drifted)) if verdict else "–", esc(decision)])
        classes.append("bad" if verdict.get("model_drift") else "")
    body = table(["window", "scored by", f"{data['primary']}", "no retraining", "drift that matters",
                  "model drift", "drifted features", "decision"], rows, numeric=(2, 3), row_classes=classes)
    return section("timeline", "Window by window", body, "Newest first. KPIs are realised once labels exist; "
                   "“est.” is the estimate without labels (CBPE, DLE) while they are late.")


def kpi(data: dict[str, Any], png: bytes | None) -> str:
    primary = data["primary"]
    if png is None:
        return section("kpi", f"{primary} by window and model version",
                       empty(f"No data yet: no window has a KPI (labels or an estimate) in {_METRICS}."))
    caption = ("Filled dots: the version that served the window (realised KPI). Hollow dots: the same version "
               "scoring a window it did not serve (the no-retraining path, or the comparison hold-out). "
               "Dashed vertical lines: a switch of the live version, effective from the next window. "
               "Dotted grey: estimated KPI where labels are not in yet.")
    return section("kpi", f"{primary} by window and model version",
                   image(png, f"{primary} by window and model version") + f'<p class="caption">{esc(caption)}</p>')


def paths(data: dict[str, Any], png: bytes | None, lower_is_better: bool) -> str:
    kpis, primary = data["kpis"], data["primary"]
    title = "With retraining against without"
    windows = sorted(set(kpis["served"]) & set(kpis["static"]))
    if png is None or not windows:
        return section("paths", title, empty(
            "No data yet: the no-retraining path (static." + primary + " lines, the first version scoring every "
            "labelled window) needs labelled windows."))
    sign = -1.0 if lower_is_better else 1.0
    gains = {w: sign * (kpis["served"][w][1] - kpis["static"][w][1]) for w in windows}
    static_version = kpis["static"][windows[-1]][0]
    differing = [w for w in windows if kpis["served"][w][0] != kpis["static"][w][0]]
    if differing:
        mean = sum(gains[w] for w in differing) / len(differing)
        verdict = "better" if mean > 0 else "worse" if mean < 0 else "the same"
        span = (f"in {esc(differing[0])}" if len(differing) == 1 else
                f"on average over the {len(differing)} windows {esc(differing[0])} … {esc(differing[-1])} "
                f"(better in {sum(gains[w] > 0 for w in differing)} of them)")
        text = (f"Since retraining first changed the live version, the retrained path is <b>{verdict}</b> by "
                f"{esc(num(abs(mean)))} {esc(primary)} {span}.")
    else:
        text = f"{esc(static_version)} has served every labelled window so far: both paths are the same."
    rows = []
    for w in reversed(windows):
        gain = gains[w]
        css = "pos" if gain > 0 else "neg" if gain < 0 else ""
        rows.append([esc(w), esc(kpis["served"][w][0]), num(kpis["served"][w][1]), num(kpis["static"][w][1]),
                     f'<span class="{css}">{esc(signed(gain))}</span>'])
    body = (f"<p>{text}</p>" + image(png, "retrained path against the no-retraining path") +
            "<details><summary>Window by window</summary>" +
            table(["window", "live version", "with retraining", f"no retraining ({static_version})",
                   "gain from retraining"], rows, numeric=(2, 3, 4)) + "</details>")
    return section("paths", title, body, f"{esc(primary)} of the live version against the very first version "
                   f"({esc(static_version)}) scoring the same windows: the pipeline with retraining switched off.")


def drift(data: dict[str, Any], png: bytes | None) -> str:
    if png is None:
        why = ("drift monitoring is switched off (drift.enabled: false)" if not data["drift_enabled"]
               else f"no window has been monitored ({_MONITORING / layout.DATA_DRIFT_FILE})")
        return section("drift", "Data drift by feature and window", empty(f"No data yet: {why}."))
    latest = next((m["verdict"] for m in reversed(data["monitoring"]) if m["verdict"]), None) or {}
    reference = latest.get("reference") or {}
    ref_text = (f" The latest window's reference: {reference.get('kind')} "
                f"({', '.join(reference.get('windows') or [])}).") if reference else ""
    caption = ("Rows: features, with their share of the live model's importance; the most drifted on top. "
               "Colour: the decision statistic over its threshold (median shift or PSI by default; p-values on "
               "a log scale); cell text: the statistic. Outlined, bold: drifted. Each window is compared with "
               "the reference of the version live at the time." + ref_text)
    return section("drift", "Data drift by feature and window",
                   image(png, "data drift heat map") + f'<p class="caption">{esc(caption)}</p>')


def impact(data: dict[str, Any], png: bytes | None, latest: dict[str, Any] | None) -> str:
    if png is None or latest is None:
        return section("impact", "Impact in the latest window", empty(
            f"No data yet: no window has an impact ranking ({_MONITORING / layout.IMPACT_FILE})."))
    verdict = latest.get("verdict") or {}
    evidence = verdict.get("evidence") or []
    matters = verdict.get("drift_that_matters")
    head = (f"<p>Window <b>{esc(latest['window'])}</b>: "
            f"{_yes(matters, 'drift that matters', 'no drift that matters') if verdict else ''}</p>")
    listed = "".join(f"<li>{esc(e)}</li>" for e in evidence)
    body = head + image(png, f"impact in {latest['window']}") + (f"<ul class=\"small\">{listed}</ul>" if listed else "")
    return section("impact", f"Impact in the latest window ({latest['window']})", body,
                   "Two measures: the drift score times the feature's importance in the live model, and how much "
                   "the scores move when only that feature is put back on its reference distribution.")


def sweetviz(data: dict[str, Any], output: Path) -> str:
    found = [(m["window"], m["sweetviz"]) for m in data["monitoring"] if m["sweetviz"] is not None]
    if not found:
        why = ("drift.sweetviz.enabled is false" if not data["sweetviz_enabled"] else
               f"monitoring writes {_MONITORING / layout.SWEETVIZ_FILE} once a window is checked")
        return section("sweetviz", "Sweetviz reports", empty(f"No data yet: no Sweetviz report ({why})."))
    links = []
    for window, path in reversed(found):
        relative = os.path.relpath(path, output.parent).replace(os.sep, "/")
        links.append(f'<li><a href="{esc(quote(relative))}">{esc(window)}</a> '
                     f'<span class="small">{esc(relative)}</span></li>')
    return section("sweetviz", "Sweetviz reports", f"<ul>{''.join(links)}</ul>",
                   "Reference against each window, feature by feature (opens the report beside this page).")


def problems(data: dict[str, Any]) -> str:
    if not data["problems"]:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in data["problems"][:20])
    return (f'<section id="problems" class="problems"><b>Some files could not be read</b> (the sections below '
            f"leave them out; <code>lowops verify</code> checks the repository):<ul>{items}</ul></section>")

