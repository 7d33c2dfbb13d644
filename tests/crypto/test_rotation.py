"""`parley keys rotate`: every data key wrapped again under a new KEK while replicas keep sealing, opening and
creating keys; the old KEK retired (dropped from the key file) once nothing uses it; KMS moved to another key."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import boto3
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.cli import main
from parley.crypto.factory import create_provider
from parley.crypto.rotation import RotationBusy, rotate
from parley.db import Database
from parley.models import DataKey, KeyEncryptionKey
from tests.crypto.conftest import MakeCrypto
from tests.crypto.test_aws_kms import _settings as kms_settings
from tests.storage.conftest import S3_KEY_ID, S3_SECRET


async def _seal_for_users(crypto, users):  # type: ignore[no-untyped-def]
    return {user: await crypto.seal(user, f"note of {user}".encode(), context=f"notes.body:{user}") for user in users}


async def _all_open(crypto, sealed) -> bool:  # type: ignore[no-untyped-def]
    for user, value in sealed.items():
        assert await crypto.open(user, value, context=f"notes.body:{user}") == f"note of {user}".encode()
    return True


class TestLocalRotation:
    async def test_replicas_keep_working_through_a_rotation_and_the_old_kek_is_retired(
        self, make_crypto: MakeCrypto, session: AsyncSession, tmp_path: Path
    ):
        key_file = tmp_path / "crypto" / "keyring.json"
        replica_a, replica_b = await make_crypto(), await make_crypto()
        users = [uuid.uuid4() for _ in range(30)]
        sealed = await _seal_for_users(replica_a, [*users, None])
        assert await _all_open(replica_b, sealed)  # B has every key cached now
        old_kek = (await session.scalar(select(KeyEncryptionKey.id).where(KeyEncryptionKey.state == "active"))) or ""
        await session.commit()

        rotating = await make_crypto()
        newcomers = [uuid.uuid4() for _ in range(20)]
        # Replica A creates keys for new users while the rotation runs.
        report, created = await asyncio.gather(rotate(rotating, batch_size=7), _seal_for_users(replica_a, newcomers))
        sealed.update(created)

        assert report.previous_kek == old_kek and report.new_kek != old_kek
        assert report.retired == [old_kek]
        assert report.rewrapped >= len(users) + 1
        kek_ids = set(await session.scalars(select(DataKey.kek_id)))
        assert kek_ids == {report.new_kek}
        states = dict((await session.execute(select(KeyEncryptionKey.id, KeyEncryptionKey.state))).all())
        assert states == {old_kek: "retired", report.new_kek: "active"}
        # The key file no longer holds the old KEK: a copy of the database from before the rotation plus
        # today's key file opens nothing of it.
        assert set(json.loads(key_file.read_text())["keys"]) == {report.new_kek}

        # Both replicas, cached (B) or not (A), and a new process open everything, old and new.
        replica_a.forget_cached_keys()
        assert await _all_open(replica_a, sealed)
        assert await _all_open(replica_b, sealed)
        assert await _all_open(await make_crypto(), sealed)
        # New keys are wrapped under the new KEK.
        late = uuid.uuid4()
        await replica_b.key_for(late)
        assert await session.scalar(select(DataKey.kek_id).where(DataKey.owner_id == late)) == report.new_kek

    async def test_one_rotation_at_a_time(self, make_crypto: MakeCrypto, app: FastAPI):
        crypto = await make_crypto()
        await crypto.key_for(uuid.uuid4())
        database: Database = app.state.database
        async with database.engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": 0x7061726C65790001})
            try:
                with pytest.raises(RotationBusy):
                    await rotate(crypto)
            finally:
                await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": 0x7061726C65790001})

    async def test_the_command_rotates_the_installs_key_file(
        self,
        make_crypto: MakeCrypto,
        database_url: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        session: AsyncSession,
    ):
        replica = await make_crypto()
        sealed = await _seal_for_users(replica, [uuid.uuid4() for _ in range(3)])
        monkeypatch.setenv("DATABASE_URL", database_url)

        # The CLI is synchronous (asyncio.run): run it in a thread, as an operator's shell would beside Parley.
        code = await asyncio.to_thread(main, ["keys", "rotate", "--data-dir", str(tmp_path)])

        output = capsys.readouterr().out
        assert code == 0, output
        assert "data keys wrapped again: 3" in output and "retired: local:" in output
        replica.forget_cached_keys()
        assert await _all_open(replica, sealed)
        assert len(json.loads((tmp_path / "crypto" / "keyring.json").read_text())["keys"]) == 1


class TestKmsRotation:
    async def test_moving_to_another_kms_key(
        self, make_crypto: MakeCrypto, s3_endpoint: str, tmp_path: Path, session: AsyncSession
    ):
        settings = kms_settings(s3_endpoint, tmp_path)
        replica = await make_crypto(create_provider(settings))
        sealed = await _seal_for_users(replica, [uuid.uuid4() for _ in range(5)])
        kms = boto3.client(
            "kms",
            endpoint_url=s3_endpoint,
            region_name="eu-west-1",
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
        )
        new_key = kms.create_key(Description="parley data keys 2027")["KeyMetadata"]["KeyId"]

        report = await rotate(await make_crypto(create_provider(settings)), target=new_key)

        assert report.new_kek == f"aws-kms:{new_key}" and report.rewrapped == 5
        assert report.retired == [f"aws-kms:{settings.s3.kms_key_ids['eu-west-1']}"]
        assert set(await session.scalars(select(DataKey.kek_id))) == {f"aws-kms:{new_key}"}
        # The old key can go: nothing needs it any more.
        kms.disable_key(KeyId=settings.s3.kms_key_ids["eu-west-1"])
        assert await _all_open(await make_crypto(create_provider(settings)), sealed)

    async def test_rotating_within_one_kms_key_wraps_every_key_again(
        self, make_crypto: MakeCrypto, s3_endpoint: str, tmp_path: Path, session: AsyncSession
    ):
        settings = kms_settings(s3_endpoint, tmp_path)
        replica = await make_crypto(create_provider(settings))
        sealed = await _seal_for_users(replica, [uuid.uuid4() for _ in range(4)])
        before = dict((await session.execute(select(DataKey.id, DataKey.wrapped_key))).all())
        await session.commit()

        report = await rotate(await make_crypto(create_provider(settings)))

        assert report.previous_kek is None and report.rewrapped == 4
        after = dict((await session.execute(select(DataKey.id, DataKey.wrapped_key))).all())
        assert after.keys() == before.keys() and all(after[key] != before[key] for key in before)
        assert await _all_open(await make_crypto(create_provider(settings)), sealed)
