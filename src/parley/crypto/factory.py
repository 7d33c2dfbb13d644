"""Choosing the key provider from settings, and opening `Crypto` for a running Parley (or a CLI command)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

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
    """`Crypto` over the configured provider, started, reading keys through connections of its own to `engine`'s
    database: a key file that other accounts may read, an unreachable KMS or Vault stop the start with a
    StartupError saying what to fix."""
    # Data keys are read (and created) while the caller holds a connection of the main pool, so they must never
    # wait for one from it: with every main connection held by a request that needs a key not cached yet, they
    # would all wait for each other until the pool timeout (503s under a burst). The keyring's connections are
    # its own, opened on a cache miss only (keys stay cached) and closed after, so no process keeps any idle
    # (the server's max_connections is shared by every replica), at most a few at once (`Crypto`).
    key_engine = create_async_engine(engine.url, poolclass=NullPool, hide_parameters=True)
    crypto = Crypto(key_engine, create_provider(settings), settings.crypto, owns_engine=True)
    try:
        await crypto.start()
    except BaseException:
        await crypto.aclose()
        raise
    return crypto
