"""Both storage twins behind one fixture: local files, and S3 against a real S3-API server (moto_server in a
child process on a free loopback port)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import pytest
import pytest_asyncio
from pydantic import SecretStr

from parley.config import S3Settings
from parley.storage import Storage
from parley.storage.local import LocalStorage
from parley.storage.s3 import S3Storage

S3_KEY_ID = "testing"
S3_SECRET = "testing-secret"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server for this test session."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("moto_server did not start (is moto[server] installed?)")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def s3_settings(endpoint: str, bucket: str, prefix: str = "parley/") -> S3Settings:
    return S3Settings(
        bucket=bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=S3_KEY_ID,
        secret_access_key=SecretStr(S3_SECRET),
        prefix=prefix,
    )


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint: str) -> str:
    name = f"parley-test-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    ).create_bucket(Bucket=name)
    return name


@pytest_asyncio.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each test runs once per backend; the S3 one gets a prefix of its own in the shared bucket."""
    backend: LocalStorage | S3Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "files")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        backend = S3Storage(s3_settings(endpoint, bucket, prefix=f"run-{uuid.uuid4().hex[:8]}/"))
    await backend.start()
    yield backend
    await backend.aclose()
