"""AWS KMS as the key provider, against a real KMS API server (moto_server): data keys wrapped by the region's
KMS key (the one S3 uploads already use), unwrapped by another replica, refused for another row, and a start-up
with an unusable key stopped with a clear line."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import S3Settings, Settings
from parley.crypto import SealedValueInvalid
from parley.crypto.factory import create_provider
from parley.crypto.providers.aws_kms import AwsKms
from parley.crypto.settings import CryptoSettings
from parley.db import StartupError
from parley.models import DataKey
from tests.crypto.conftest import MakeCrypto
from tests.storage.conftest import S3_KEY_ID, S3_SECRET


def _kms_client(endpoint: str, region: str = "eu-west-1"):  # type: ignore[no-untyped-def]
    return boto3.client(
        "kms", endpoint_url=endpoint, region_name=region, aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET
    )


def _settings(endpoint: str, tmp_path: Path, **crypto: object) -> Settings:
    key = _kms_client(endpoint).create_key(Description="parley eu")["KeyMetadata"]["KeyId"]
    return Settings(
        data_dir=tmp_path,
        region="eu-west-1",
        s3=S3Settings(
            endpoint_url=endpoint,
            access_key_id=S3_KEY_ID,
            secret_access_key=SecretStr(S3_SECRET),
            buckets={"eu-west-1": "parley-eu"},
            kms_key_ids={"eu-west-1": key},
        ),
        crypto=CryptoSettings(provider="aws-kms", **crypto),  # type: ignore[arg-type]
    )


class TestAwsKms:
    async def test_the_regions_kms_key_wraps_the_data_keys(
        self, make_crypto: MakeCrypto, s3_endpoint: str, tmp_path: Path, session: AsyncSession
    ):
        settings = _settings(s3_endpoint, tmp_path)
        region_key = settings.s3.kms_key_ids["eu-west-1"]
        provider = create_provider(settings)
        assert isinstance(provider, AwsKms) and provider.key_id == region_key and provider.region == "eu-west-1"
        replica_a = await make_crypto(provider)
        replica_b = await make_crypto(create_provider(settings))
        alice = uuid.uuid4()

        sealed = await replica_a.seal(alice, b"quarterly numbers", context="t.c:1")

        assert await replica_b.open(alice, sealed, context="t.c:1") == b"quarterly numbers"
        row = await session.scalar(select(DataKey).where(DataKey.owner_id == alice))
        assert row is not None and row.kek_id == f"aws-kms:{region_key}"
        # KMS itself decrypts the wrapped key only with the encryption context naming this row.
        kms = _kms_client(s3_endpoint)
        plain = kms.decrypt(CiphertextBlob=row.wrapped_key, EncryptionContext={"parley-data-key": row.id.hex})
        assert len(plain["Plaintext"]) == 32
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=row.wrapped_key, EncryptionContext={"parley-data-key": uuid.uuid4().hex})

    async def test_a_wrapped_key_moved_to_another_row_does_not_unwrap(self, s3_endpoint: str, tmp_path: Path):
        provider = create_provider(_settings(s3_endpoint, tmp_path))
        await provider.start()
        try:
            kek = provider.initial_kek_id()
            wrapped = await provider.wrap(kek, bytes(32), context=uuid.uuid4().bytes)
            with pytest.raises(SealedValueInvalid):
                await provider.unwrap(kek, wrapped, context=uuid.uuid4().bytes)
        finally:
            await provider.aclose()

    async def test_an_explicit_key_wins_over_the_regions(self, s3_endpoint: str, tmp_path: Path):
        own = _kms_client(s3_endpoint).create_key(Description="parley data keys")["KeyMetadata"]["KeyId"]
        provider = create_provider(_settings(s3_endpoint, tmp_path, kms_key_id=own))
        assert isinstance(provider, AwsKms) and provider.key_id == own

    async def test_a_disabled_or_missing_key_stops_the_start(
        self, make_crypto: MakeCrypto, s3_endpoint: str, tmp_path: Path
    ):
        settings = _settings(s3_endpoint, tmp_path)
        _kms_client(s3_endpoint).disable_key(KeyId=settings.s3.kms_key_ids["eu-west-1"])
        with pytest.raises(StartupError, match="Disabled"):
            await make_crypto(create_provider(settings))
        with pytest.raises(StartupError, match="not usable"):
            await make_crypto(create_provider(_settings(s3_endpoint, tmp_path, kms_key_id=str(uuid.uuid4()))))
        keyless = AwsKms(None, region="eu-west-1", endpoint_url=s3_endpoint)
        with pytest.raises(StartupError, match="KMS_KEY_ID"):
            await keyless.start()
        await keyless.aclose()
