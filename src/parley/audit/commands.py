"""`parley audit verify` and `parley audit checkpoint` (README, "Audit trail")."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit import chain
from parley.audit.checkpoints import write_checkpoint
from parley.audit.signing import SigningKeyError, configured_signer, existing_signer, read_public_key
from parley.config import Settings
from parley.db import Database, StartupError, create_engine, start_embedded_postgres, verify_database
from parley.migrations.runner import is_current

T = TypeVar("T")


def run_verify(settings: Settings, public_keys: list[str]) -> int:
    """Walk the chain; print the verdict. 0: intact; 1: broken (the first bad row is named); 2: cannot check."""
    try:
        trusted = [read_public_key(key) for key in [*settings.audit.trusted_public_keys, *public_keys]]
        signer = existing_signer(settings.audit, settings.resolved_data_dir)
    except SigningKeyError as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    if signer is not None:
        trusted.append(signer.public_key)

    async def walk(session: AsyncSession) -> chain.Verdict:
        return await chain.verify(session, trusted_public_keys=trusted)

    try:
        verdict = _with_session(settings, walk)
    except StartupError as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    if not trusted and verdict.checkpoints:
        print(
            f"warning: no trusted public key (no signing key at {settings.audit.key_file(settings.resolved_data_dir)},"
            f" no --public-key): the signatures of {verdict.checkpoints} checkpoint(s) were not checked",
            file=sys.stderr,
        )
    print(verdict.summary())
    if verdict.problem is not None and verdict.problem.event_id is not None:
        print(f"first bad row: seq {verdict.problem.seq}, id {verdict.problem.event_id} ({verdict.problem.kind})")
    return 0 if verdict.ok else 1


def run_checkpoint(settings: Settings) -> int:
    """Sign the chain's head now (the server also does it every PARLEY_AUDIT__CHECKPOINT_INTERVAL_SECONDS)."""
    try:
        signer = configured_signer(settings.audit, settings.resolved_data_dir)
    except SigningKeyError as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2

    async def sign(session: AsyncSession) -> str:
        checkpoint = await write_checkpoint(session, signer)
        await session.commit()
        if checkpoint is None:
            return "nothing to sign: the newest checkpoint already covers the chain's head"
        return f"signed checkpoint at row #{checkpoint.seq} with key {checkpoint.key_id}"

    try:
        print(_with_session(settings, sign))
    except StartupError as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one session on the install's database (the embedded one under the data dir when no
    DATABASE_URL is set), which must be at the newest migration: verifying changes nothing, not even the schema."""
    embedded = None if settings.database_url else start_embedded_postgres(settings.resolved_data_dir)
    url = settings.database_url or (embedded.url if embedded else "")

    async def run() -> T:
        await verify_database(url)
        database = Database(create_engine(url, settings))
        try:
            if not await is_current(database.engine):
                raise StartupError("the database is not at the newest migration: run `parley migrate` first")
            async with database.sessionmaker() as session:
                return await work(session)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    finally:
        if embedded is not None:
            embedded.stop()
