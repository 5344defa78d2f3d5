"""``lowops report``: the static dashboard, on a small demo run with monitoring, shadow slots and a switch.

The session's project runs 2025-07 … 2025-10 with drift monitoring on (Sweetviz
off for speed) and ``deploy.mode: shadow``: the shift from 2025-08 retrains challengers
into the idle slot; at 2025-09 the green slot's KPIs prove v0002, at 2025-10 the blue
slot's prove v0003, and each goes live. So the page has KPIs per
version, the no-retraining path, drift, impact, decisions, slots and an audit
trail to show. Edge cases (nothing run, one unlabelled window, no monitoring,
damaged files) run on copies or on the shared demo template.
"""

from __future__ import annotations

import base64
import io
from html import escape as html_escape
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import PATIENCE, ROOT, copy_project, home_with_keys, invoke, make_project, set_config
from ct_support import base_project

SECTIONS = ("summary", "timeline", "kpi", "paths", "drift", "impact", "decisions", "versions", "slots",
            "sweetviz", "runs")
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
URL_ATTR = re.compile(r'\b(?:src|href)\s*=\s*"([^"]*)"', re.IGNORECASE)


# A linear model without CV trains in a fraction of a second; monitoring stays on, Sweetviz off.
# Latency gates off: on a busy machine timing noise would decide which version wins, not the data.
QUICK = {
    "model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}}},
    "train": {"cv_folds": 0},
    "compare": {"bootstrap": 200, "cooldown_windows": 0, "resource_margin": 100, "latency_slack_ms": 100000},
    "smoke": {"max_ms_per_1000_rows": 100000},
    "drift": {"enabled": True, "sweetviz": {"enabled": False}},
    "deploy": {"mode": "shadow"},
    "notify": {"retries": 1, "backoff_seconds": 0.0},
}


