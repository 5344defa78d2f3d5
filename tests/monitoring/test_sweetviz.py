"""The Sweetviz compare report: written, quiet, and leaving matplotlib as it found it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lowops.monitoring.sweetviz import compare_report, sample


def _frame(seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, 300), "plan": rng.choice(["basic", "premium"], 300),
                         "churned": rng.integers(0, 2, 300)})


def test_report_is_quiet_and_restores_matplotlib(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams)
    path = tmp_path / "monitoring" / "2025-09" / "sweetviz_compare.html"
    compare_report(_frame(0, 0.0), _frame(1, 0.5), path, target="churned", window="2025-09")
    assert path.read_bytes().lstrip()[:15].lower().startswith(b"<!doctype html") or b"<html" in path.read_bytes()[:500]
    assert not list(path.parent.glob(".tmp-*"))
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no progress bars, no "Report ... was generated"
    assert dict(matplotlib.rcParams) == before
    with caplog.at_level(logging.DEBUG, logger="matplotlib.font_manager"):
        fig, ax = plt.subplots()
        ax.set_title("a later plot")
        fig.savefig(tmp_path / "later.png")
        plt.close(fig)
    assert not [r for r in caplog.records if "findfont: Failed" in r.getMessage()]
    again = compare_report(_frame(2, 0.0), _frame(3, 0.0), path, target=None, window="2025-10")
    assert again == path  # a second check of a window replaces its report


def test_sample_caps_rows() -> None:
    frame = pd.DataFrame({"a": range(1000)})
    assert len(sample(frame, 100, seed=0)) == 100 and sample(frame, 5000, seed=0) is frame


def test_font_list_stays_the_same_across_reports(tmp_path: Path) -> None:
    """Sweetviz re-registers its fonts at every graph; 30 reports in one process leave the list as one does.

    Each report is of one text column of ten rows: Sweetviz still draws its summary graphs (and, unguarded,
    adds some thirty font entries per report), and a report costs a tenth of one with a number column.
    """
    from matplotlib import font_manager

    small = [pd.DataFrame({"word": [f"{side}{k}" for k in range(10)]}) for side in ("a", "b")]
    compare_report(small[0], small[1], tmp_path / "w00" / "sweetviz_compare.html", target=None, window="w00")
    after_one = len(font_manager.fontManager.ttflist)
    for k in range(1, 30):
        compare_report(small[0], small[1], tmp_path / f"w{k:02d}" / "sweetviz_compare.html", target=None,
                       window=f"w{k:02d}")
    assert len(font_manager.fontManager.ttflist) == after_one
    assert len(list(tmp_path.glob("w*/sweetviz_compare.html"))) == 30
