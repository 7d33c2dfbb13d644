"""KEKs given in settings (`PARLEY_CRYPTO__KEYS`), for replicas that share no data dir (Kubernetes, compose):
`parley keys generate` makes an entry, every replica with the same value shares the data keys, a malformed value
stops the start without showing a key, and a rotation moves to a key appended on every replica."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.cli import main
from parley.config import Settings
from parley.crypto.factory import create_provider
from parley.crypto.providers.local import LocalKeys
from parley.crypto.rotation import rotate
from parley.crypto.settings import CryptoSettings
from parley.db import StartupError
from parley.models import DataKey
from tests.crypto.conftest import MakeCrypto


def _generated(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["keys", "generate", "--name", name]) == 0
    entry = capsys.readouterr().out.strip()
    assert entry.startswith(f"{name}=") and len(entry) == len(name) + 1 + 44
    return entry


def _provider(keys: str, tmp_path: Path) -> LocalKeys:
    provider = create_provider(Settings(data_dir=tmp_path, crypto=CryptoSettings(keys=SecretStr(keys))))
    assert isinstance(provider, LocalKeys)
    return provider


class TestKeysInSettings:
    async def test_replicas_with_the_same_keys_share_data_keys_and_write_no_key_file(
        self, make_crypto: MakeCrypto, tmp_path: Path, capsys: pytest.CaptureFixture[str], session: AsyncSession
    ):
        keys = _generated("k2026", capsys)
        replica_a = await make_crypto(_provider(keys, tmp_path))
        replica_b = await make_crypto(_provider(keys, tmp_path / "elsewhere"))
        alice = uuid.uuid4()
        sealed = await replica_a.seal(alice, b"minutes", context="t.c:1")
        assert await replica_b.open(alice, sealed, context="t.c:1") == b"minutes"
        assert await session.scalar(select(DataKey.kek_id).where(DataKey.owner_id == alice)) == "local:k2026"
        assert not (tmp_path / "crypto").exists()
        # A replica given other keys refuses to start.
        with pytest.raises(StartupError, match="PARLEY_CRYPTO__KEYS does not hold"):
            await make_crypto(_provider(_generated("other", capsys), tmp_path))

    def test_a_malformed_value_is_refused_without_showing_the_key(self):
        secret = "c2VjcmV0LWJ1dC1ub3QtMzItYnl0ZXM="
        for value, problem in (
            (f"k1={secret}", "not 32 bytes"),
            ("k1=not base64!", "not base64"),
            ("just-a-key", "not name=<base64 key>"),
            ("k1=" + "A" * 43 + "=,k1=" + "A" * 43 + "=", "given twice"),
        ):
            with pytest.raises(ValidationError, match=problem) as caught:
                CryptoSettings(keys=SecretStr(value))
            assert secret not in str(caught.value)

    async def test_rotation_to_a_key_appended_on_every_replica(
        self, make_crypto: MakeCrypto, tmp_path: Path, capsys: pytest.CaptureFixture[str], session: AsyncSession
    ):
        old = _generated("k2026", capsys)
        replica = await make_crypto(_provider(old, tmp_path))
        users = [uuid.uuid4() for _ in range(5)]
        sealed = {user: await replica.seal(user, user.bytes, context="t.c:1") for user in users}
        both = f"{old},{_generated('k2027', capsys)}"

        # Every replica gets both keys first (a rolling update): they keep wrapping under the active k2026.
        rolled = await make_crypto(_provider(both, tmp_path))
        newcomer = uuid.uuid4()
        await rolled.key_for(newcomer)
        assert await session.scalar(select(DataKey.kek_id).where(DataKey.owner_id == newcomer)) == "local:k2026"
        await session.commit()

        report = await rotate(await make_crypto(_provider(both, tmp_path)))

        assert report.new_kek == "local:k2027" and report.retired == ["local:k2026"] and report.rewrapped == 6
        assert any("remove it from PARLEY_CRYPTO__KEYS" in note for note in report.notes)
        # Then k2026 can go: a replica with only the new key opens everything.
        only_new = await make_crypto(_provider(both.split(",")[1], tmp_path))
        for user, value in sealed.items():
            assert await only_new.open(user, value, context="t.c:1") == user.bytes
