"""`parley serve --workers 2`: one scrape shows what both processes did (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.metrics.scrape import Scrape

PARLEY = [sys.executable, "-m", "parley"]
REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"parley serve exited: {process.communicate()[1][-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail("parley serve did not become ready")


def test_a_scrape_adds_up_the_requests_of_both_workers(tmp_path: Path, database_url, redis_url, redis_key_prefix):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A previous run's file (its counts would be added up forever): removed before the workers start.
    (metrics_dir / "counter_999999.db").write_bytes(b"\0" * 4096)
    port, metrics_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PARLEY_REDIS_KEY_PREFIX=f"{redis_key_prefix}:workers",
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
        PARLEY_DATABASE__POOL_SIZE="2",
        PARLEY_DATABASE__MAX_OVERFLOW="3",
        PARLEY_JOBS__WORKERS="0",
        PARLEY_METRICS__REFRESH_SECONDS="0.5",
        PARLEY_METRICS__PORT=str(metrics_port),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    process = subprocess.Popen(
        [*PARLEY, "serve", "--workers", "2", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        for _ in range(REQUESTS):
            # A new connection each: the kernel hands them to either worker.
            assert httpx.get(f"{base}/healthz", headers={"Connection": "close"}).status_code == 200
        workers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("histogram_*.db")}
        assert len(workers) == 2, f"requests were served by {workers}"

        deadline = time.monotonic() + 30
        while True:
            scrape = Scrape(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)
            # Each worker's pool is 2 + 3 connections: both are in the sum once both refreshed their gauges.
            if scrape.value("parley_db_pool_size") == 10 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert scrape.value("parley_db_pool_size") == 10
        served = {"route": "/healthz", "method": "GET", "status": "200"}
        assert scrape.value("parley_http_request_duration_seconds_count", **served) == REQUESTS
        assert scrape.value("parley_build_info") == 1
        # The main port has no /metrics when the internal one is set.
        assert "parley_http_request_duration_seconds" not in httpx.get(f"{base}/metrics").text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr[-3000:]
    assert not (metrics_dir / "counter_999999.db").exists()
