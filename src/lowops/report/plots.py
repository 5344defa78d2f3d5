"""The report's charts: matplotlib on the Agg backend, PNG bytes with fixed metadata.

Each function returns PNG bytes, or None when there is nothing to draw (the
page then says "no data yet"). The same input gives the same bytes: no
timestamps or software versions are written into the files.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Iterator
from typing import Any

# matplotlib's tab10, so a version has the same colour in every chart and in the tables.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
SLOT_COLORS = {"blue": "#1f6fd1", "green": "#2e9e48"}
LIVE_PATH, STATIC_PATH = "#243447", "#d9822b"
DPI = 100


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep matplotlib's own notices (font cache, config directory) out of cron's logs."""
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def version_colors(versions: list[str]) -> dict[str, str]:
    """A colour per version, in registration order."""
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless under cron: never a display
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software" or creation-time chunk: the same data draws the same bytes.
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None},
                facecolor="white")
    _pyplot().close(fig)
    return buffer.getvalue()


def _style(ax: Any, windows: list[str]) -> None:
    ax.set_xticks(range(len(windows)))
    ax.set_xticklabels(windows, rotation=45 if len(windows) > 8 else 0, ha="right" if len(windows) > 8 else "center")
    ax.set_xlim(-0.6, len(windows) - 0.4)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _markers(ax: Any, markers: list[dict[str, Any]], windows: list[str], colors: dict[str, str],
             label_text: bool = True) -> None:
    """Promotion markers: a dashed line between the window a switch happened at and the next one."""
    index = {w: i for i, w in enumerate(windows)}
    for marker in markers:
        window = marker.get("window")
        if window in index:
            x = index[window] + 0.5
        elif window is not None and windows and window < windows[0]:
            x = -0.5
        else:
            continue
        color = colors.get(marker["to"], "#555555")
        ax.axvline(x, color=color, linestyle="--", linewidth=1.2, alpha=0.9, zorder=1)
        if label_text:
            text = ("↩ " if marker.get("action") == "rollback" else "→ ") + marker["to"]
            ax.annotate(text, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -2),
                        textcoords="offset points", rotation=90, va="top", ha="left", fontsize=8.5,
                        color=color, fontweight="bold")


def kpi_chart(windows: list[str], kpis: dict[str, Any], versions: list[str], markers: list[dict[str, Any]],
              primary: str) -> bytes | None:
    """The primary KPI per window per version, the live path, estimates and promotion markers."""
    served, estimated, static, compare = kpis["served"], kpis["estimated"], kpis["static"], kpis["compare"]
    if not windows or not (served or estimated or static or compare):
        return None
    plt = _pyplot()
    colors = version_colors(versions)
    fig, ax = plt.subplots(figsize=(10.5, 4.2))
    index = {w: i for i, w in enumerate(windows)}
    live_x = [index[w] for w in windows if w in served and _finite(served[w][1])]
    if live_x:
        ax.plot(live_x, [served[windows[i]][1] for i in live_x], color=LIVE_PATH, linewidth=5, alpha=0.15,
                solid_capstyle="round", zorder=2, label="live path (what was served)")
    est = [(index[w], v) for w, (_, v) in estimated.items() if w not in served and w in index and _finite(v)]
    if est:
        est.sort()
        ax.plot([x for x, _ in est], [v for _, v in est], color="#777777", linestyle=":", marker="x",
                linewidth=1.4, zorder=3, label="estimated (labels not in yet)")
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    seen = {v for _, v in compare} | {v for v, _ in served.values()} | {v for v, _ in static.values()}
    known = [*versions, *sorted(seen - set(versions))]
    for version in known:
        points: dict[int, tuple[float, bool]] = {}
        for w, (v, value) in static.items():
            if v == version and w in index:
                points[index[w]] = (value, False)
        for (w, v), value in compare.items():
            if v == version and w in index and index[w] not in points:
                points[index[w]] = (value, False)
        for w, (v, value) in served.items():
            if v == version and w in index:
                points[index[w]] = (value, True)
        xs = sorted(x for x in points if _finite(points[x][0]))
        if not xs:
            continue
        color = colors.get(version, "#555555")
        ax.plot(xs, [points[x][0] for x in xs], color=color, linewidth=1.3, alpha=0.75, zorder=4)
        live = [x for x in xs if points[x][1]]
        other = [x for x in xs if not points[x][1]]
        if live:
            ax.scatter(live, [points[x][0] for x in live], color=color, s=42, zorder=5)
        if other:
            ax.scatter(other, [points[x][0] for x in other], facecolors="white", edgecolors=color, s=36,
                       linewidths=1.5, zorder=5)
        handles.append(Line2D([], [], color=color, marker="o", linewidth=1.3, label=version))
    _markers(ax, markers, windows, colors)
    _style(ax, windows)
    ax.set_ylabel(primary)
    extra, _ = ax.get_legend_handles_labels()  # the live path and the estimate
    handles += [*extra,
                Line2D([], [], color="#555555", marker="o", linestyle="none", label="served the window"),
                Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none",
                       label="scored, not served")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return _png(fig)


