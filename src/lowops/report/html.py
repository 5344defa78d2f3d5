"""HTML building blocks of the report: escaping (with secrets redacted), tables, badges, the page.

The page is one static file: inline CSS, images as ``data:`` URIs, no
script, no font or stylesheet from anywhere else, so it opens from the
filesystem with no server and no network.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

from lowops import secrets


def esc(value: Any) -> str:
    """Text for the page: secrets redacted first, then HTML-escaped."""
    return html.escape(secrets.redact("" if value is None else str(value)), quote=True)


def num(value: Any, digits: int = 4) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "–"


def signed(value: Any, digits: int = 4) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:+.{digits}f}"
    return "–"


def when(stamp: Any) -> str:
    """``2026-11-28T05:40:21Z`` as ``2026-11-28 05:40 UTC``."""
    text = str(stamp or "")
    if len(text) >= 16 and text[10] == "T":
        return f"{text[:10]}\u00a0{text[11:16]}\u00a0UTC"  # no-break spaces: one line in a table
    return text or "–"


def stamp(value: Any) -> str:
    """A time for a table cell, kept on one line."""
    return f'<span class="nw">{esc(when(value))}</span>'


def badge(text: str, kind: str = "muted") -> str:
    """A small coloured label; kind is ok, bad, warn, info or muted."""
    return f'<span class="badge {kind}">{esc(text)}</span>'


def swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{esc(color)}"></span>'


def empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (),
          row_classes: Sequence[str] | None = None, classes: str = "") -> str:
    """A table whose cells are already HTML (build them with ``esc``)."""
    right = set(numeric)
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in right else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        css = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        cells = "".join(f'<td class="num">{c}</td>' if i in right else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{css}>{cells}</tr>")
    return (f'<div class="scroll"><table class="{classes}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def image(png: bytes, alt: str) -> str:
    """An ``<img>`` carrying its PNG inline, so the page is one self-contained file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def section(anchor: str, title: str, body: str, subtitle: str = "") -> str:
    sub = f'<p class="sub">{subtitle}</p>' if subtitle else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{sub}{body}</section>'


CSS = """
:root { --ink:#1d2733; --muted:#667382; --line:#e3e7ec; --bg:#f3f5f8; --head:#243447; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background:var(--head); color:#fff; padding:18px 28px 14px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header p { margin:4px 0 0; color:#c5d0dc; font-size:13px; }
nav { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
  padding:8px 28px; font-size:13px; }
nav a { color:var(--head); text-decoration:none; margin-right:16px; white-space:nowrap; }
nav a:hover { text-decoration:underline; }
main { max-width:1180px; margin:0 auto; padding:8px 20px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 22px 18px;
  margin:18px 0; }
h2 { margin:0 0 2px; font-size:18px; }
h3 { margin:18px 0 6px; font-size:15px; }
p.sub { margin:0 0 12px; color:var(--muted); font-size:13px; }
p.caption { color:var(--muted); font-size:12.5px; margin:6px 0 0; }
p.empty { color:var(--muted); font-style:italic; margin:8px 0; }
img { max-width:100%; height:auto; display:block; margin:6px 0; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(200px, 1fr)); gap:12px; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 14px; background:#fbfcfd; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:22px; font-weight:600; margin:2px 0; }
.card .detail { font-size:12.5px; color:var(--muted); }
.attention { border-left:4px solid #d9822b; background:#fff8ef; padding:8px 14px; margin:14px 0 0;
  border-radius:4px; }
.attention.calm { border-left-color:#2e9e48; background:#f2faf4; }
.attention ul { margin:4px 0; padding-left:20px; }
.problems { border-left:4px solid #d62728; background:#fdf1f1; padding:8px 14px; border-radius:4px; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:6px 0; }
th { text-align:left; background:#f1f4f7; color:#3b4754; font-weight:600; padding:6px 8px;
  border-bottom:1px solid var(--line); white-space:nowrap; }
td { padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.bad td { background:#fdf1f1; }
tr.good td { background:#f2faf4; }
.badge { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; line-height:19px;
  font-weight:600; white-space:nowrap; }
.badge.ok { background:#e3f4e7; color:#1e6e34; }
.badge.bad { background:#fbe2e2; color:#a11d1d; }
.badge.warn { background:#fdeed9; color:#8a4b06; }
.badge.info { background:#e1ecf9; color:#1d4f8c; }
.badge.muted { background:#eceff2; color:#4f5b67; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
.pos { color:#1e6e34; font-weight:600; }
.neg { color:#a11d1d; font-weight:600; }
.small { font-size:12px; color:var(--muted); }
.nw { white-space:nowrap; }
details { margin:8px 0; border:1px solid var(--line); border-radius:6px; padding:6px 12px; }
details summary { cursor:pointer; }
pre { background:#f7f8fa; padding:10px; overflow-x:auto; font-size:12px; line-height:1.4; }
code { background:#f1f4f7; padding:0 4px; border-radius:3px; font-size:12.5px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px 0 30px; }
a { color:#1d5fae; }
"""


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], sections: Sequence[str], footer: str) -> str:
    """The whole document: no script, no external resource."""
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        # Nothing may load from elsewhere: the page must work offline, from file://.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        f"<nav>{links}</nav><main>\n" + "\n".join(sections) +
        f"\n</main><footer>{footer}</footer></body></html>\n"
    )
