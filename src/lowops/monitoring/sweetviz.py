"""The Sweetviz compare report: reference vs window, headless and quiet under cron.

Sweetviz draws progress bars on stderr, prints to stdout, and matplotlib logs
a font warning per glyph style it cannot find; in a cron log that is noise
around every run. The report is built with both streams captured, the font
logger raised to ERROR, warnings off, matplotlib on its Agg backend and its
global style restored afterwards, so nothing reaches the terminal, no later
plot inherits Sweetviz's fonts, and no browser is ever opened.

Sweetviz registers its bundled fonts again at every graph it draws; matplotlib's
font list then grows by a dozen entries per graph, and every uncached font
lookup walks it, so each report of a long backfill would be slower than the
last. While a report is built, a font file already registered is not added again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lowops.io.files import make_dir, write_bytes
from lowops.io.layout import SWEETVIZ_FILE

if TYPE_CHECKING:
    import pandas as pd

_NOISY_LOGGERS = ("matplotlib", "matplotlib.font_manager", "sweetviz")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence stdout, stderr, warnings and the noisy loggers for the duration."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    sink = io.StringIO()
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def fonts_once() -> Iterator[None]:
    """Register each font file at most once with matplotlib's font manager, for the duration."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    add = manager.addfont
    known = {str(entry.fname) for entry in manager.ttflist}

    def addfont(path: str | os.PathLike[str]) -> None:
        name = str(path)
        if name not in known:
            known.add(name)
            add(path)

    manager.addfont = addfont  # type: ignore[method-assign]
    try:
        yield
    finally:
        manager.addfont = add  # type: ignore[method-assign]


def sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows of ``frame`` (a seeded random sample above that)."""
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True) if len(frame) > rows else frame


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain object columns for text (Sweetviz predates pandas' string dtypes)."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column].dtype) and not pd.api.types.is_bool_dtype(out[column].dtype):
            values = out[column].astype(object)
            out[column] = values.where(values.notna(), None)
    return out


def compare_report(reference: pd.DataFrame, current: pd.DataFrame, path: Path, *, target: str | None,
                   window: str) -> Path:
    """Write the Sweetviz compare report of ``current`` against ``reference`` to ``path``.

    Args:
        reference: the reference rows (already sampled).
        current: the window's rows (already sampled).
        path: the HTML file to write (replaced atomically if it exists).
        target: a 0/1 or numeric column present in both frames, or None; rows where it is
            missing are left out of the report (Sweetviz needs it on every row).
        window: the window label, the report's name for the current side.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless under cron: never a display
    columns = [c for c in reference.columns if c in current.columns]
    if target is not None and (target not in reference.columns or target not in current.columns):
        target = None
    if target is not None:
        # Sweetviz refuses a target with missing values (a regression window whose entities left, labels
        # not all in yet): each side then shows its labelled rows; with a side unlabelled, every row, no target.
        labelled_ref, labelled_cur = reference[reference[target].notna()], current[current[target].notna()]
        if labelled_ref.empty or labelled_cur.empty:
            target = None
        else:
            reference, current = labelled_ref, labelled_cur
    ref, cur = _prepare(reference[columns]), _prepare(current[columns])
    make_dir(path.parent)
    # rc_context: Sweetviz restyles matplotlib globally (Roboto fonts); later plots in the
    # same process (a retrained model's ROC curve) must not inherit that, nor its warnings.
    # The scratch directory is outside the repository: a build killed half-way leaves nothing in it.
    with quiet(), fonts_once(), matplotlib.rc_context(), \
            tempfile.TemporaryDirectory(prefix="lowops-sweetviz-") as scratch:
        import sweetviz

        report = sweetviz.compare([ref, "reference"], [cur, window], target_feat=target)
        scratch_file = Path(scratch) / SWEETVIZ_FILE
        report.show_html(filepath=str(scratch_file), open_browser=False, layout="vertical", scale=None)
        data = scratch_file.read_bytes()
    write_bytes(path, data, overwrite=True)
    return path
