"""The progress display: on a terminal, window n of N, the stage and the rows; nothing under cron or --json.

The installed script runs in a subprocess on a real pseudo-terminal (or on pipes, as under cron).
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
from conftest import PATIENCE, copy_project
from ct_support import base_project


def _on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on one pseudo-terminal; its exit code and all it wrote."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "LOWOPS_PROGRESS"} | {"TERM": "xterm"}
    proc = subprocess.Popen(argv, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, env=env,
                            close_fds=True)
    os.close(follower)
    out = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return proc.wait(timeout=PATIENCE), out.decode("utf-8", errors="replace").replace("\r", "\n")


@pytest.fixture()
def project(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(base_project(tmp_path_factory), tmp_path / "project")


def test_a_backfill_on_a_terminal_shows_window_stage_and_rows(project: Path, lowops_bin: Path) -> None:
    code, shown = _on_a_terminal([str(lowops_bin), "backfill", "--from", "2025-02", "--to", "2025-03"], project)
    assert code == 0, shown
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    for window, n in (("2025-02", 1), ("2025-03", 2)):
        for stage in ("extract", "score", "evaluate", "monitor", "decide"):
            assert any(line.startswith(f"window {n} of 2 ({window}): {stage} |") for line in lines), (window, stage)
    assert any("score: 2,000 rows" in line for line in lines)
    # What the command prints when done is there as without the bar.
    assert any(line.startswith("2025-03: scored 2000 rows with v0001") for line in lines)


def test_nothing_extra_under_cron_or_with_json(project: Path, lowops_bin: Path) -> None:
    piped = subprocess.run([str(lowops_bin), "run", "--window", "2025-02"], cwd=project, capture_output=True,
                           text=True, timeout=PATIENCE)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    assert piped.stdout.startswith("2025-02: scored 2000 rows with v0001")
    code, shown = _on_a_terminal([str(lowops_bin), "run", "--window", "2025-03", "--json"], project)
    assert code == 0, shown
    assert "window 1 of 1" not in shown and "|" not in shown
    assert '"window": "2025-03"' in shown