@pytest.fixture(scope="session")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2,000-customer demo project run over 2025-07 … 2025-10 (shadow), with its report written."""
    project = make_project(tmp_path_factory.mktemp("report") / "churn", QUICK, customers=2000)
    result = invoke(project, "backfill", "--from", "2025-07", "--to", "2025-10")
    assert result.exit_code == 0, result.output
    result = invoke(project, "report", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return project


def page(project: Path) -> str:
    return (project / "repo" / "reports" / "index.html").read_text(encoding="utf-8")


def section_html(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.DOTALL)
    assert match, f"no section {anchor}"
    return match.group(1)


def pngs(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in DATA_URI.findall(html)]


def test_every_section_is_there_with_data(reported: Path) -> None:
    html = page(reported)
    assert html.startswith("<!DOCTYPE html>")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html and f'href="#{anchor}"' in html
    for anchor in ("timeline", "kpi", "paths", "drift", "impact", "versions", "slots", "runs"):
        assert 'class="empty"' not in section_html(html, anchor), anchor
    versions = section_html(html, "versions")
    for version in ("v0001", "v0002", "v0003", "v0004"):
        assert version in versions
    assert "live (blue)" in versions and "2025-07, 2025-08, 2025-09" in versions  # v0003's training windows
    decisions = section_html(html, "decisions")
    assert "decision.txt" in decisions and "winner v0003" in decisions
    assert "hash chain intact (2 records)" in decisions and "v0001 → v0002" in decisions and "v0002 → v0003" in decisions
    assert "Nothing waits for approval" in decisions
    slots = section_html(html, "slots")
    assert "<img" in slots and re.search(r"<td>2025-10</td><td>v0003</td>.*<td>v0002</td>", slots)
    timeline = section_html(html, "timeline")
    assert timeline.index("2025-10") < timeline.index("2025-07")  # newest first
    assert "slots: v0003 promoted" in timeline


def test_images_are_embedded_pngs_and_nothing_loads_from_elsewhere(reported: Path) -> None:
    from PIL import Image

    html = page(reported)
    images = pngs(html)
    assert len(images) == 5  # kpi, paths, drift, impact, slots
    for data in images:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.format == "PNG" and image.width > 300 and image.height > 150
            assert len(image.getcolors(maxcolors=1 << 16) or range(2)) > 1  # not one flat colour
    for url in URL_ATTR.findall(html):
        assert url.startswith(("#", "data:image/png;base64,")), url
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_the_same_repository_draws_the_same_charts(reported: Path, tmp_path: Path) -> None:
    first = pngs(page(reported))
    result = invoke(reported, "report", "--output", str(tmp_path / "again.html"), catch_exceptions=False)
    assert result.exit_code == 0
    assert pngs((tmp_path / "again.html").read_text(encoding="utf-8")) == first


def test_json_says_what_was_written_and_the_repository_is_untouched(reported: Path, tmp_path: Path) -> None:
    project = copy_project(reported, tmp_path / "churn")
    repo = project / "repo"
    before = {p: p.stat().st_mtime_ns for p in repo.rglob("*") if p.is_file() and "reports" not in p.parts}
    result = invoke(project, "report", "--json", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["report"] == str(repo / "reports" / "index.html")
    assert data["bytes"] == (repo / "reports" / "index.html").stat().st_size
    assert data["windows"] == ["2025-07", "2025-08", "2025-09", "2025-10"]
    assert data["live"] == "v0003" and data["latest_window"] == "2025-10" and data["problems"] == []
    assert set(data["images"]) == {"kpi", "paths", "drift", "impact", "slots"}
    assert data["sections"]["sweetviz"] == "no data yet"
    assert {k for k, v in data["sections"].items() if v == "ok"} == set(SECTIONS) - {"sweetviz"}
    after = {p: p.stat().st_mtime_ns for p in repo.rglob("*") if p.is_file() and "reports" not in p.parts}
    assert after == before  # read-only, apart from its own page
    assert [p.name for p in (repo / "reports").iterdir()] == ["index.html"]  # no temp file left


def test_plain_output_and_a_page_elsewhere_links_sweetviz_relatively(reported: Path, tmp_path: Path) -> None:
    project = copy_project(reported, tmp_path / "churn")
    shutil.rmtree(project / "repo" / "reports")
    sweetviz = project / "repo" / "monitoring" / "2025-09" / "sweetviz_compare.html"
    sweetviz.write_text("<html><body>sweetviz</body></html>", encoding="utf-8")
    target = tmp_path / "site" / "churn.html"
    result = invoke(project, "report", "-o", str(target), catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"wrote {target} (") and "5 charts, 4 windows" in result.stdout
    html = target.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"#]+)">2025-09</a>', html)
    assert links == ["../churn/repo/monitoring/2025-09/sweetviz_compare.html"]
    assert (target.parent / links[0]).resolve() == sweetviz.resolve()
    assert not (project / "repo" / "reports").exists()


def test_after_the_switch_the_retrained_path_is_better(reported: Path, tmp_path: Path) -> None:
    project = copy_project(reported, tmp_path / "churn")
    result = invoke(project, "run", "--window", "2025-11")
    assert result.exit_code == 0, result.output
    assert invoke(project, "report", catch_exceptions=False).exit_code == 0
    paths = section_html(page(project), "paths")
    assert "the retrained path is <b>better</b>" in paths and "the 2 windows 2025-10 … 2025-11" in paths
    assert re.search(r"<td>2025-11</td><td>v0003</td>.*?<span class=\"pos\">\+0\.\d{4}</span>", paths)


def _summary_items(html: str) -> tuple[list[str], list[str]]:
    """The summary's "needs attention" items and its "handled" notes, as their HTML."""
    summary = section_html(html, "summary")
    attention = summary[summary.index('<div class="attention'):]
    head, _, handled = attention.partition("Handled:")
    return re.findall(r"<li>(.*?)</li>", head), re.findall(r"<li>(.*?)</li>", handled)


