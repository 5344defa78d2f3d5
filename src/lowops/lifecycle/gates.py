"""What the resource gates measure, in one place for the smoke test and the comparison.

A gate must answer the same for the same model and data on a quiet and on a busy server.
Wall-clock time and the resident set do not: on a busy server a process waits for a core,
OpenMP threads wait for one another while other processes hold the cores (the smoke test
once timed a model at 12.6 s per 1,000 rows that takes milliseconds), and the resident set
grows with whatever the process did before. So:

- **latency** is CPU time, ``time.process_time`` (every thread of this process, so work a
  model hands to joblib threads counts too, and time spent waiting for a core does not),
  while threadpoolctl limits OpenMP and BLAS to one thread (no thread spins at a barrier
  waiting for a core another process holds), taken as the best of several rounds, the
  calls in turn (what cache and frequency noise remain slows a round, not the best one);
- **memory** is the peak of bytes allocated while loading and scoring, as ``tracemalloc``
  counts them (Python objects and numpy's arrays): a count of what the code asked for, not
  of what the machine happened to leave resident.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

ROUNDS = 5


def cpu_seconds(calls: Mapping[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    """Each call's least CPU time over ``rounds`` rounds that take the calls in turn, on one thread."""
    from threadpoolctl import threadpool_limits

    best = dict.fromkeys(calls, float("inf"))
    with threadpool_limits(limits=1):
        for _ in range(rounds):
            for name, call in calls.items():
                started = time.process_time()
                call()
                best[name] = min(best[name], time.process_time() - started)
    return best


def ms_per_1000(seconds: float, rows: int) -> float:
    """Milliseconds per 1,000 rows of ``seconds`` spent on ``rows`` rows."""
    return seconds * 1000 / max(rows, 1) * 1000


class Allocations:
    """The bytes allocated under :func:`allocations` so far."""

    @property
    def peak(self) -> int:
        """The most bytes allocated at once since tracing began."""
        return tracemalloc.get_traced_memory()[1]


@contextmanager
def allocations() -> Iterator[Allocations]:
    """Count allocated bytes for the duration (already tracing: the peak starts again from here)."""
    outer = tracemalloc.is_tracing()
    if outer:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        yield Allocations()
    finally:
        if not outer:
            tracemalloc.stop()
