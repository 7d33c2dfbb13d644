"""What the Prometheus metrics cost: per streamed delta (the inter-token histogram's observation the chat engine
makes for each), per HTTP request (the timing middleware around a trivial app) and per scrape, in
prometheus-client's ordinary mode (one process) and in its multiprocess mode (`parley serve --workers N`, values in
memory-mapped files). CPU time, in a child process per mode (the mode is chosen when prometheus-client is imported).

Run: `.venv/bin/python bench/metrics_overhead.py [--deltas 200000] [--requests 50000]`. Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any


def _per_delta(deltas: int) -> float:
    from parley.metrics.instruments import INTER_TOKEN

    gaps = INTER_TOKEN.labels(model="bench")
    last = time.monotonic()
    started = time.process_time()
    for _ in range(deltas):
        now = time.monotonic()
        gaps.observe(now - last)
        last = now
    with_metrics = time.process_time() - started
    last = time.monotonic()
    started = time.process_time()
    for _ in range(deltas):
        now = time.monotonic()
        _ = now - last
        last = now
    without = time.process_time() - started
    return (with_metrics - without) / deltas * 1e9


async def _per_request(requests: int) -> float:
    from starlette.routing import Route

    from parley.metrics.http import HttpMetricsMiddleware

    route = Route("/api/v1/conversations/{conversation_id}", lambda request: None)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    async def run(handler: Any) -> float:
        started = time.process_time()
        for _ in range(requests):
            await handler({"type": "http", "method": "GET", "path": "/x"}, receive, send)
        return time.process_time() - started

    timed = HttpMetricsMiddleware(app)
    with_metrics = await run(timed)
    without = await run(app)
    return (with_metrics - without) / requests * 1e6


def _scrape(directory: str | None) -> tuple[float, int]:
    from parley.metrics.exposition import render
    from parley.metrics.instruments import HTTP_REQUEST_DURATION

    for n in range(60):  # a realistic number of routes
        HTTP_REQUEST_DURATION.labels(route=f"/api/v1/route{n}", method="GET", status="200").observe(0.01)
    from pathlib import Path

    started = time.perf_counter()
    body = render(Path(directory) if directory else None)
    return (time.perf_counter() - started) * 1000, len(body)


def _inner(args: argparse.Namespace) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    delta_ns = _per_delta(args.deltas)
    request_us = asyncio.run(_per_request(args.requests))
    scrape_ms, size = _scrape(directory)
    print(json.dumps({"delta_ns": delta_ns, "request_us": request_us, "scrape_ms": scrape_ms, "bytes": size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--deltas", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args)
        return
    rows = []
    for mode in ("one process", "multiprocess"):
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        with tempfile.TemporaryDirectory() as directory:
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            command = [sys.executable, __file__, "--inner", f"--deltas={args.deltas}", f"--requests={args.requests}"]
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout  # noqa: S603
        rows.append((mode, json.loads(output.strip().splitlines()[-1])))
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print("| mode | per streamed delta | per HTTP request | scrape (60 routes) |")
    print("| --- | --- | --- | --- |")
    for mode, figures in rows:
        print(
            f"| {mode} | {figures['delta_ns']:.0f} ns | {figures['request_us']:.1f} µs | "
            f"{figures['scrape_ms']:.1f} ms ({figures['bytes'] / 1024:.0f} KiB) |"
        )


if __name__ == "__main__":
    main()
