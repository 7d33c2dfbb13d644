"""AWS KMS as the key provider: data keys are encrypted by a KMS key (symmetric), and unwrapped by KMS Decrypt;
the KEK never leaves KMS. By default the KMS key of the deployment's region that already encrypts S3 uploads
(`PARLEY_S3__KMS_KEY_IDS` / `__KMS_KEY_ID`; README, "Multi-region"), so a region's data keys stay in its region.

Each wrapped key carries the encryption context `{"parley-data-key": <data key id>}`: KMS refuses to decrypt it
for another row, and CloudTrail records which data key each Decrypt was for. Decrypt is called without a KeyId
(symmetric ciphertexts name their key), so data keys wrapped by an earlier key (or under an alias since moved)
still unwrap while a rotation moves them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from parley.config import Settings
from parley.crypto.errors import KeyUnavailable, SealedValueInvalid
from parley.db import StartupError

PREFIX = "aws-kms:"
_CONTEXT_KEY = "parley-data-key"
_INVALID = {"InvalidCiphertextException", "IncorrectKeyException"}


class AwsKms:
    name = "aws-kms"

    def __init__(
        self,
        key_id: str | None,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._session = aioboto3.Session()
        self._exit_stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AwsKms(key_id={self.key_id!r}, region={self.region!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsKms:
        s3 = settings.s3.for_region(settings.region)
        crypto = settings.crypto
        secret = s3.secret_access_key
        return cls(
            crypto.kms_key_id or s3.kms_key_id,
            region=crypto.kms_region or settings.region or s3.region,
            endpoint_url=crypto.kms_endpoint_url or s3.endpoint_url,
            access_key_id=s3.access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )

    async def _kms(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await self._exit_stack.enter_async_context(
                        self._session.client(
                            "kms",
                            region_name=self.region,
                            endpoint_url=self.endpoint_url,
                            config=AioConfig(retries={"max_attempts": 3, "mode": "standard"}),
                            aws_access_key_id=self._access_key_id,
                            aws_secret_access_key=self._secret_access_key,
                        )
                    )
        return self._client

    async def start(self) -> None:
        if not self.key_id:
            raise StartupError(
                "PARLEY_CRYPTO__PROVIDER=aws-kms needs a KMS key: PARLEY_CRYPTO__KMS_KEY_ID, or the region's"
                " PARLEY_S3__KMS_KEY_IDS / PARLEY_S3__KMS_KEY_ID"
            )
        await self._kms()

    async def check(self, kek_id: str) -> None:
        try:
            await self._enabled(_key_of(kek_id))
        except KeyUnavailable as exc:
            raise StartupError(exc.message) from exc

    async def _enabled(self, key: str) -> None:
        kms = await self._kms()
        try:
            described = await kms.describe_key(KeyId=key)
        except (ClientError, BotoCoreError) as exc:
            raise KeyUnavailable(f"the KMS key {key} ({self.region}) is not usable: {_code(exc)}") from exc
        state = described["KeyMetadata"].get("KeyState")
        if state != "Enabled":
            raise KeyUnavailable(f"the KMS key {key} ({self.region}) is {state}")

    def initial_kek_id(self) -> str:
        return f"{PREFIX}{self.key_id}"

    async def wrap(self, kek_id: str, data_key: bytes, *, context: bytes) -> bytes:
        kms = await self._kms()
        try:
            response = await kms.encrypt(
                KeyId=_key_of(kek_id), Plaintext=data_key, EncryptionContext={_CONTEXT_KEY: context.hex()}
            )
        except (ClientError, BotoCoreError) as exc:
            raise KeyUnavailable(f"KMS could not wrap a data key under {kek_id}: {_code(exc)}") from exc
        return bytes(response["CiphertextBlob"])

    async def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        kms = await self._kms()
        try:
            response = await kms.decrypt(CiphertextBlob=wrapped, EncryptionContext={_CONTEXT_KEY: context.hex()})
        except ClientError as exc:
            if _code(exc) in _INVALID:
                raise SealedValueInvalid("KMS refused a wrapped data key (altered, or another row's)") from exc
            raise KeyUnavailable(f"KMS could not unwrap a data key of {kek_id}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise KeyUnavailable(f"KMS could not unwrap a data key of {kek_id}: {exc}") from exc
        return bytes(response["Plaintext"])

    async def new_kek(self, target: str | None) -> str:
        """`target` (a key id, ARN or alias) to move to; None: the configured key, whose newest key material
        (after KMS's automatic rotation) wraps every data key again."""
        key = target or self.key_id
        if not key:
            raise ValueError("no KMS key to rotate to: pass --to or set PARLEY_CRYPTO__KMS_KEY_ID")
        await self._enabled(key)
        return f"{PREFIX}{key}"

    async def retire(self, kek_id: str) -> str:
        return (
            f"no data key is wrapped by {kek_id} any more: disable it in KMS (or schedule its deletion) once the"
            " backups taken before this rotation have expired, if nothing else uses it"
        )

    async def aclose(self) -> None:
        await self._exit_stack.aclose()
        self._client = None


def _key_of(kek_id: str) -> str:
    if not kek_id.startswith(PREFIX):
        raise KeyUnavailable(f"{kek_id} is not a KMS key (PARLEY_CRYPTO__PROVIDER changed?)")
    return kek_id.removeprefix(PREFIX)


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__
