"""Where the heavy loops run: in this process (``local``) or on a Dask cluster (``dask``).

Scoring over partitions, the per-feature drift statistics and hyper-parameter
search call an :class:`Engine`, so the stages never know which one runs them.
Both engines call the very same functions on the very same inputs, in the same
order, so their results are equal: the Dask engine only decides in which
process a function runs. Partitions travel to the workers and results come
back to this process, which alone writes files: workers need lowops and the
same library versions installed, never access to the repository.

``compute.engine: dask`` with ``compute.dask.address`` connects to an existing
scheduler; without an address a ``distributed.LocalCluster`` of
``compute.dask.n_workers`` worker processes is started on this server for the
command and closed after it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lowops.errors import ClusterError, ConfigError

if TYPE_CHECKING:
    from lowops.config_schema import ComputeConfig

P = TypeVar("P")
R = TypeVar("R")


class Engine:
    """The local engine: everything in this process (threads where the stage asks for them)."""

    name = "local"
    distributed = False

    def map_partitions(self, fn: Callable[..., R], partitions: Iterator[P], *shared: Any) -> Generator[tuple[P, R]]:
        """``fn(partition, *shared)`` for each partition, yielded in order with the partition.

        Partition k+1 is read in a thread while ``fn`` runs on partition k (reading
        Parquet releases the GIL), so memory holds two partitions at most.
        """
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(next, partitions, None)
            while (partition := pending.result()) is not None:
                pending = reader.submit(next, partitions, None)
                yield partition, fn(partition, *shared)

    def map(self, fn: Callable[..., R], calls: Sequence[tuple[Any, ...]]) -> list[R]:
        """``fn(*args)`` for each ``args`` of ``calls``, results in the same order."""
        return [fn(*args) for args in calls]

    def search_backend(self) -> contextlib.AbstractContextManager[Any]:
        """The joblib backend hyper-parameter search runs under (local: joblib's default)."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Release what the engine holds (nothing, locally)."""

    def describe(self) -> str:
        return "local"


class DaskEngine(Engine):
    """Functions run as tasks on a Dask cluster; this process reads inputs and writes outputs."""

    name = "dask"
    distributed = True

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client = client
        self.cluster = cluster  # a LocalCluster this engine started (and closes)
        threads = sum(client.nthreads().values()) or 1
        # Partitions in flight: enough to keep every worker thread busy while this
        # process reads the next ones and writes the finished ones, bounded so that
        # memory does not grow with the window.
        self.inflight = 2 * threads

    def _ship(self, value: Any) -> Any:
        """Large arguments go to the cluster once, as data, not inside each task's definition."""
        if _is_data(value):
            return self.client.scatter(value, hash=False)
        return value

    def map_partitions(self, fn: Callable[..., R], partitions: Iterator[P], *shared: Any) -> Generator[tuple[P, R]]:
        """As :meth:`Engine.map_partitions`, with up to ``inflight`` partitions computed at once."""
        with self._cluster_errors():
            shipped = [self.client.scatter(value, broadcast=True, hash=False) for value in shared]
        queue: deque[tuple[P, Any]] = deque()
        try:
            for partition in partitions:
                with self._cluster_errors():
                    queue.append((partition, self.client.submit(fn, self._ship(partition), *shipped, pure=False)))
                if len(queue) >= self.inflight:
                    done, future = queue.popleft()
                    with self._cluster_errors():
                        result = future.result()
                    yield done, result
            while queue:
                done, future = queue.popleft()
                with self._cluster_errors():
                    result = future.result()
                yield done, result
        finally:
            for _, future in queue:
                future.cancel()

    def map(self, fn: Callable[..., R], calls: Sequence[tuple[Any, ...]]) -> list[R]:
        with self._cluster_errors():
            futures = [self.client.submit(fn, *(self._ship(a) for a in args), pure=False) for args in calls]
            return list(self.client.gather(futures))

    @contextlib.contextmanager
    def _cluster_errors(self) -> Iterator[None]:
        """A lost worker or connection is the cluster's failure (exit 69); the task's own errors pass as they are."""
        from distributed import KilledWorker

        try:
            yield
        except (KilledWorker, OSError, TimeoutError) as exc:
            raise ClusterError(f"The Dask cluster ({self.describe_address()}) failed: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}. Check the workers' "
                               "logs and memory, or set compute.engine: local.") from None

    def search_backend(self) -> contextlib.AbstractContextManager[Any]:
        """joblib's Dask backend: each candidate-fold fit is a task on the cluster."""
        import joblib

        # The client is passed, not looked up: this engine never installs a process-wide default.
        return joblib.parallel_config(backend="dask", client=self.client)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def describe_address(self) -> str:
        return "a local cluster" if self.cluster is not None else str(self.client.scheduler.address)

    def describe(self) -> str:
        workers = len(self.client.scheduler_info().get("workers", {}))
        return f"dask ({workers} workers, {self.describe_address()})"


def _is_data(value: Any) -> bool:
    module = type(value).__module__.split(".")[0]
    return module in ("pandas", "numpy", "pyarrow")


def open_engine(compute: ComputeConfig, config_path: Path | str) -> Engine:
    """The engine ``compute`` asks for, connected and ready.

    Raises:
        ConfigError: ``compute.engine`` is ``dask`` and dask is not installed.
        ClusterError: the scheduler at ``compute.dask.address`` does not answer,
            or the local cluster fails to start.
    """
    if compute.engine == "local":
        return Engine()
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            f"{config_path}: 'compute.engine' is 'dask' but dask is not installed; "
            "install it with pip install 'lowops[dask]' or set compute.engine: local."
        ) from None
    settings = compute.dask
    if settings.address:
        try:
            client = distributed.Client(  # type: ignore[no-untyped-call]
                settings.address, timeout=settings.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"The Dask scheduler at {settings.address} (compute.dask.address in {config_path}) did not "
                f"answer within {settings.connect_timeout:g}s: {str(exc).splitlines()[0] if str(exc) else exc!r}. "
                "Start it, fix the address, or remove it to run a local cluster."
            ) from None
        return DaskEngine(client)
    try:
        cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=settings.n_workers, threads_per_worker=settings.threads_per_worker, processes=True,
            # ":0": the scheduler's HTTP endpoints on a free port, never a clash with another cluster's 8787
            dashboard_address=":0", silence_logs=logging.ERROR)
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterError(f"Could not start a local Dask cluster ({config_path}: compute.dask): {exc}") from None
    client = distributed.Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]
    return DaskEngine(client, cluster)
