"""Signed checkpoints of the audit chain: every `PARLEY_AUDIT__CHECKPOINT_INTERVAL_SECONDS` one replica signs
the chain's head (seq and hash) with the audit signing key and stores the signature. Whoever rewrites the chain
up to a checkpoint (changing a row and recomputing every hash after it) cannot make it match the signature."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.audit.chain import checkpoint_message
from parley.audit.signing import CheckpointSigner
from parley.db import Database
from parley.models.audit_event import AuditChainHead, AuditCheckpoint

_logger = structlog.get_logger("parley.audit")
# Any constant, the same in every replica: one of them signs at a time.
_CHECKPOINT_LOCK_KEY = 0x5041524C4541


async def write_checkpoint(session: AsyncSession, signer: CheckpointSigner) -> AuditCheckpoint | None:
    """Sign the chain's head unless a checkpoint already covers it (or another replica is signing right now);
    the new checkpoint, or None. In the caller's transaction."""
    locked = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _CHECKPOINT_LOCK_KEY})
    if not locked:
        return None
    head = await session.get(AuditChainHead, 1)
    if head is None or head.seq == 0:
        return None
    newest = await session.scalar(select(func.max(AuditCheckpoint.seq)))
    if newest is not None and newest >= head.seq:
        return None
    created_at = datetime.now(UTC)
    checkpoint = AuditCheckpoint(
        seq=head.seq,
        hash=head.hash,
        created_at=created_at,
        key_id=signer.key_id,
        public_key=signer.public_key,
        signature=signer.sign(checkpoint_message(head.seq, head.hash, created_at)),
    )
    session.add(checkpoint)
    await session.flush()
    return checkpoint


class CheckpointSchedule:
    """Signs a checkpoint every `interval_seconds` while the app runs (a task of the app's lifespan)."""

    def __init__(self, database: Database, signer: CheckpointSigner, *, interval_seconds: float) -> None:
        self._database = database
        self._signer = signer
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> AuditCheckpoint | None:
        async with self._database.session() as session:
            return await write_checkpoint(session, self._signer)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                checkpoint = await self.run_once()
            except (OSError, TimeoutError, SQLAlchemyError) as exc:
                # The database is away: the next round signs whatever the head is by then.
                _logger.warning("audit_checkpoint_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            if checkpoint is not None:
                _logger.info("audit_checkpoint", seq=checkpoint.seq, key_id=checkpoint.key_id)
