"""S3 (AWS, MinIO, Ceph, moto …) through aioboto3: the storage of replicas that share no disk."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from parley.config import S3Settings
from parley.db import StartupError
from parley.storage.base import StorageError, StorageNotFound, validate_key

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    """Objects in one bucket under `settings.prefix`. The client is opened on first use (or by `start`) and
    kept for the life of the process; Parley creates no bucket, it only checks at start that it exists."""

    name = "s3"

    def __init__(self, settings: S3Settings) -> None:
        if not settings.bucket:
            raise ValueError("S3 storage needs a bucket")
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._settings = settings
        # The region's KMS key encrypts every object written (SSE-KMS); without one the bucket's default applies.
        self._encryption: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": settings.kms_key_id} if settings.kms_key_id else {}
        )
        self._session = aioboto3.Session()
        self._exit_stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    def object_key(self, key: str) -> str:
        return f"{self.prefix}{validate_key(key)}"

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    secret = self._settings.secret_access_key
                    self._client = await self._exit_stack.enter_async_context(
                        self._session.client(
                            "s3",
                            endpoint_url=self._settings.endpoint_url,
                            region_name=self._settings.region,
                            aws_access_key_id=self._settings.access_key_id,
                            aws_secret_access_key=secret.get_secret_value() if secret else None,
                            config=AioConfig(retries={"max_attempts": 3, "mode": "standard"}),
                        )
                    )
        return self._client

    async def start(self) -> None:
        """Fail start-up with one clear line when the bucket is missing or unreachable."""
        client = await self._s3()
        try:
            await client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            where = self._settings.endpoint_url or f"AWS {self._settings.region}"
            raise StartupError(
                f"S3 bucket {self.bucket!r} at {where} is not usable ({exc}); create it or fix PARLEY_S3__*"
            ) from exc

    async def put(self, key: str, data: bytes, *, content_type: str, owner: uuid.UUID | None = None) -> None:
        client = await self._s3()
        try:
            await client.put_object(
                Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=content_type, **self._encryption
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 put of {key!r} failed: {exc}") from exc

    async def get(self, key: str) -> bytes:
        chunks = [chunk async for chunk in self.stream(key, chunk_size=1 << 20)]
        return b"".join(chunks)

    async def stream(self, key: str, *, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        client = await self._s3()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise StorageNotFound(key) from exc
            raise StorageError(f"S3 get of {key!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 get of {key!r} failed: {exc}") from exc
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        client = await self._s3()
        try:
            await client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _MISSING:
                raise StorageError(f"S3 delete of {key!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 delete of {key!r} failed: {exc}") from exc

    async def aclose(self) -> None:
        await self._exit_stack.aclose()
        self._client = None
