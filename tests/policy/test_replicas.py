"""Three `parley serve` processes on one Redis count one budget together: 1,000 requests at once, spread over
them, admit exactly the limit; and X-Forwarded-For names the client only when a trusted proxy sent it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.factories import TEST_CRYPTO_KEYS, TEST_MODELS_YAML
from tests.servers import free_port

LIMIT = 50
LOGOUT = "/api/v1/auth/logout"


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str, redis_key_prefix: str
) -> Iterator[tuple[list[str], str]]:
    """Three replicas behind one Redis; the first two trust a proxy on 127.0.0.1 (where the tests connect
    from), the third trusts only 192.0.2.1. Yields their base URLs and the replicas' Redis key prefix."""
    root = tmp_path_factory.mktemp("replicas")
    models = root / "models.yaml"
    models.write_text(TEST_MODELS_YAML)
    prefix = f"{redis_key_prefix}:replicas"
    processes: list[subprocess.Popen[str]] = []
    urls: list[str] = []

    def start(n: int, trusted: str) -> None:
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            PARLEY_REDIS_KEY_PREFIX=prefix,
            PARLEY_LIMITS__ANONYMOUS_PER_MINUTE=str(LIMIT),
            PARLEY_FORWARDED_ALLOW_IPS=trusted,
            PARLEY_MODELS=str(models),
            PARLEY_JOBS__WORKERS="0",
            PARLEY_LOG_LEVEL="warning",
            PARLEY_AUTH__JWT_SECRET="test-signing-key-" + "x" * 32,
            PARLEY_CRYPTO__KEYS=TEST_CRYPTO_KEYS,
        )
        command = [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(root / f"d{n}")]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
        urls.append(f"http://127.0.0.1:{port}")

    def wait_until_up() -> None:
        deadline = time.monotonic() + 120
        for url, process in zip(urls, processes, strict=True):
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    pytest.fail(f"parley serve did not start at {url}: {process.communicate()[1][-2000:]}")
                time.sleep(0.3)

    try:
        # The first one alone: it migrates the database and creates the first admin, which replicas starting
        # at the same moment on an empty database would race for.
        start(0, "127.0.0.1")
        wait_until_up()
        start(1, "127.0.0.1")
        start(2, "192.0.2.1")
        wait_until_up()
        yield urls, prefix
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=60)


@pytest.fixture
def urls(replicas: tuple[list[str], str], redis_url: str) -> list[str]:
    # Each test starts with untouched budgets.
    urls, prefix = replicas
    with redis.Redis.from_url(redis_url) as raw:
        keys = list(raw.scan_iter(match=f"{prefix}:*"))
        if keys:
            raw.delete(*keys)
    return urls


# Idle pooled connections are dropped after 1 s, well within the servers' 5 s keep-alive: reusing one the server
# is closing at that moment loses the request ("Server disconnected without sending a response").
LIMITS = httpx.Limits(max_connections=100, keepalive_expiry=1)


async def _logouts(url: str, count: int, *, forwarded_for: list[str] | None = None) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=LIMITS) as http:
        return list(
            await asyncio.gather(
                *(
                    http.post(LOGOUT, headers={"X-Forwarded-For": forwarded_for[n]} if forwarded_for else None)
                    for n in range(count)
                )
            )
        )


async def test_three_replicas_admit_exactly_the_limit_of_a_thousand_requests_at_once(urls):
    clients = [httpx.AsyncClient(base_url=url, timeout=120, limits=LIMITS) for url in urls]
    try:
        # Round robin: each replica gets every third request, all 1,000 in flight together. Counted apart,
        # the replicas would admit up to three times the limit; counted together but not atomically, more.
        answers = await asyncio.gather(*(clients[n % 3].post(LOGOUT) for n in range(1000)))
    finally:
        for http in clients:
            await http.aclose()
    assert Counter(answer.status_code for answer in answers) == {204: LIMIT, 429: 1000 - LIMIT}


async def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(urls):
    trusting, other_trusting, distrusting = urls
    # Through the trusted proxy: the forwarded address is the client, counted on every replica alike.
    spent = await _logouts(trusting, LIMIT, forwarded_for=["203.0.113.7"] * LIMIT)
    assert all(answer.status_code == 204 for answer in spent)
    assert (await _logouts(other_trusting, 1, forwarded_for=["203.0.113.7"]))[0].status_code == 429
    assert (await _logouts(other_trusting, 1, forwarded_for=["203.0.113.8"]))[0].status_code == 204
    # From a peer the replica does not trust, the header is ignored: naming a new address in every request
    # does not give a client a new budget.
    spoofed = [f"198.51.100.{n}" for n in range(LIMIT + 1)]
    answers = await _logouts(distrusting, LIMIT + 1, forwarded_for=spoofed)
    assert Counter(answer.status_code for answer in answers) == {204: LIMIT, 429: 1}
