"""Envelope encryption over the real database: users' data keys wrapped by the KEK of a key file, sealed values
bound to their owner and place, keys shared by every process (replica) of one deployment, one query for the keys
of a whole request, and a user's data unreadable once their key is destroyed (crypto-erase)."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import Settings
from parley.crypto import OVERHEAD, KeyDestroyed, KeyUnavailable, SealedValueInvalid, context_of, key_id_of
from parley.crypto.factory import create_provider
from parley.crypto.providers.local import LocalKeyFile, LocalKeys
from parley.db import Database, StartupError
from parley.models import DataKey, KeyEncryptionKey
from tests.crypto.conftest import MakeCrypto

CANARY = "Kanarienvogel-4711 sings in the mine"


class TestSealing:
    async def test_a_sealed_value_opens_for_its_owner_and_place_only(self, make_crypto: MakeCrypto):
        crypto = await make_crypto()
        alice, bob = uuid.uuid4(), uuid.uuid4()
        message_id = uuid.uuid4()
        place = context_of("messages", "content", message_id)

        sealed = await crypto.seal_text(alice, CANARY, context=place)

        assert CANARY.encode() not in sealed and b"Kanarienvogel" not in sealed
        assert len(sealed) == len(CANARY.encode()) + OVERHEAD
        assert await crypto.open_text(alice, sealed, context=place) == CANARY
        # Sealing twice gives different bytes (a fresh nonce each time).
        assert await crypto.seal_text(alice, CANARY, context=place) != sealed
        # Another user, another row, another column: it does not open.
        with pytest.raises(SealedValueInvalid):
            await crypto.open(bob, sealed, context=place)
        with pytest.raises(SealedValueInvalid):
            await crypto.open(alice, sealed, context=context_of("messages", "content", uuid.uuid4()))
        with pytest.raises(SealedValueInvalid):
            await crypto.open(alice, sealed, context=context_of("conversations", "title", message_id))

    async def test_an_altered_value_is_refused(self, make_crypto: MakeCrypto):
        crypto = await make_crypto()
        alice = uuid.uuid4()
        sealed = bytearray(await crypto.seal(alice, b"pay 100 EUR", context="t.c:1"))
        sealed[-20] ^= 0x01
        with pytest.raises(SealedValueInvalid):
            await crypto.open(alice, bytes(sealed), context="t.c:1")
        with pytest.raises(SealedValueInvalid):
            await crypto.open(alice, b"plain text, never sealed at all", context="t.c:1")

    async def test_the_system_key_seals_what_no_user_owns(self, make_crypto: MakeCrypto, session: AsyncSession):
        crypto = await make_crypto()
        sealed = await crypto.seal(None, b"webhook signing secret", context="webhooks.secret:1")
        assert await crypto.open(None, sealed, context="webhooks.secret:1") == b"webhook signing secret"
        with pytest.raises(SealedValueInvalid):
            await crypto.open(uuid.uuid4(), sealed, context="webhooks.secret:1")
        assert await session.scalar(select(func.count()).where(DataKey.owner_id.is_(None))) == 1


class TestDataKeys:
    async def test_keys_are_stored_wrapped_and_shared_by_every_replica(
        self, make_crypto: MakeCrypto, session: AsyncSession
    ):
        replica_a, replica_b = await make_crypto(), await make_crypto()
        alice = uuid.uuid4()
        sealed = await replica_a.seal(alice, CANARY.encode(), context="t.c:1")

        # Replica B (nothing cached) opens it: same data key, unwrapped with the same KEK.
        assert await replica_b.open(alice, sealed, context="t.c:1") == CANARY.encode()
        row = await session.scalar(select(DataKey).where(DataKey.owner_id == alice))
        assert row is not None and row.kek_id.startswith("local:")
        assert len(row.wrapped_key) == 12 + 32 + 16  # nonce, AES-256 key, tag: never the bare key
        active = await session.scalar(select(KeyEncryptionKey).where(KeyEncryptionKey.state == "active"))
        assert active is not None and active.id == row.kek_id

    async def test_two_replicas_creating_one_users_key_at_once_agree_on_it(
        self, make_crypto: MakeCrypto, session: AsyncSession
    ):
        replicas = [await make_crypto() for _ in range(3)]
        alice = uuid.uuid4()
        keys = await asyncio.gather(*(replica.key_for(alice) for replica in replicas for _ in range(5)))
        assert len({key.id for key in keys}) == 1
        assert await session.scalar(select(func.count()).where(DataKey.owner_id == alice)) == 1

    async def test_a_request_fetches_all_its_keys_in_one_query_then_none(self, make_crypto: MakeCrypto, app: FastAPI):
        users = [uuid.uuid4() for _ in range(4)]
        creator = await make_crypto()
        await creator.keys_for(users)
        crypto = await make_crypto()  # a replica that has none of them cached
        database: Database = app.state.database
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
            if "data_keys" in statement:
                statements.append(statement)

        event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        try:
            keys = await crypto.keys_for([*users, None])  # None: the system key, created here
            created_system = len(statements)
            statements.clear()
            again = await crypto.keys_for(users)
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", count)
        assert set(keys) == {*users, None}
        assert created_system == 2  # one SELECT for the five owners, one INSERT for the missing system key
        assert statements == []  # cached: no query at all
        assert {key.id for key in again.values()} == {keys[user].id for user in users}
        sealed = keys[users[0]].seal(b"x", context="t.c:1")
        assert again[users[0]].open(sealed, context="t.c:1") == b"x"

    async def test_a_key_not_cached_any_more_is_fetched_again(self, make_crypto: MakeCrypto):
        crypto = await make_crypto(cache_seconds=0)
        alice = uuid.uuid4()
        sealed = await crypto.seal(alice, b"x", context="t.c:1")
        assert await crypto.open(alice, sealed, context="t.c:1") == b"x"


class TestKeyFile:
    async def test_created_on_first_start_owner_only(self, make_crypto: MakeCrypto, tmp_path: Path):
        key_file = tmp_path / "fresh" / "crypto" / "keyring.json"
        await make_crypto(key_file=key_file)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700

    @pytest.mark.parametrize("mode", [0o644, 0o604, 0o606])
    async def test_a_key_file_every_account_may_read_is_refused_at_start(self, tmp_path: Path, mode: int):
        key_file = tmp_path / "keyring.json"
        await LocalKeyFile(key_file).start()
        os.chmod(key_file, mode)
        with pytest.raises(StartupError, match="chmod 600"):
            await LocalKeyFile(key_file).start()

    async def test_a_group_readable_key_file_is_accepted(self, tmp_path: Path):
        # What a Kubernetes Secret mounted with an fsGroup looks like.
        key_file = tmp_path / "keyring.json"
        await LocalKeyFile(key_file).start()
        os.chmod(key_file, 0o440)
        await LocalKeyFile(key_file).start()

    async def test_another_installations_key_file_opens_nothing(self, make_crypto: MakeCrypto, tmp_path: Path):
        crypto = await make_crypto()
        alice = uuid.uuid4()
        sealed = await crypto.seal(alice, CANARY.encode(), context="t.c:1")
        # A process started with another key file refuses to start, rather than failing requests.
        with pytest.raises(StartupError, match="does not hold the active key-encryption key"):
            await make_crypto(key_file=tmp_path / "other" / "keyring.json")
        stranger = LocalKeyFile(tmp_path / "other" / "keyring.json")
        await stranger.start()
        row = await crypto.key_by_id(key_id_of(sealed))
        async with crypto.engine.connect() as connection:
            kek_id, wrapped = (
                await connection.execute(
                    text("SELECT kek_id, wrapped_key FROM data_keys WHERE id = :id"), {"id": row.id}
                )
            ).one()
        with pytest.raises(KeyUnavailable, match="not in"):
            await stranger.unwrap(kek_id, wrapped, context=row.id.bytes)

    async def test_the_app_uses_the_configured_provider(self, app: FastAPI, settings: Settings):
        # The test run's apps share PARLEY_CRYPTO__KEYS (tests/factories.py); without it, the data dir's key file.
        assert settings.crypto.keys is not None and isinstance(app.state.crypto.provider, LocalKeys)
        bare = create_provider(Settings(data_dir=settings.data_dir))
        assert isinstance(bare, LocalKeyFile)
        assert bare.path == settings.resolved_data_dir / "crypto" / "keyring.json"


class TestCryptoErase:
    async def test_a_copy_taken_before_the_erasure_is_unreadable_after(
        self, make_crypto: MakeCrypto, app: FastAPI, session: AsyncSession
    ):
        replica_a, replica_b = await make_crypto(), await make_crypto()
        alice, bob = uuid.uuid4(), uuid.uuid4()
        copy_of_alices_row = await replica_a.seal(alice, CANARY.encode(), context="t.c:1")
        bobs = await replica_a.seal(bob, b"bob's", context="t.c:2")
        assert await replica_b.open(alice, copy_of_alices_row, context="t.c:1") == CANARY.encode()

        database: Database = app.state.database
        async with database.session() as erasure:
            assert await replica_a.erase(erasure, alice) == 1

        with pytest.raises(KeyDestroyed):
            await replica_a.open(alice, copy_of_alices_row, context="t.c:1")
        # Another process whose cache is gone (or expired) cannot open it either.
        replica_b.forget_cached_keys()
        with pytest.raises(KeyDestroyed):
            await replica_b.open(alice, copy_of_alices_row, context="t.c:1")
        # Nor a fresh process: the key is gone from the database, only its wrapping KEK is left.
        fresh = await make_crypto()
        with pytest.raises(KeyDestroyed):
            await fresh.open(alice, copy_of_alices_row, context="t.c:1")
        assert await session.scalar(select(func.count()).where(DataKey.owner_id == alice)) == 0
        # Bob is untouched.
        assert await fresh.open(bob, bobs, context="t.c:2") == b"bob's"

    async def test_an_erasure_that_rolls_back_destroys_nothing(self, make_crypto: MakeCrypto, app: FastAPI):
        crypto = await make_crypto()
        alice = uuid.uuid4()
        sealed = await crypto.seal(alice, b"kept", context="t.c:1")
        database: Database = app.state.database

        async def failed_deletion() -> None:
            async with database.session() as erasure:
                await crypto.erase(erasure, alice)
                raise RuntimeError("the deletion failed")

        with pytest.raises(RuntimeError):
            await failed_deletion()
        crypto.forget_cached_keys()
        assert await crypto.open(alice, sealed, context="t.c:1") == b"kept"

    async def test_the_database_holds_no_plaintext_key_material(self, make_crypto: MakeCrypto, app: FastAPI):
        crypto = await make_crypto()
        alice = uuid.uuid4()
        key = await crypto.key_for(alice)
        database: Database = app.state.database
        async with database.engine.connect() as connection:
            row = (await connection.execute(text("SELECT kek_id, wrapped_key FROM data_keys"))).one()
            dump = await connection.scalar(text("SELECT string_agg(encode(wrapped_key, 'hex'), '') FROM data_keys"))
        material = await crypto.provider.unwrap(row.kek_id, row.wrapped_key, context=key.id.bytes)
        assert len(material) == 32
        assert material.hex() not in dump


class TestKeySetsAndBlindIndex:
    async def test_a_request_seals_and_opens_with_its_key_set(self, make_crypto: MakeCrypto, app: FastAPI):
        crypto = await make_crypto()
        alice, bob = uuid.uuid4(), uuid.uuid4()
        keys = await crypto.keys_for({alice, bob})
        sealed = keys.seal(alice, b"alice's", context="t.c:1")
        assert keys.open(alice, sealed, context="t.c:1") == b"alice's"
        with pytest.raises(KeyDestroyed):
            keys.open(bob, sealed, context="t.c:1")
        # Alice erased, then given a new key: her old values are not hers any more.
        async with app.state.database.session() as erasure:
            await crypto.erase(erasure, alice)
        again = await crypto.keys_for({alice})
        with pytest.raises(KeyDestroyed):
            again.open(alice, sealed, context="t.c:1")

    async def test_blind_tokens_match_within_one_owner_only(self, make_crypto: MakeCrypto):
        crypto = await make_crypto()
        alice, bob = uuid.uuid4(), uuid.uuid4()
        keys = await crypto.keys_for({alice, bob})
        token = keys[alice].blind("vertrag")
        assert len(token) == 16 and token == keys[alice].blind("vertrag")
        assert token != keys[alice].blind("vertrage")
        assert token != keys[bob].blind("vertrag")
        assert token != keys[alice].blind("vertrag", purpose="titles")
        # A fresh process (same key from the database) gives the same token: an index survives restarts.
        assert (await (await make_crypto()).key_for(alice)).blind("vertrag") == token
