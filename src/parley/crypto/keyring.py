"""`Crypto`: the one object that turns owners into data keys. Services and repositories seal and open through
it; none of them sees a key-encryption key, and data keys leave it only as `SealingKey` objects that never show
their bytes.

Built for the request path: a request asks once for the keys of every owner it touches (`keys_for`, one query
for all of them, none when cached) and then seals and opens in memory. Unwrapped keys are cached for
`key_cache_seconds` (bounded in number), so a chat costs no database round trip or KMS call for its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from parley.crypto import content, repository
from parley.crypto.envelope import KEY_BYTES, Owner, SealingKey, key_id_of
from parley.crypto.errors import KeyDestroyed, SealedValueInvalid
from parley.crypto.providers.base import KeyProvider
from parley.crypto.settings import CryptoSettings
from parley.db import after_commit

# Keys read or created at once by one process: each on a connection of its own (see `open_crypto`).
KEY_CONNECTIONS_AT_ONCE = 4
_LOCK_TIMEOUT = text("SET lock_timeout = '5s'")

_logger = structlog.get_logger("parley.crypto")


class KeySet(Mapping[Owner, SealingKey]):
    """The data keys of the owners one request touches (`Crypto.keys_for`): seal and open without I/O."""

    def __init__(self, keys: dict[Owner, SealingKey]) -> None:
        self._keys = keys

    def __getitem__(self, owner: Owner) -> SealingKey:
        return self._keys[owner]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeySet({len(self._keys)} owners)"

    def seal(self, owner: Owner, plaintext: bytes, *, context: str | bytes) -> bytes:
        return self._keys[owner].seal(plaintext, context=context)

    def open(self, owner: Owner, sealed: bytes, *, context: str | bytes) -> bytes:
        """The plaintext of a value sealed for `owner`: KeyDestroyed when the key that sealed it is not the
        owner's (it was destroyed, and the owner has a new one), SealedValueInvalid when it does not open."""
        key = self._keys[owner]
        if key_id_of(sealed) != key.id:
            raise KeyDestroyed("the value was sealed with a data key this owner no longer has")
        return key.open(sealed, context=context)


