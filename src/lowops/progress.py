"""What a person at a terminal sees while the loop works: window n of N, the stage, the rows.

The default shows nothing: under cron, in a pipe or with ``--json`` the output is only
what the command prints when it is done. On a terminal the CLI hands the commands a
:class:`TerminalProgress`, a tqdm bar on standard error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any


class Progress:
    """Nothing shown (the default)."""

    def windows(self, labels: Sequence[str]) -> None:
        """The windows this command will run, in order."""

    def window(self, label: str) -> None:
        """Work on ``label`` begins."""

    def stage(self, name: str, rows: int | None = None) -> None:
        """Stage ``name`` begins (``rows`` None) or has ended having handled ``rows`` rows."""

    def close(self) -> None:
        """The command is done."""


class TerminalProgress(Progress):
    """A tqdm bar on standard error, one step per window."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._labels: list[str] = []
        self._label = ""
        self._done = 0

    def windows(self, labels: Sequence[str]) -> None:
        from tqdm import tqdm

        self.close()
        self._labels, self._done = list(labels), 0
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except OSError:
            width = 0
        # A terminal that reports no width (a pty nobody sized) would get an empty bar.
        sizing: dict[str, Any] = {"dynamic_ncols": True} if width else {"ncols": 100, "nrows": 24}
        self._bar = tqdm(total=len(self._labels), file=sys.stderr, leave=False, **sizing,
                         bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} done [{elapsed}<{remaining}]{postfix}")

    def window(self, label: str) -> None:
        if self._bar is None:
            self.windows([label])
        if self._label and self._label != label:
            self._done += 1
            self._bar.update(1)
        self._label = label
        self._describe("starting")

    def stage(self, name: str, rows: int | None = None) -> None:
        if self._bar is None:
            return
        if rows is None:
            self._describe(name)
        else:
            self._bar.set_postfix_str(f"{name}: {rows:,} rows", refresh=True)

    def _describe(self, stage: str) -> None:
        at = self._labels.index(self._label) + 1 if self._label in self._labels else self._done + 1
        self._bar.set_description_str(f"window {at} of {len(self._labels)} ({self._label}): {stage}", refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._label = ""


def for_terminal(as_json: bool) -> Progress:
    """A bar when standard error is a terminal and the output is for a person; else nothing."""
    if as_json or os.environ.get("TERM") == "dumb" or os.environ.get("LOWOPS_PROGRESS") == "0":
        return Progress()
    return TerminalProgress() if sys.stderr.isatty() else Progress()
