"""Settings of encryption at rest (README, "Encryption at rest"), nested in `Settings.crypto`
(`PARLEY_CRYPTO__<FIELD>`).

Kept beside the crypto code rather than in `parley.config` (which imports this module, as it does `saml_config`) so
the settings file stays small; it imports nothing of Parley's.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class CryptoSettings(BaseModel):
    """Where the key-encryption key (KEK) comes from, and how long unwrapped data keys stay in memory.

    Every user has a data key (AES-256) that seals their data; the data keys are stored in the database wrapped
    by the KEK, which never enters the database: a key file under the data dir (`local`, the default), an AWS KMS
    key (`aws-kms`) or a HashiCorp Vault transit key (`vault`).
    """

    provider: Literal["local", "aws-kms", "vault"] = "local"
    # `local`: the key file (created on first start, mode 0600; refused when other accounts may read it). Unset:
    # `<data dir>/crypto/keyring.json`.
    key_file: Path | None = None
    # `local` with the KEKs given here instead of a key file (replicas without a shared data dir: Kubernetes,
    # compose): `name=<base64 of 32 bytes>` pairs separated by commas, the last one wrapping new data keys
    # (`parley keys generate` prints one). To rotate, append a new pair on every replica, then `parley keys rotate`.
    keys: SecretStr | None = None
    # Unwrapped data keys are kept in memory this long (and at most this many), so a request seals and opens
    # without a database round trip or a KMS call; a crypto-erased key may still be held this long by a replica
    # that had it cached (its user is gone by then, so nothing asks for it).
    # Stored files (uploads, export zips) are written sealed. False only while a rolling upgrade from a release
    # without encryption at rest runs (its pods would serve sealed bytes as they are): files are then written
    # as they come and still read either way; set it back (another rolling restart) once every pod is new.
    seal_files: bool = True
    # Message text, titles, summaries, comments and chunk text are written sealed (README, "Encryption at rest").
    # False for the same rolling upgrade (a previous release's pod would show a sealed value as its marker
    # text): written as they come, still with their blind-index tokens, and read either way.
    seal_content: bool = True
    key_cache_seconds: float = Field(default=300.0, ge=0, le=86_400)
    key_cache_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)

    # `aws-kms`: the key wrapping the data keys. Unset: the KMS key of the deployment's region
    # (`PARLEY_S3__KMS_KEY_IDS[PARLEY_REGION]`, else `PARLEY_S3__KMS_KEY_ID`; README, "Multi-region").
    kms_key_id: str | None = Field(default=None, max_length=300)
    # The KMS endpoint and region; unset: S3's endpoint (`PARLEY_S3__ENDPOINT_URL`, e.g. a test server) and the
    # deployment's region (`PARLEY_REGION`, else `PARLEY_S3__REGION`). Credentials: S3's access key when set,
    # else boto's default chain (instance role, IRSA, environment).
    kms_endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500)
    kms_region: str | None = Field(default=None, max_length=64)

    # `vault`: HashiCorp Vault's (or OpenBao's) transit engine: the server, a token allowed to use the key (and
    # to create it when missing, and to rotate it for `parley keys rotate`), the engine's mount and the key.
    vault_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500)
    vault_token: SecretStr | None = None
    vault_mount: str = Field(default="transit", pattern=r"^[A-Za-z0-9_/-]{1,100}$")
    vault_key_name: str = Field(default="parley", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    vault_namespace: str | None = Field(default=None, max_length=200)
    vault_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _keys_are_well_formed(self) -> CryptoSettings:
        if self.keys is not None:
            parse_keys(self.keys.get_secret_value())
        return self

    @model_validator(mode="after")
    def _vault_is_configured(self) -> CryptoSettings:
        if self.provider == "vault" and (self.vault_url is None or self.vault_token is None):
            raise ValueError("PARLEY_CRYPTO__PROVIDER=vault needs PARLEY_CRYPTO__VAULT_URL and __VAULT_TOKEN")
        return self

    def key_file_in(self, data_dir: Path) -> Path:
        """The local key file: the configured one, or `crypto/keyring.json` under the data dir."""
        return (self.key_file or data_dir / "crypto" / "keyring.json").expanduser()


_KEY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def parse_keys(text: str) -> dict[str, bytes]:
    """`PARLEY_CRYPTO__KEYS` as {name: key}, in order (the last is the current one); ValueError naming the bad
    part (never the key)."""
    keys: dict[str, bytes] = {}
    for number, part in enumerate((piece.strip() for piece in text.split(",") if piece.strip()), start=1):
        name, separator, encoded = part.partition("=")
        name = name.strip()
        if not separator or not _KEY_NAME.match(name):
            raise ValueError(
                f"PARLEY_CRYPTO__KEYS: entry {number} is not name=<base64 key> (name: letters, digits, _-)"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"PARLEY_CRYPTO__KEYS: the key of {name!r} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"PARLEY_CRYPTO__KEYS: the key of {name!r} is not 32 bytes (AES-256)")
        if name in keys:
            raise ValueError(f"PARLEY_CRYPTO__KEYS: {name!r} is given twice")
        keys[name] = key
    if not keys:
        raise ValueError("PARLEY_CRYPTO__KEYS is empty")
    return keys