def test_what_a_switch_answered_is_handled_not_flagged(reported: Path) -> None:
    html = page(reported)
    assert '<div class="attention calm">Nothing needs attention.' in html
    state = json.loads((reported / "repo" / "deploy" / "churn.json").read_text())
    switch = state["history"][-1]
    verdicts = {w: json.loads((reported / "repo" / "monitoring" / w / "verdict.json").read_text())
                for w in ("2025-07", "2025-08", "2025-09", "2025-10")}
    matters = [w for w, v in verdicts.items() if v["drift_that_matters"]]
    drifting = [w for w, v in verdicts.items() if v["model_drift"]]
    assert switch["to"] == "v0003" and switch["window"] == "2025-10"
    assert (matters, drifting) == (["2025-08", "2025-09", "2025-10"], ["2025-08", "2025-09"])
    _, handled = _summary_items(html)
    # Each finding is answered by the first switch at or after its window: v0002 at 2025-09, v0003 at 2025-10
    # (2025-10's own retrain kept v0003, which its slot KPIs had just made live).
    assert handled == ["drift that matters at 2025-08, 2025-09; model drift at 2025-08, 2025-09: "
                       "since then v0002 went live (shadow at 2025-09)",
                       "drift that matters at 2025-10; a blocked retrain at 2025-10: "
                       "since then v0003 went live (shadow at 2025-10)"]


def test_unresolved_drift_blocked_retrains_and_model_drift_need_attention(tmp_path_factory: pytest.TempPathFactory,
                                                                         tmp_path: Path) -> None:
    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    # No challenger can beat the incumbent by a whole point of AUC: every retrain keeps v0001.
    # The fixed tolerance, and a lower impact threshold: on 2,000 customers the KPI's noise would hide
    # 2025-08's drop from the benchmark, and the linear model leans little on monthly_charge.
    set_config(project, {"drift": {"sweetviz": {"enabled": False}, "impact": {"threshold": 0.004},
                                   "model_drift": {"noise_sigmas": None, "absolute_tolerance": 0.02}},
                         "compare": {"min_improvement": 1.0}})
    assert invoke(project, "backfill", "--from", "2025-08", "--to", "2025-09").exit_code == 0
    assert invoke(project, "report", catch_exceptions=False).exit_code == 0
    repo = project / "repo"
    verdicts = {w: json.loads((repo / "monitoring" / w / "verdict.json").read_text()) for w in ("2025-08", "2025-09")}
    assert all(v["drift_that_matters"] and v["model_drift"] and v["version"] == "v0001" for v in verdicts.values())
    last = verdicts["2025-09"]
    items, handled = _summary_items(page(project))
    assert "Nothing needs attention" not in page(project) and handled == []
    assert items == [
        f"drift that matters not followed by a switch in 2 windows (2025-08, 2025-09); latest, 2025-09 (v0001): "
        f"{html_escape(last['evidence'][0])}",
        f"model drift not answered by a switch in 2 windows (2025-08, 2025-09); latest, 2025-09 (v0001): "
        f"{html_escape(last['evidence'][-1])}",
        "retrain blocked at 2025-08: keep v0001 (<code>monitoring/2025-08/decision.txt</code>)",
        "retrain blocked at 2025-09: keep v0001 (<code>monitoring/2025-09/decision.txt</code>)"]

    # A switch by hand (dated by the last window run, 2025-09) answers all of it.
    assert invoke(project, "promote", "v0003", "--by", "ana", "--reason", "KPI dropped after the price rise").exit_code == 0
    assert invoke(project, "report", catch_exceptions=False).exit_code == 0
    items, handled = _summary_items(page(project))
    assert items == [] and '<div class="attention calm">Nothing needs attention.' in page(project)
    action = json.loads((repo / "deploy" / "churn.json").read_text())["history"][-1]["action"]
    assert handled == ["drift that matters at 2025-08, 2025-09; model drift at 2025-08, 2025-09; a blocked retrain "
                       f"at 2025-08, 2025-09: since then v0003 went live ({action} at 2025-09)"]


