"""What one unauthenticated request costs the server before its refusal, and whether /healthz stays quick
meanwhile (issue 10, items 1 and 3). Prints figures; asserts nothing.

    uv run python bench/request_bounds.py --url http://127.0.0.1:8000

Against a running `parley serve`. Each case sends one hostile request while /healthz is polled every 20 ms on
another connection, and prints the answer's status, size and time, and the slowest /healthz seen meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable

import httpx

MIB = 1024 * 1024


def unknown_keys(count: int) -> bytes:
    return json.dumps({f"k{index}": 0 for index in range(count)}).encode()


async def head_only(url: str, path: str, declared: int) -> tuple[int, int]:
    """Send only the head of a request declaring `declared` bytes of body; return (status, answer bytes)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await reader.read(65536)
    writer.close()
    return int(answer.split(b" ")[1]), len(answer)


async def measure(url: str, label: str, request: Callable[[], Awaitable[tuple[int, int]]]) -> None:
    slowest = 0.0
    done = threading.Event()

    def poll_health() -> None:
        # A thread of its own: the hostile request's client work in this event loop must not delay the probe.
        nonlocal slowest
        with httpx.Client(base_url=url, timeout=300) as health:
            while not done.is_set():
                started = time.perf_counter()
                health.get("/healthz")
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.02)

    poller = threading.Thread(target=poll_health)
    poller.start()
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    status, size = await request()
    elapsed = time.perf_counter() - started
    done.set()
    poller.join()
    print(f"| {label} | {status} | {size:,} B | {elapsed * 1000:.0f} ms | {slowest * 1000:.0f} ms |")


async def main(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:

        async def post(path: str, body: bytes) -> tuple[int, int]:
            response = await http.post(path, content=body, headers={"content-type": "application/json"})
            return response.status_code, len(response.content)

        # Built before timing: the client's own work must not count (it shares this event loop with the poller).
        keys_300k, keys_80k = unknown_keys(300_000), unknown_keys(80_000)
        print("| request | status | answer | time | slowest /healthz meanwhile |")
        print("| --- | --- | --- | --- | --- |")
        await measure(url, "refresh, 300,000 unknown keys (3.9 MiB)", lambda: post("/api/v1/auth/refresh", keys_300k))
        await measure(url, "login, head of a 300 MiB body", lambda: head_only(url, "/api/v1/auth/login", 300 * MIB))
        await measure(
            url, "conversations, 80,000 unknown keys (0.98 MiB)", lambda: post("/api/v1/conversations", keys_80k)
        )
        await measure(
            url, "/v1/chat/completions, 300,000 unknown keys", lambda: post("/v1/chat/completions", keys_300k)
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    asyncio.run(main(parser.parse_args().url))
