"""prometheus-client's multiprocess mode for `parley serve --workers N`: every worker writes its metrics to
files in one directory, and a scrape of any worker (or of the supervisor's internal port) adds them up.

The directory must be in the workers' environment before they import prometheus-client, which picks its value
class at import: `parley serve` prepares it before it starts them (they are spawned, so each imports afresh).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from parley.config import Settings
from parley.metrics.exposition import InternalMetricsServer

# The variable prometheus-client itself reads.
ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Tells the workers that the supervisor serves the internal metrics port (`MetricsSettings`).
_SERVED_BY_SUPERVISOR = "PARLEY_METRICS__PORT_SERVED_BY_SUPERVISOR"


class SupervisedMetrics:
    """The metrics of `parley serve --workers N`, set up by the supervisor process: a fresh multiprocess
    directory handed to the workers (create it before they start), the live gauges of replaced workers
    dropped (`watch`), and, with `PARLEY_METRICS__PORT`, that port served by the supervisor over all workers
    (a port cannot be bound by each worker). `close` when the supervisor returns."""

    def __init__(self, settings: Settings) -> None:
        self.directory, self._temporary = prepare_directory(settings.prometheus_multiproc_dir)
        export(self.directory)
        self._internal: InternalMetricsServer | None = None
        port = settings.metrics.port
        if port is not None:
            os.environ[_SERVED_BY_SUPERVISOR] = "true"
            self._internal = InternalMetricsServer(settings.metrics.host or settings.host, port, self.directory)

    def watch(self, supervisor: Any) -> None:
        mark_dead_workers(supervisor, self.directory)
        if self._internal is not None:
            self._internal.start()

    def close(self) -> None:
        if self._internal is not None:
            self._internal.stop()
        if self._temporary:
            remove(self.directory)


def prepare_directory(configured: Path | None) -> tuple[Path, bool]:
    """An empty directory for this server's metric files: `configured` (PROMETHEUS_MULTIPROC_DIR) emptied of a
    previous run's files, or a new temporary one. Returns it, and whether it is temporary (removed at exit)."""
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        for stale in configured.glob("*.db"):
            stale.unlink()
        return configured, False
    return Path(tempfile.mkdtemp(prefix="parley-metrics-")), True


def export(directory: Path) -> None:
    """Hand `directory` to the worker processes (through their environment, which they inherit)."""
    os.environ[ENVIRONMENT_VARIABLE] = str(directory)


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def mark_dead_workers(supervisor: Any, directory: Path) -> None:
    """Make uvicorn's `Multiprocess` supervisor drop the live gauges (requests and streams in progress, pool use)
    of every worker it replaces, whether it died or was restarted: their files would otherwise count forever."""

    def forgetting(step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            before = {process.pid for process in supervisor.processes}
            step()
            after = {process.pid for process in supervisor.processes}
            for pid in before - after:
                if pid is not None:
                    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]

        return run

    supervisor.keep_subprocess_alive = forgetting(supervisor.keep_subprocess_alive)
    supervisor.restart_all = forgetting(supervisor.restart_all)


def forget_process(directory: Path | None) -> None:
    """Drop this process's live gauges as it stops (a graceful exit needs no supervisor to notice it)."""
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]