class Crypto:
    """Data keys of users (and the system) over a KeyProvider and the `data_keys` table."""

    def __init__(
        self, engine: AsyncEngine, provider: KeyProvider, settings: CryptoSettings, *, owns_engine: bool = False
    ) -> None:
        self.engine = engine
        # Disposed with the keyring (`open_crypto` gives it an engine of its own).
        self._owns_engine = owns_engine
        self._connecting = asyncio.Semaphore(KEY_CONNECTIONS_AT_ONCE)
        self.provider = provider
        self.seal_content = settings.seal_content
        self._ttl = settings.key_cache_seconds
        self._max_entries = settings.key_cache_max_entries
        # key id -> (key, expiry); owner -> key id. Both bounded by _max_entries.
        self._by_id: OrderedDict[uuid.UUID, tuple[SealingKey, float]] = OrderedDict()
        self._by_owner: dict[Owner, uuid.UUID] = {}
        # Owners being fetched or created right now: concurrent requests of one user wait for one fetch.
        self._pending: dict[Owner, asyncio.Future[SealingKey]] = {}
        # Reads of a key by id in progress, which requests missing the same key at once share.
        self._pending_by_id: dict[uuid.UUID, asyncio.Future[SealingKey]] = {}

    def __repr__(self) -> str:
        return f"Crypto(provider={self.provider.name}, cached={len(self._by_id)})"

    async def start(self) -> None:
        """Ready the provider and check it can use the active KEK (a replica with another key file, or a KMS
        key disabled, stops at start rather than failing requests)."""
        await self.provider.start()
        async with self._connection() as connection:
            active = await repository.current_active_kek(connection)
        await self.provider.check(active or self.provider.initial_kek_id())
        content.install(self)

    @contextlib.asynccontextmanager
    async def _connection(self, *, begin: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for reading or creating keys, at most `KEY_CONNECTIONS_AT_ONCE` at a time in this process."""
        async with self._connecting, self.engine.connect() as connection:
            # The caller's transaction may hold locks that something waits on ahead of this key's statement (a
            # TRUNCATE or ALTER of data_keys queued behind it): a wait PostgreSQL cannot see as a deadlock, since
            # its other half is in this process. Bounded, it fails the key read instead of hanging both.
            await connection.execute(_LOCK_TIMEOUT)
            await connection.commit()  # the setting stays for the connection's life
            if begin:
                async with connection.begin():
                    yield connection
            else:
                yield connection

    async def aclose(self) -> None:
        content.uninstall(self)
        self.forget_cached_keys()
        await self.provider.aclose()
        if self._owns_engine:
            await self.engine.dispose()

    # -- sealing and opening ---------------------------------------------------------------------------------

    async def seal(self, owner: Owner, plaintext: bytes, *, context: str | bytes) -> bytes:
        """`plaintext` sealed with `owner`'s data key (created on first use) for `context` (`context_of`)."""
        return (await self.key_for(owner)).seal(plaintext, context=context)

    async def open(self, owner: Owner, sealed: bytes, *, context: str | bytes) -> bytes:
        """The plaintext of a value sealed for `owner` and `context`. KeyDestroyed when the key that sealed it
        was crypto-erased; SealedValueInvalid when it was sealed for another owner or place, or altered."""
        key = await self.key_by_id(key_id_of(sealed))
        if key.owner != owner:
            raise SealedValueInvalid("the value was sealed for another owner")
        return key.open(sealed, context=context)

    async def seal_text(self, owner: Owner, text: str, *, context: str | bytes) -> bytes:
        return await self.seal(owner, text.encode(), context=context)

    async def open_text(self, owner: Owner, sealed: bytes, *, context: str | bytes) -> str:
        return (await self.open(owner, sealed, context=context)).decode()

    # -- keys ------------------------------------------------------------------------------------------------

    async def key_for(self, owner: Owner) -> SealingKey:
        """`owner`'s data key, created (and wrapped by the active KEK) the first time it is needed."""
        return (await self.keys_for((owner,)))[owner]

    async def keys_for(self, owners: Iterable[Owner]) -> KeySet:
        """The data keys of several owners: what is not cached comes in one query (keys missing are created)."""
        wanted = set(owners)
        found: dict[Owner, SealingKey] = {}
        missing: list[Owner] = []
        waits: dict[Owner, asyncio.Future[SealingKey]] = {}
        for owner in wanted:
            cached = self._cached_for_owner(owner)
            if cached is not None:
                found[owner] = cached
            elif owner in self._pending:
                waits[owner] = self._pending[owner]
            else:
                missing.append(owner)
        if missing:
            loop = asyncio.get_running_loop()
            futures = {owner: loop.create_future() for owner in missing}
            self._pending.update(futures)
            try:
                loaded = await self._load(missing)
                for owner, future in futures.items():
                    future.set_result(loaded[owner])
                found.update(loaded)
            except BaseException as exc:
                for future in futures.values():
                    if not future.done():
                        future.set_exception(exc)
                        # Retrieved here, so a future nobody else awaited is not reported as never retrieved.
                        future.exception()
                raise
            finally:
                for owner in missing:
                    self._pending.pop(owner, None)
        for owner, future in waits.items():
            found[owner] = await asyncio.shield(future)
        return KeySet(found)

    async def key_by_id(self, key_id: uuid.UUID) -> SealingKey:
        """The data key with this id (whichever owner's): KeyDestroyed when it no longer exists. Requests that
        miss the same key at once share one read (a burst of readers of one user's conversations on a process
        that has not cached it yet would otherwise each hold their request's connection waiting for their own)."""
        cached = self._cached(key_id)
        if cached is not None:
            return cached
        pending = self._pending_by_id.get(key_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SealingKey] = asyncio.get_running_loop().create_future()
        self._pending_by_id[key_id] = future
        try:
            async with self._connection() as connection:
                row = await repository.key_by_id(connection, key_id)
            if row is None:
                raise KeyDestroyed("the data key that sealed this value was destroyed (crypto-erase)")
            key = await self._unwrap(row)
            self._remember(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: a read nobody else awaited is not reported as never retrieved
            raise
        else:
            future.set_result(key)
            return key
        finally:
            self._pending_by_id.pop(key_id, None)

    async def erase(self, session: AsyncSession, owner_id: uuid.UUID) -> int:
        """Crypto-erase: destroy `owner_id`'s data key in the caller's unit of work (the user's deletion), so
        everything sealed with it, wherever a copy of it is (backups of the rows, the file store, replicas),
        no longer opens once the unit of work commits. Forgets the key from this process's cache then; other
        processes drop it within `key_cache_seconds`. Returns how many keys were destroyed (0 or 1)."""
        destroyed = await repository.delete_keys_of(session, owner_id)

        def forget() -> None:
            for key_id in destroyed:
                self._forget(key_id)
            self._by_owner.pop(owner_id, None)

        after_commit(session, forget, on_rollback=lambda: None)
        if destroyed:
            _logger.info("data_key_destroyed", owner_id=str(owner_id))
        return len(destroyed)

    def cached_key(self, key_id: uuid.UUID) -> SealingKey | None:
        """The data key with this id if it is in memory (no I/O; `key_by_id` fetches it otherwise)."""
        return self._cached(key_id)

    def forget_cached_keys(self) -> None:
        """Drop every unwrapped key from memory (tests; a process that wants them gone)."""
        self._by_id.clear()
        self._by_owner.clear()

    # -- internals -------------------------------------------------------------------------------------------

    async def _load(self, owners: list[Owner]) -> dict[Owner, SealingKey]:
        users = [owner for owner in owners if owner is not None]
        async with self._connection() as connection:
            rows = await repository.keys_of_owners(connection, users, system=None in owners)
        keys = await asyncio.gather(*(self._unwrap(row) for row in rows))
        loaded: dict[Owner, SealingKey] = {key.owner: key for key in keys}
        for owner in owners:
            if owner not in loaded:
                loaded[owner] = await self._create(owner)
        for key in loaded.values():
            self._remember(key)
        return loaded

    async def _create(self, owner: Owner) -> SealingKey:
        material = os.urandom(KEY_BYTES)
        key_id = uuid.uuid4()
        async with self._connection(begin=True) as connection:
            kek_id = await repository.active_kek(
                connection, provider=self.provider.name, initial=self.provider.initial_kek_id()
            )
            wrapped = await self.provider.wrap(kek_id, material, context=key_id.bytes)
            row = repository.WrappedRow(key_id, owner, kek_id, wrapped)
            created = await repository.insert_key(connection, row)
            if not created:
                existing = await repository.keys_of_owners(
                    connection, [owner] if owner is not None else [], system=owner is None
                )
        if created:
            return SealingKey(key_id, owner, material)
        # Another process created this owner's key between our read and our insert: use theirs.
        return await self._unwrap(existing[0])

    async def _unwrap(self, row: repository.WrappedRow) -> SealingKey:
        material = await self.provider.unwrap(row.kek_id, row.wrapped_key, context=row.id.bytes)
        return SealingKey(row.id, row.owner_id, material)

    def _cached(self, key_id: uuid.UUID) -> SealingKey | None:
        entry = self._by_id.get(key_id)
        if entry is None:
            return None
        key, expires = entry
        if expires < time.monotonic():
            self._forget(key_id)
            return None
        self._by_id.move_to_end(key_id)
        return key

    def _cached_for_owner(self, owner: Owner) -> SealingKey | None:
        key_id = self._by_owner.get(owner)
        return self._cached(key_id) if key_id is not None else None

    def _remember(self, key: SealingKey) -> None:
        if self._ttl <= 0:
            return
        self._by_id[key.id] = (key, time.monotonic() + self._ttl)
        self._by_id.move_to_end(key.id)
        self._by_owner[key.owner] = key.id
        while len(self._by_id) > self._max_entries:
            oldest, (evicted, _) = self._by_id.popitem(last=False)
            if self._by_owner.get(evicted.owner) == oldest:
                del self._by_owner[evicted.owner]

    def _forget(self, key_id: uuid.UUID) -> None:
        entry = self._by_id.pop(key_id, None)
        if entry is not None and self._by_owner.get(entry[0].owner) == key_id:
            del self._by_owner[entry[0].owner]
