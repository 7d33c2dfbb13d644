"""Choosing the key provider from settings, and opening `Crypto` for a running Parley (or a CLI command)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from parley.config import Settings
from parley.crypto.keyring import Crypto
from parley.crypto.providers.base import KeyProvider


def create_provider(settings: Settings) -> KeyProvider:
    """The configured KEK provider (not started). Remote providers are imported only when chosen."""
    crypto = settings.crypto
    if crypto.provider == "aws-kms":
        from parley.crypto.providers.aws_kms import AwsKms

        return AwsKms.from_settings(settings)
    if crypto.provider == "vault":
        from parley.crypto.providers.vault import VaultTransit

        return VaultTransit.from_settings(crypto)
    from parley.crypto.providers.local import LocalKeyFile, LocalKeys
    from parley.crypto.settings import parse_keys

    if crypto.keys is not None:
        return LocalKeys(parse_keys(crypto.keys.get_secret_value()))
    return LocalKeyFile(crypto.key_file_in(settings.resolved_data_dir))


async def open_crypto(settings: Settings, engine: AsyncEngine) -> Crypto:
    """`Crypto` over the configured provider, started: a key file that other accounts may read, an unreachable
    KMS or Vault stop the start with a StartupError saying what to fix."""
    crypto = Crypto(engine, create_provider(settings), settings.crypto)
    try:
        await crypto.start()
    except BaseException:
        await crypto.aclose()
        raise
    return crypto