def paths_chart(windows: list[str], live: dict[str, float], static: dict[str, float], static_version: str,
                markers: list[dict[str, Any]], colors: dict[str, str], primary: str,
                lower_is_better: bool) -> bytes | None:
    """With retraining (the live version) against without (the first version), window by window."""
    if not windows or not live or not static:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.5, 3.8))
    xs = list(range(len(windows)))
    a = [live.get(w, math.nan) for w in windows]
    b = [static.get(w, math.nan) for w in windows]
    ax.plot(xs, a, color=LIVE_PATH, linewidth=2.2, marker="o", markersize=5, zorder=4,
            label="with retraining (live version)")
    ax.plot(xs, b, color=STATIC_PATH, linewidth=2.0, linestyle="--", marker="s", markersize=4.5, zorder=4,
            label=f"no retraining ({static_version} throughout)")
    better = [(y1 < y2) if lower_is_better else (y1 > y2) for y1, y2 in zip(a, b)]
    if any(better):
        ax.fill_between(xs, a, b, where=better, interpolate=True, color="#2e9e48", alpha=0.18, zorder=2,
                        label="retraining better")
    worse = [(y1 > y2) if lower_is_better else (y1 < y2) for y1, y2 in zip(a, b)]
    if any(worse):
        ax.fill_between(xs, a, b, where=worse, interpolate=True, color="#d62728", alpha=0.18, zorder=2,
                        label="retraining worse")
    _markers(ax, markers, windows, colors)
    _style(ax, windows)
    ax.set_ylabel(primary)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return _png(fig)


def severity(row: dict[str, Any]) -> float:
    """A feature's decision statistic relative to its threshold: 1 at the threshold, above it drifted.

    p-value methods (small means drift) compare on a log scale. A feature flagged by
    its missing share alone counts as at least 1.
    """
    stat, threshold = row["statistic"], row["threshold"]
    value = math.nan
    if _finite(stat) and _finite(threshold) and threshold > 0:
        if row["method"] in ("ks", "chi2"):
            value = math.log10(max(stat, 1e-300)) / math.log10(threshold) if 0 < threshold < 1 else math.nan
        else:
            value = stat / threshold
    if row["drifted"] and not (value >= 1):
        value = 1.0
    return value


def _cell_text(row: dict[str, Any]) -> str:
    stat = row["statistic"]
    if not _finite(stat):
        return "–"
    if row["method"] in ("ks", "chi2"):
        return f"p={stat:.0e}" if stat < 0.01 else f"p={stat:.2f}"
    return f"{stat:.2f}"


def heatmap_chart(monitoring: list[dict[str, Any]], importance: dict[str, float]) -> bytes | None:
    """Features × windows, coloured by the decision statistic over its threshold; drifted cells outlined."""
    windows = [m["window"] for m in monitoring if m["drift"]]
    if not windows:
        return None
    plt = _pyplot()
    import numpy as np
    from matplotlib.patches import Rectangle

    cells = {(r["feature"], m["window"]): r for m in monitoring for r in m["drift"]}
    features = sorted({f for f, _ in cells})
    worst = {f: max((severity(cells[(f, w)]) for w in windows if (f, w) in cells and _finite(severity(cells[(f, w)]))),
                    default=0.0) for f in features}
    features.sort(key=lambda f: (-worst[f], -importance.get(f, 0.0), f))
    grid = np.full((len(features), len(windows)), np.nan)
    for i, f in enumerate(features):
        for j, w in enumerate(windows):
            if (f, w) in cells:
                grid[i, j] = min(severity(cells[(f, w)]), 3.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.72 * len(windows) + 3.6), 0.34 * len(features) + 1.6))
    cmap = plt.get_cmap("YlOrRd").with_extremes(bad="#f0f0f0")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=3, aspect="auto")
    for i, f in enumerate(features):
        for j, w in enumerate(windows):
            row = cells.get((f, w))
            if row is None:
                continue
            value = grid[i, j]
            dark = _finite(value) and value > 1.9
            ax.text(j, i, _cell_text(row), ha="center", va="center", fontsize=7,
                    color="white" if dark else "#333333", fontweight="bold" if row["drifted"] else "normal")
            if row["drifted"]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#111111", linewidth=1.6))
    ax.set_xticks(range(len(windows)))
    ax.set_xticklabels(windows, rotation=45 if len(windows) > 8 else 0, ha="right" if len(windows) > 8 else "center")
    ax.set_yticks(range(len(features)))
    ax.set_yticklabels([f"{f}  ({_share(importance.get(f))})" if _finite(importance.get(f)) else f
                        for f in features], fontsize=8.5)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
    bar.set_label("decision statistic ÷ threshold  (≥ 1: drifted)", fontsize=8.5)
    bar.ax.tick_params(labelsize=8)
    return _png(fig)


