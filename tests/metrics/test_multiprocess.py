"""The supervisor's bookkeeping of metric files: a worker that dies or is replaced leaves the live gauges (its
streams and requests in flight would otherwise count for ever), its counters stay in the totals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parley.metrics.multiprocess import mark_dead_workers, prepare_directory


@dataclass
class _Process:
    pid: int


class _Supervisor:
    """The two steps of uvicorn's Multiprocess that replace workers."""

    def __init__(self) -> None:
        self.processes = [_Process(4242), _Process(4343)]

    def keep_subprocess_alive(self) -> None:
        self.processes[0] = _Process(4444)  # 4242 died and was replaced

    def restart_all(self) -> None:
        self.processes = [_Process(5555), _Process(6666)]


def _files(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"\0" * 16)


def test_replaced_workers_leave_the_live_gauges_and_keep_their_counts(tmp_path: Path):
    _files(tmp_path, "gauge_livesum_4242.db", "gauge_livemax_4242.db", "counter_4242.db", "gauge_livesum_4343.db")
    supervisor = _Supervisor()
    mark_dead_workers(supervisor, tmp_path)

    supervisor.keep_subprocess_alive()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_4343.db"]

    supervisor.restart_all()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db"]


def test_a_configured_directory_starts_empty_and_is_kept(tmp_path: Path):
    configured = tmp_path / "prometheus"
    configured.mkdir()
    _files(configured, "counter_1.db", "histogram_2.db")
    directory, temporary = prepare_directory(configured)
    assert directory == configured and not temporary and not list(configured.iterdir())

    created, temporary = prepare_directory(None)
    assert temporary and created.is_dir() and not list(created.iterdir())
    created.rmdir()
