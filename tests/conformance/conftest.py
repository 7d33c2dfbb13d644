"""A running `parley serve` (its own process, real HTTP) for the conformance tests: real client libraries talk to
it as a company's tools would, over scripted models (README, "Function calling and structured output"; `eyes`
describes the images it is shown, README "Images")."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.factories import TEST_CRYPTO_KEYS, signed_in_user
from tests.servers import free_port, interrupt, wait_ready

MODELS_YAML = """
default: echo
models:
  - name: echo
    provider: scripted
    reply: echo
  - name: text-only
    provider: scripted
    reply: "plain text"
    capabilities: {tools: false, json_schema: false}
  - name: eyes
    provider: scripted
    reply: echo
    capabilities: {vision: true}
"""


@pytest.fixture(scope="session")
def parley_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`parley serve` on the suite's database, with the models above; its URL."""
    directory = tmp_path_factory.mktemp("conformance")
    models = directory / "models.yaml"
    models.write_text(MODELS_YAML)
    log = directory / "serve.log"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    env.update(
        DATABASE_URL=database_url,
        PARLEY_MODELS=str(models),
        PARLEY_JOBS__WORKERS="0",
        PARLEY_LOG_LEVEL="warning",
        PARLEY_AUTH__JWT_SECRET="test-signing-key-" + "x" * 32,
        PARLEY_CRYPTO__KEYS=TEST_CRYPTO_KEYS,
        # The image-URL tests serve their picture on 127.0.0.1, which Parley refuses to fetch otherwise.
        PARLEY_IMAGES__ALLOWED_PRIVATE_HOSTS='["127.0.0.1"]',
    )
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(directory / "data")],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log=log)
        yield url
    finally:
        interrupt(process)


@pytest_asyncio.fixture(loop_scope="session")
async def api_key(app: FastAPI, client: httpx.AsyncClient) -> str:
    """A Parley API key of a new user (made through the suite's in-process app, on the same database)."""
    me = await signed_in_user(app, client)
    created = await client.post("/api/v1/users/me/api-keys", json={"name": "conformance"}, headers=me.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


NODE_DIR = Path(__file__).parent / "node"
