"""``lowops report``: one static, self-contained HTML dashboard of the repository.

It reads what the pipeline wrote — ``logs/metrics.log``, the deploy pointer
and its history, the registry, ``monitoring/<window>/``, ``audit.log``, the
version status files and the run ledgers — and writes ``reports/index.html``:
the primary KPI per window per version with the switches marked, the
retrained path against the no-retraining path, a drift heat map, the latest
window's impact, the versions, the decisions, the per-slot KPIs and links to
the Sweetviz reports. Charts are PNGs embedded in the page, so it opens from
the filesystem with no server and no network.

It never touches the database and takes no lock: it only reads, and it
replaces its one output file atomically (a derived file, rebuilt every time).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lowops import __version__, secrets
from lowops.config import Project
from lowops.io import layout
from lowops.io.files import write_text
from lowops.io.logs import utc_now
from lowops.model.metrics import LOWER_IS_BETTER
from lowops.report import data as report_data
from lowops.report import history, sections
from lowops.report import plots as report_plots
from lowops.report.html import esc, page, when

_EMPTY = re.compile(r'<p class="empty">')
_DATA_URI = re.compile(r"(data:image/png;base64,[A-Za-z0-9+/=]+)")


def default_output(project: Project) -> Path:
    return layout.report_file(project.repo)


def _window_of(stamp: str | None, runs: list[dict[str, Any]]) -> str | None:
    """The window of the latest run that started before ``stamp`` (for switches made by hand)."""
    found = None
    for record in runs:
        if stamp and record.get("window") and str(record.get("started_at") or "") <= stamp:
            found = record["window"]
    return found


def _markers(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each switch of the live version, placed after the window it happened at."""
    out = []
    for entry in data["history"]:
        if not entry.get("to"):
            continue
        window = entry.get("window") or _window_of(entry.get("at"), data["runs"])
        out.append({"window": window, "to": str(entry["to"]), "action": entry.get("action")})
    return out


def _charts(data: dict[str, Any], windows: list[str], version_names: list[str], markers: list[dict[str, Any]],
            colors: dict[str, str], lower: bool, latest_impact: dict[str, Any] | None,
            importance: dict[str, float]) -> dict[str, bytes | None]:
    """Every chart's PNG, None where there is nothing to draw."""
    kpis, primary, monitoring = data["kpis"], data["primary"], data["monitoring"]
    path_windows = sorted(set(kpis["served"]) | set(kpis["static"]))
    slot_windows = sorted(kpis["slots"])
    return {
        "kpi": report_plots.kpi_chart(windows, kpis, version_names, markers, primary),
        "paths": report_plots.paths_chart(
            path_windows, {w: v for w, (_, v) in kpis["served"].items()},
            {w: v for w, (_, v) in kpis["static"].items()},
            next((v for _, (v, _) in sorted(kpis["static"].items())), "the first version"),
            markers, colors, primary, lower) if kpis["static"] and kpis["served"] else None,
        "drift": report_plots.heatmap_chart(monitoring, importance),
        "impact": report_plots.impact_chart(latest_impact["impact"], data["impact_thresholds"])
        if latest_impact else None,
        "slots": report_plots.slots_chart(slot_windows, kpis["slots"], primary) if slot_windows else None,
    }


def build(data: dict[str, Any], output: Path) -> tuple[str, dict[str, int], dict[str, str]]:
    """The page's HTML, the size of each chart, and each section's state (``ok`` or ``no data yet``)."""
    kpis, primary = data["kpis"], data["primary"]
    version_names = [v["version"] for v in data["versions"]]
    colors = report_plots.version_colors(version_names)
    windows = sorted(set(kpis["served"]) | set(kpis["estimated"]) | set(kpis["static"])
                     | {w for w, _ in kpis["compare"]})
    markers = _markers(data)
    lower = primary in LOWER_IS_BETTER
    latest_impact = next((m for m in reversed(data["monitoring"]) if m["impact"]), None)
    importance = {r["feature"]: r["importance"] for r in (latest_impact or {}).get("impact", [])}
    with report_plots.quiet():
        charts = _charts(data, windows, version_names, markers, colors, lower, latest_impact, importance)
    parts = {
        "summary": sections.summary(data, windows),
        "timeline": sections.timeline(data, windows),
        "kpi": sections.kpi(data, charts["kpi"]),
        "paths": sections.paths(data, charts["paths"], lower),
        "drift": sections.drift(data, charts["drift"]),
        "impact": sections.impact(data, charts["impact"], latest_impact),
        "decisions": history.decisions(data),
        "versions": history.versions(data, colors),
        "slots": history.slots(data, charts["slots"], sorted(kpis["slots"])),
        "sweetviz": sections.sweetviz(data, output),
        "runs": history.runs(data),
    }
    nav = [("summary", "At a glance"), ("timeline", "Windows"), ("kpi", "KPI"), ("paths", "Retraining"),
           ("drift", "Drift"), ("impact", "Impact"), ("decisions", "Decisions"), ("versions", "Versions"),
           ("slots", "Slots"), ("sweetviz", "Sweetviz"), ("runs", "Runs")]
    generated = utc_now()
    subtitle = (f"model <b>{esc(data['model'])}</b> · primary metric {esc(primary)} · deploy {esc(data['mode'])}, "
                f"promote {esc(data['governance'])} · generated {esc(when(generated))}")
    footer = (f"Generated by lowops {esc(__version__)} at {esc(when(generated))} from {esc(data['repo'])}. "
              "A static file: no server, no network. Refresh with <code>lowops report</code>.")
    body = [sections.problems(data), *parts.values()]
    document = page(f"lowops — {data['project']}", subtitle, nav, [b for b in body if b], footer)
    states = {name: ("no data yet" if _EMPTY.search(html) and "<img" not in html and "<table" not in html else "ok")
              for name, html in parts.items()}
    return document, {name: len(png) for name, png in charts.items() if png}, states


def report(project: Project, output: Path | None = None) -> dict[str, Any]:
    """Write the HTML dashboard of a project's repository and say what went into it.

    Args:
        project: the loaded project.
        output: where to write the page (default: ``<repo>/reports/index.html``).

    Returns:
        The file written, its size, the windows covered, each chart's size, each
        section's state and the files that could not be read.

    Raises:
        WriteError: the page cannot be written (disk full, permissions).
    """
    output = Path(output) if output is not None else default_output(project)
    output = output.absolute()
    data = report_data.collect(project)
    document, images, states = build(data, output)
    # Texts were redacted one by one; this pass also catches a secret in markup built around them,
    # leaving the embedded images alone (a short password could match inside base64 data).
    pieces = _DATA_URI.split(document)
    document = "".join(piece if i % 2 else secrets.redact(piece) for i, piece in enumerate(pieces))
    write_text(output, document, overwrite=True)
    kpis = data["kpis"]
    windows = sorted(set(kpis["served"]) | set(kpis["estimated"]) | {m["window"] for m in data["monitoring"]})
    return {"report": str(output), "bytes": len(document.encode("utf-8")), "model": data["model"],
            "live": (data["live"] or {}).get("version"), "windows": windows,
            "latest_window": windows[-1] if windows else None, "images": images, "sections": states,
            "problems": data["problems"]}
