"""How many threads a prediction gets: one for a small call, ``compute.n_jobs`` for a large batch.

HistGradientBoosting opens one OpenMP parallel region per tree for every call.
On a few thousand rows (the smoke test's golden sample, the comparison's
hold-out, monitoring's counterfactual re-scoring) each region is shorter than
waking a second thread, and on a busy server that thread waits for a core
another process holds while the first one waits for it: the call costs more
CPU and more wall time than on one thread, for the same numbers (a tree model
scores each row on its own, so the thread count never changes a score).

Large batches (a scoring chunk) keep the process's own limit, which
:func:`lowops.context.cap_threads` sets from ``compute.n_jobs``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

# Below this many rows a call runs on one thread. A scoring chunk
# (``compute.chunk_rows``, 100,000 by default) is above it; what the gates,
# the comparison and monitoring score is below it.
SMALL_ROWS = 50_000


@contextlib.contextmanager
def for_rows(rows: int) -> Iterator[None]:
    """OpenMP and BLAS at one thread while a call of ``rows`` rows runs, if it is small (else unchanged)."""
    if rows >= SMALL_ROWS:
        yield
        return
    with _controller().limit(limits=1):
        yield


@functools.cache
def _controller() -> Any:
    """The thread pools loaded in this process, found once.

    Scanning the loaded libraries costs milliseconds, setting a limit a fraction of one. The
    first call comes from a prediction, after the model was loaded, so its OpenMP runtime is
    already among them.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
