"""`parley serve --workers 2`: one scrape shows what both processes did (prometheus-client's multiprocess mode),
whichever worker answers it, or the supervisor on the internal metrics port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.factories import TEST_CRYPTO_KEYS
from tests.metrics.scrape import Scrape
from tests.servers import free_port, wait_ready

PARLEY = [sys.executable, "-m", "parley"]
REQUESTS = 40
# A scripted model: the workers start without the bundled local model's server.
MODELS_YAML = "default: echo\nmodels:\n  - name: echo\n    provider: scripted\n    reply: echo\n"


@contextlib.contextmanager
def _two_workers(tmp_path: Path, database_url: str, redis_url: str, prefix: str, **settings: str) -> Iterator[str]:
    """`parley serve --workers 2` with these extra settings; yields its base URL; stops it (and checks it stopped
    cleanly) at the end."""
    port = free_port()
    models = tmp_path / "models.yaml"
    models.write_text(MODELS_YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PARLEY_REDIS_KEY_PREFIX=prefix,
        PARLEY_MODELS=str(models),
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
        PARLEY_DATABASE__POOL_SIZE="2",
        PARLEY_DATABASE__MAX_OVERFLOW="3",
        PARLEY_JOBS__WORKERS="0",
        PARLEY_METRICS__REFRESH_SECONDS="0.5",
        PARLEY_CRYPTO__KEYS=TEST_CRYPTO_KEYS,
        **settings,
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
        wait_ready(base, process, timeout=180)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr[-3000:]


def _serve_requests(base: str) -> None:
    for _ in range(REQUESTS):
        # A new connection each: the kernel hands them to either worker.
        assert httpx.get(f"{base}/healthz", headers={"Connection": "close"}).status_code == 200


def _scrape_until_both_workers_count(url: str) -> Scrape:
    """A scrape once both workers have refreshed their pool gauges (2 + 3 connections each: 10 in the sum)."""
    deadline = time.monotonic() + 30
    while True:
        scrape = Scrape(httpx.get(url, headers={"Connection": "close"}).text)
        if scrape.value("parley_db_pool_size") == 10 or time.monotonic() > deadline:
            return scrape
        time.sleep(0.3)


SERVED = {"route": "/healthz", "method": "GET", "status": "200"}


def test_every_scrape_adds_up_both_workers(tmp_path: Path, database_url, redis_url, redis_key_prefix):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A previous run's file (its counts would be added up forever): removed before the workers start.
    (metrics_dir / "counter_999999.db").write_bytes(b"\0" * 4096)
    prefix = f"{redis_key_prefix}:workers-main"
    with _two_workers(
        tmp_path, database_url, redis_url, prefix, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), PARLEY_REGION="eu-west-1"
    ) as base:
        _serve_requests(base)
        workers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("histogram_*.db")}
        assert len(workers) == 2, f"the requests were all served by {workers}"
        assert _scrape_until_both_workers_count(f"{base}/metrics").value("parley_db_pool_size") == 10
        # Several scrapes, answered by either worker: each shows the requests of both.
        for _ in range(6):
            scrape = Scrape(httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text)
            assert scrape.value("parley_http_request_duration_seconds_count", **SERVED) == REQUESTS
            # One series for the server, whichever worker answers, with its region (the alerts group by it).
            assert scrape.value("parley_build_info") == 1
            assert scrape.value("parley_build_info", region="eu-west-1") == 1
    assert not (metrics_dir / "counter_999999.db").exists()


def test_the_supervisor_serves_the_internal_port_over_both_workers(
    tmp_path: Path, database_url, redis_url, redis_key_prefix
):
    metrics_port = free_port()
    prefix = f"{redis_key_prefix}:workers-internal"
    with _two_workers(tmp_path, database_url, redis_url, prefix, PARLEY_METRICS__PORT=str(metrics_port)) as base:
        _serve_requests(base)
        scrape = _scrape_until_both_workers_count(f"http://127.0.0.1:{metrics_port}/metrics")
        assert scrape.value("parley_db_pool_size") == 10
        assert scrape.value("parley_http_request_duration_seconds_count", **SERVED) == REQUESTS
        # The main port has no /metrics when the internal one is set.
        assert "parley_http_request_duration_seconds" not in httpx.get(f"{base}/metrics").text
