from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, UUIDPrimaryKey


class AuditEvent(UUIDPrimaryKey, Base):
    """Who did what to what, from where and when. Rows are only ever inserted.

    The rows form a hash chain (`parley.audit.chain`): at commit a deferred trigger gives each new row the next
    `seq`, the previous row's hash (`prev_hash`) and its own `hash` over its content and `prev_hash`. A row read
    before its transaction committed has all three NULL. `actor_id` has no foreign key on purpose: deleting a user
    must not rewrite (SET NULL) the rows that name them, which would break the chain; after an erasure the id is
    a pseudonym that points at nothing."""

    __tablename__ = "audit_events"

    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_created_at", "created_at"),
        Index("ix_audit_events_actor_created", "actor_id", "created_at"),
        Index("ix_audit_events_action_created", "action", "created_at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
    )


class AuditChainHead(Base):
    """The newest link of the audit chain: one row (id 1), locked by the chain trigger at each commit that adds
    audit rows, so appends from every replica and transaction are chained one at a time, in commit order."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AuditCheckpoint(UUIDPrimaryKey, Base):
    """A signed statement that the chain's row `seq` had hash `hash` at `created_at` (Ed25519 over
    `parley.audit.chain.checkpoint_message`): a rewrite of the chain up to `seq` no longer matches it."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    # The first 16 hex digits of SHA-256 over the raw public key that signed it.
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_audit_checkpoints_seq", "seq"),)