def impact_chart(rows: list[dict[str, Any]], thresholds: tuple[float, float], top: int = 12) -> bytes | None:
    """The latest window's impact, both measures side by side, drifted features highlighted."""
    rows = sorted(rows, key=lambda r: r["rank"] or 10**6)[:top]
    if not rows:
        return None
    plt = _pyplot()
    rows = rows[::-1]  # barh draws bottom-up: rank 1 on top
    labels = [r["feature"] for r in rows]
    colors = ["#d9534f" if r["drifted"] else "#8fb4d9" for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 0.36 * len(rows) + 1.6), sharey=True)
    for ax, key, threshold, title in ((left, "impact", thresholds[0], "importance-weighted: drift × importance"),
                                      (right, "counterfactual", thresholds[1],
                                       "counterfactual: mean |Δ score| with the feature put back")):
        values = [r[key] if _finite(r[key]) else 0.0 for r in rows]
        ax.barh(labels, values, color=colors, height=0.65)
        ax.axvline(threshold, color="#333333", linestyle="--", linewidth=1)
        ax.annotate(f"threshold {threshold:g}", xy=(threshold, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(3, 3), textcoords="offset points", fontsize=8, color="#333333")
        top_value = max([*values, threshold])
        for y, (value, row) in enumerate(zip(values, rows)):
            text = f"{value:.4f}"
            if key == "counterfactual" and not row["drifted"] and not _finite(row[key]):
                text = "not drifted: not re-scored"
            elif key == "counterfactual" and _finite(row["flip_share"]):
                text += f"  ({row['flip_share']:.1%} flip)"
            ax.text(value + top_value * 0.01, y, text, va="center", fontsize=7.5, color="#333333")
        ax.set_xlim(0, top_value * 1.45)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    left.tick_params(axis="y", labelsize=9)
    from matplotlib.patches import Patch

    right.legend(handles=[Patch(color="#d9534f", label="drifted"), Patch(color="#8fb4d9", label="not drifted")],
                 loc="lower right", bbox_to_anchor=(1.0, 0.05), frameon=False, fontsize=8.5)
    fig.tight_layout()
    return _png(fig)


def slots_chart(windows: list[str], slots: dict[str, dict[str, dict[str, Any]]], primary: str) -> bytes | None:
    """The primary KPI of each slot by window (shadow or split scoring), each point labelled with its version."""
    if not windows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.5, 3.4))
    for slot, color in SLOT_COLORS.items():
        xs = [i for i, w in enumerate(windows) if slot in slots.get(w, {}) and _finite(slots[w][slot]["value"])]
        if not xs:
            continue
        ys = [slots[windows[i]][slot]["value"] for i in xs]
        ax.plot(xs, ys, color=color, marker="o", linewidth=2, label=f"{slot} slot")
        for x, y in zip(xs, ys):
            other = slots[windows[x]].get("green" if slot == "blue" else "blue")
            above = other is None or not _finite(other["value"]) or y >= other["value"]
            ax.annotate(slots[windows[x]][slot]["version"], (x, y), xytext=(0, 7 if above else -13),
                        textcoords="offset points", ha="center", fontsize=8, color=color)
    ax.margins(y=0.15)
    _style(ax, windows)
    ax.set_ylabel(primary)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return _png(fig)


def _share(value: Any) -> str:
    return "<1%" if 0 < value < 0.005 else f"{value:.0%}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