def test_nothing_run_yet(project: Path) -> None:
    result = invoke(project, "report", "--json", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["windows"] == [] and data["images"] == {} and data["live"] is None
    assert set(data["sections"]) == set(SECTIONS)
    assert {k for k, v in data["sections"].items() if v == "ok"} == {"summary"}
    html = page(project)
    for anchor in SECTIONS[1:]:
        assert "No data yet" in section_html(html, anchor) or "Nothing waits" in section_html(html, anchor)
    assert "nothing trained yet" in html


def test_one_window_without_labels(demo_template: Path, tmp_path: Path) -> None:
    from lowops.windows import last_complete, parse_window, window_range

    project = copy_project(demo_template, tmp_path / "churn")
    # Labels are due up to 2025-06 today, so v0001 trains, and 2025-07 waits for its labels.
    delay = len(window_range(parse_window("2025-06"), last_complete("monthly"))) - 1
    set_config(project, {**QUICK, "deploy": {"mode": "single"}, "windows": {"label_delay": delay}})
    result = invoke(project, "backfill", "--from", "2025-07", "--to", "2025-07")
    assert result.exit_code == 0, result.output
    result = invoke(project, "report", "--json", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["windows"] == ["2025-07"] and set(data["images"]) == {"kpi", "drift", "impact"}
    html = page(project)
    assert "est.</span>" in section_html(html, "timeline")  # the CBPE estimate stands in for the KPI
    assert "No data yet" in section_html(html, "paths")
    assert "No data yet" in section_html(html, "slots") and "deploy.mode is single" in html


def test_no_monitoring_and_damaged_files(reported: Path, tmp_path: Path) -> None:
    project = copy_project(reported, tmp_path / "churn")
    repo = project / "repo"
    shutil.rmtree(repo / "monitoring" / "2025-07")
    (repo / "monitoring" / "2025-08" / "verdict.json").write_text("{not json", encoding="utf-8")
    (repo / "monitoring" / "2025-09" / "data_drift.csv").write_bytes(b"\xff\xfe garbage")
    with open(repo / "logs" / "metrics.log", "a", encoding="utf-8") as handle:
        handle.write("a line that is not eight fields\n")
    result = invoke(project, "report", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "warning: left out" in result.stderr and "verdict.json" in result.stderr
    html = page(project)
    assert "Some files could not be read" in html and "data_drift.csv" in html
    assert section_html(html, "drift").count("<img") == 1  # the other windows still draw

    shutil.rmtree(repo / "monitoring")
    result = invoke(project, "report", "--json", catch_exceptions=False)
    data = json.loads(result.stdout)
    assert data["sections"]["drift"] == data["sections"]["impact"] == "no data yet"
    assert data["sections"]["kpi"] == "ok" and "drift" not in data["images"]


def test_secrets_never_reach_the_page(reported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = copy_project(reported, tmp_path / "churn")
    # The password is known from the config (the report never connects), and also appears in a URL.
    monkeypatch.setenv("LOWOPS_DB_URL", "postgresql+psycopg://lowops:hunter2pw@db.internal/dwh")
    ledger = project / "repo" / "runs" / "r000004.json"
    record = json.loads(ledger.read_text())
    record.update(status="failed", message="database refused hunter2pw via "
                  "mysql+pymysql://etl:Pa55w0rd!@10.0.0.9/shop")
    ledger.write_text(json.dumps(record))
    result = invoke(project, "report", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = page(project)
    assert "hunter2pw" not in html and "Pa55w0rd" not in html
    assert "database refused *** via mysql+pymysql://etl:***@10.0.0.9/shop" in html
    assert "Needs attention" in section_html(html, "summary")  # a failed last run is flagged


def test_a_secret_that_happens_to_occur_in_image_data_breaks_no_image(
        reported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    secret = "NSUhEUgAA"  # part of every PNG's header, in base64
    monkeypatch.setenv("LOWOPS_DB_URL", f"postgresql+psycopg://lowops:{secret}@db.internal/dwh")
    target = tmp_path / "page.html"
    assert invoke(reported, "report", "-o", str(target), catch_exceptions=False).exit_code == 0
    html = target.read_text(encoding="utf-8")
    assert secret not in DATA_URI.sub("", html)
    images = pngs(html)
    assert len(images) == 5 and all(secret in base64.b64encode(data).decode() for data in images)
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            image.load()


def test_the_daily_pipeline_refreshes_the_report() -> None:
    daily = (ROOT / "pipelines" / "daily.sh").read_text(encoding="utf-8")
    lines = [line.strip() for line in daily.splitlines()]
    assert lines.index("lowops report") == lines.index('lowops run "$@"') + 1


def test_quiet_under_cron(reported: Path, lowops_bin: Path, tmp_path: Path) -> None:
    """An empty environment and a fresh HOME (matplotlib builds its font cache): nothing on stderr."""
    import subprocess

    home = home_with_keys(tmp_path / "home")  # the runner's home holds the project's key
    target = tmp_path / "page.html"
    done = subprocess.run(["/usr/bin/env", "-i", f"HOME={home}", str(lowops_bin), "-C", str(reported), "report",
                           "--output", str(target)], capture_output=True, text=True, timeout=PATIENCE)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.startswith(f"wrote {target} (") and target.is_file()


# --------------------------------------------------------------------------- headless Chromium


class Chromium:
    """Headless Chromium driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``).

    Chromium reads commands on fd 3 and writes replies and events on fd 4, each a
    JSON message ended by a NUL byte: no port, no websocket library, nothing on the network.
    """

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", "--window-size=1280,900")

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        import os
        import subprocess

        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def on_fds_3_and_4() -> None:  # in the child, before exec
            import fcntl

            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, replies_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._log = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen([binary, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                        preexec_fn=on_fds_3_and_4, pass_fds=(3, 4))
        os.close(commands_read)
        os.close(replies_write)
        self._buffer, self._id, self.events = b"", 0, []  # type: ignore[var-annotated]

    def send(self, method: str, params: dict | None = None, session: str | None = None,  # type: ignore[type-arg]
             timeout: float = PATIENCE) -> dict:  # type: ignore[type-arg]
        import os
        import time

        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]  # type: ignore[no-any-return]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = PATIENCE) -> dict:  # type: ignore[type-arg]
        import time

        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._next(deadline))
        return next(e for e in self.events if e.get("method") == method)

    def _next(self, deadline: float) -> dict:  # type: ignore[type-arg]
        import os
        import select
        import time

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            assert left > 0, "Chromium did not answer in time"
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                assert chunk, "Chromium closed its DevTools pipe"
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)  # type: ignore[no-any-return]

    def close(self) -> None:
        import os
        import subprocess

        try:
            self.send("Browser.close", timeout=10)
        except (AssertionError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)
        self._log.close()


@pytest.fixture(scope="session")  # session: set up (or skipped) before the session's project is built
def chromium(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    folder = tmp_path_factory.mktemp("chromium")
    browser = Chromium(binary, folder / "profile", folder / "chromium.log")
    yield browser
    browser.close()


def open_page(browser: Chromium, path: Path) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    """Load ``path`` from file:// in a fresh tab; its images, requests, console problems and a screenshot."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.events.clear()
    browser.send("Page.navigate", {"url": path.as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired")
    script = ("JSON.stringify({images: Array.from(document.images).map(i => [i.complete, i.naturalWidth]),"
              " sections: document.querySelectorAll('section').length, title: document.title})")
    found = json.loads(browser.send("Runtime.evaluate", {"expression": script, "returnByValue": True},
                                    session=session)["result"]["value"])
    found["screenshot"] = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"},
                                                        session=session)["data"])
    events = [e for e in browser.events if e.get("sessionId") == session]
    browser.send("Target.closeTarget", {"targetId": target})
    return found, events


def problems_in(events: list[dict]) -> list[str]:  # type: ignore[type-arg]
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:")):
                out.append(f"network request: {url}")
    return out


def test_the_page_in_headless_chromium(chromium: Chromium, reported: Path, project: Path, tmp_path: Path) -> None:
    from PIL import Image

    assert invoke(project, "report", catch_exceptions=False).exit_code == 0  # nothing run yet
    for path, images in ((reported / "repo" / "reports" / "index.html", 5),
                         (project / "repo" / "reports" / "index.html", 0)):
        found, events = open_page(chromium, path)
        assert found["title"] == "lowops — churn-demo" and found["sections"] == len(SECTIONS)
        assert len(found["images"]) == images
        assert all(complete and width > 0 for complete, width in found["images"]), found["images"]
        assert problems_in(events) == []
        shot = found["screenshot"]
        (tmp_path / f"{path.parts[-4]}.png").write_bytes(shot)  # kept for a person to look at on failure
        with Image.open(io.BytesIO(shot)) as image:
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
            assert image.size[0] >= 1000 and len(colours) > 50  # text, cards, charts: far from one flat colour
