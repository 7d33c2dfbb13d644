"""`parley serve` itself serves a request that offers an HTTP/2 upgrade, body included (the protocol is chosen
in the command's uvicorn configuration, so the in-process server of the other tests cannot show it)."""

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

from tests.factories import TEST_CRYPTO_KEYS, TEST_MODELS_YAML

LOGIN = (
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: parley.test\r\n"
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    b'Content-Type: application/json\r\nContent-Length: 53\r\n\r\n{"email": "nobody@example.com", "password": "wrong!"}'
)


def test_parley_serve_answers_an_h2c_offer_with_the_body_read(tmp_path: Path, database_url: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    models = tmp_path / "models.yaml"
    models.write_text(TEST_MODELS_YAML)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    env.update(
        DATABASE_URL=database_url,
        PARLEY_MODELS=str(models),
        PARLEY_JOBS__WORKERS="0",
        PARLEY_LOG_LEVEL="warning",
        PARLEY_AUTH__JWT_SECRET="test-signing-key-" + "x" * 32,
        PARLEY_CRYPTO__KEYS=TEST_CRYPTO_KEYS,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("parley serve did not start")
            time.sleep(0.3)
        assert len(LOGIN.split(b"\r\n\r\n", 1)[1]) == 53
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(LOGIN)
            status_line = connection.recv(65536).split(b"\r\n", 1)[0]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    # Wrong credentials: 401, as without the offer (it was 422 "Field required": the body was lost).
    assert status_line == b"HTTP/1.1 401 Unauthorized"
