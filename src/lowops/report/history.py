"""The page's sections on what the pipeline did: versions, decisions and approvals, slots, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lowops.io import layout
from lowops.report.html import badge, empty, esc, image, num, section, stamp, swatch, table, when

_HERE = Path()
_CARD = layout.version_dir(_HERE, "<name>", "<version>") / layout.CARD_FILE
_METRICS = layout.metrics_log(_HERE)
_MONITORING = layout.monitoring_dir(_HERE, "<window>")
_RUNS = layout.runs_dir(_HERE)
_RUN = layout.run_file(_HERE, "<run>")


def _periods(periods: list[dict[str, Any]]) -> str:
    out = []
    for p in periods:
        start = f"after {p['window']}" if p["window"] else when(p["from"])
        end = f"{p['until_window']}" if p["until_window"] else (when(p["until"]) if p["until"] else "now")
        out.append(f'<span class="nw">{esc(start)} → {esc(end)}</span> <span class="small" '
                   f'title="{esc(when(p["from"]))}">({esc(p["action"])})</span>')
    return "<br>".join(out) or "never"


def versions(data: dict[str, Any], colors: dict[str, str]) -> str:
    rows_in = data["versions"]
    if not rows_in:
        return section("versions", "Model versions", empty("No data yet: no model version is registered."))
    primary, rows, classes = data["primary"], [], []
    for v in reversed(rows_in):
        state = (badge(f"live ({v['slot']})", "ok") if v["live"] else
                 badge(f"idle ({v['slot']})", "info") if v["slot"] else "")
        if v["status"] and not (v["live"] and v["status"] == "promoted"):
            kind = {"rejected": "bad", "pending": "warn", "lost": "muted", "retired": "muted"}.get(v["status"], "info")
            state += " " + badge(v["status"], kind)
        holdout = v["holdout"]
        others = " · ".join(f"{k} {num(holdout[k], 3)}" for k in sorted(holdout) if k != primary)
        trained = ", ".join(v["train_windows"]) or "–"  # the hold-out window too, but its held-out entities
        served = v["served"]
        served_text = (f"{served[0]} … {served[-1]} ({len(served)})" if len(served) > 2 else ", ".join(served)) or "–"
        cv = f"{num(v['cv_mean'])} ± {num(v['cv_std'], 3)}" if v["cv_mean"] is not None else "–"
        called = " ".join([*v.get("aliases", []), *(f"[{t}]" for t in v.get("tags", []))])
        named = (f'<br><span class="small">{esc(called)}</span>' if called else "") + \
            (f'<br><span class="small">{esc(v["description"])}</span>' if v.get("description") else "")
        rows.append([swatch(colors.get(v["version"], "#777")) + f"<b>{esc(v['version'])}</b>{named}<br>"
                     f'<span class="small nw" title="registered {esc(when(v["created"]))}">'
                     f'{esc(str(v["created"] or "")[:10])}</span>', state or "–",
                     f"{esc(trained)}<br><span class=\"small\">hold-out {esc(v['holdout_window'] or '–')}</span>",
                     f"<b>{num(holdout.get(primary))}</b>", f'<span class="small">{esc(others)}</span>', cv,
                     _periods(v["periods"]), f'<span class="nw">{esc(served_text)}</span>', f'<span class="small" title="{esc(v["reason"])}">{esc(v["why"])}</span>'])
        classes.append("good" if v["live"] else "bad" if v["status"] == "rejected" else "")
    body = table(["version", "status", "trained on", f"hold-out {primary}", "other hold-out metrics", "CV",
                  "live", "windows served", "why trained"], rows, numeric=(3, 5),
                 row_classes=classes)
    return section("versions", "Model versions", body, "Newest first. Data windows from each version's lineage "
                   f"({esc(_CARD)}); live periods from the deploy history "
                   "(a switch after window W serves from the next window on).")


def decisions(data: dict[str, Any]) -> str:
    parts = [_pending(data)]
    files = [(m["window"], d) for m in data["monitoring"] for d in m["decisions"]]
    parts.append("<h3>Comparisons (T, T-1, T-2 on a common hold-out)</h3>")
    if files:
        for window, d in reversed(files):
            triggers = "".join(f"<li>{esc(t)}</li>" for t in d["triggers"])
            parts.append(
                f"<details><summary><b>{esc(window)}</b> — winner {esc(d.get('winner', '?'))}: "
                f"{esc(d.get('outcome', ''))}</summary><p>{esc(d.get('reason', ''))}</p>"
                + (f"<p class=\"small\">Triggers:</p><ul class=\"small\">{triggers}</ul>" if triggers else "")
                + f"<pre>{esc(d['text'])}</pre><p class=\"small\">{esc(d['file'])}</p></details>")
    else:
        parts.append(empty(f"No data yet: no retraining has been compared ({_MONITORING / layout.DECISION_FILE})."))
    parts.append("<h3>Switches of the live version</h3>")
    history = data["history"]
    if history:
        rows = [[stamp(h.get("at")), esc(h.get("window") or "–"), esc(h.get("action") or "first"),
                 f'<span class="nw">{esc(h.get("from") or "–")} → {esc(h.get("to"))}</span>',
                 esc(h.get("slot") or ""), esc(h.get("by") or ""),
                 f'<span class="small">{esc(h.get("reason") or "")}</span>'] for h in reversed(history)]
        parts.append(table(["when", "window", "action", "from → to", "slot", "by", "reason"], rows))
    else:
        parts.append(empty("No data yet: nothing has been deployed."))
    parts.append(_audit(data))
    return section("decisions", "Decisions", "".join(parts),
                   "What the pipeline decided and why: comparisons, switches, approvals, the audit trail.")


def _pending(data: dict[str, Any]) -> str:
    pending = data["pending"]
    if not pending:
        waits = f"Nothing waits for approval (governance.promote: {data['governance']})."
        return f"<h3>Pending approvals</h3>{empty(waits)}"
    rows = [[f"<b>{esc(p['version'])}</b>", stamp(p.get("at")), esc(p.get("window") or "–"),
             f'<span class="small">{esc(p.get("reason") or "")}</span>',
             f"<code>lowops approve {esc(p['version'])} --by NAME --reason TEXT</code>"] for p in pending]
    return "<h3>Pending approvals</h3>" + table(["version", "since", "window", "why", "to approve"], rows)


def _audit(data: dict[str, Any]) -> str:
    entries, problems = data["audit"], data["audit_problems"]
    records = f"{len(entries)} record{'s' if len(entries) != 1 else ''}"
    chain = (badge("chain broken: " + problems[0], "bad") if problems else
             badge(f"hash chain intact ({records})", "ok") if entries else "")
    head = f"<h3>Audit trail (audit.log) {chain}</h3>"
    if not entries:
        return head + empty("No data yet: no approval, rejection, promotion or rollback recorded.")
    rows = [[esc(e.get("seq")), stamp(e.get("at")), esc(e.get("action")), esc(e.get("version") or "–"),
             esc(e.get("from") or "–"), esc(e.get("window") or "–"), esc(e.get("by")),
             f'<span class="small">{esc(e.get("reason"))}</span>'] for e in reversed(entries[-50:])]
    return head + table(["#", "when", "action", "version", "from", "window", "by", "reason"], rows, numeric=(0,))


def slots(data: dict[str, Any], png: bytes | None, windows: list[str]) -> str:
    title = "Blue and green slots side by side"
    per_window = data["kpis"]["slots"]
    if png is None or not per_window:
        why = (f"deploy.mode is {data['mode']}; shadow or split scoring fills this section" if data["mode"] == "single"
               else "no labelled window has been scored by both slots yet")
        return section("slots", title, empty(f"No data yet: {why}."))
    rows = []
    for w in reversed(windows):
        cells = per_window.get(w, {})
        row = [esc(w)]
        for slot in ("blue", "green"):
            c = cells.get(slot)
            row += [esc(c["version"]) if c else "–", num(c["value"]) if c else "–", esc(c["rows"]) if c else "–"]
        rows.append(row)
    body = image(png, "primary KPI per slot") + table(
        ["window", "blue version", f"blue {data['primary']}", "blue rows", "green version",
         f"green {data['primary']}", "green rows"], rows, numeric=(2, 3, 5, 6))
    return section("slots", title, body, f"deploy.mode: {esc(data['mode'])}. "
                   f"slot.&lt;blue|green&gt;.{esc(data['primary'])} in {_METRICS}, on the rows each slot scored.")


def runs(data: dict[str, Any], limit: int = 15) -> str:
    records = data["runs"]
    if not records:
        return section("runs", "Recent runs", empty(f"No data yet: no run ledger in {_RUNS}/."))
    rows, classes = [], []
    for r in reversed(records[-limit:]):
        status = str(r.get("status"))
        kind = "ok" if status in ("done", "empty") else "info" if status == "running" else "bad"
        rows.append([esc(r.get("run_id")), esc(r.get("command")), esc(r.get("window") or "–"), badge(status, kind),
                     stamp(r.get("started_at")), stamp(r.get("ended_at")),
                     f'<span class="small">{esc(r.get("message") or "")}</span>'])
        classes.append("bad" if kind == "bad" else "")
    return section("runs", "Recent runs", table(["run", "command", "window", "status", "started", "ended", "message"],
                                                rows, row_classes=classes),
                   f"The last {min(limit, len(records))} of {len(records)} run ledgers ({esc(_RUN)}).")
