from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, UUIDPrimaryKey


class DataKey(UUIDPrimaryKey, Base):
    """A data key (AES-256) of one owner, wrapped by a key-encryption key that never enters the database
    (`parley.crypto`). Deleting the row is the crypto-erase of everything sealed with it. Sealed values name the
    key by `id`, so values sealed with a destroyed key stay unreadable even if the owner gets a new one."""

    __tablename__ = "data_keys"

    # The user the key belongs to; None: the system's key (data no user owns, e.g. stored secrets). No foreign
    # key: the key is created in a transaction of its own, possibly before the user's row is committed, and
    # is destroyed explicitly by the erasure (`Crypto.erase`).
    owner_id: Mapped[uuid.UUID | None]
    # Which KEK wrapped it (`local:<id>`, `aws-kms:<key>`, `vault:<mount>/<key>`).
    kek_id: Mapped[str] = mapped_column(String(300))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # When it was last wrapped (created or re-wrapped by `parley keys rotate`).
    wrapped_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("uq_data_keys_owner_id", "owner_id", unique=True),
        # One system key: NULLs are distinct in a plain unique index.
        Index(
            "uq_data_keys_system", text("(owner_id IS NULL)"), unique=True, postgresql_where=text("owner_id IS NULL")
        ),
        Index("ix_data_keys_kek_id", "kek_id"),
    )


class KeyEncryptionKey(Base):
    """A KEK that wraps (or wrapped) data keys: exactly one is `active` (new data keys are wrapped by it); during
    `parley keys rotate` the previous one is `retiring` (still unwrapped by every replica) until no data key is
    wrapped by it, then `retired`."""

    __tablename__ = "key_encryption_keys"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    retired_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_key_encryption_keys_active", "state", unique=True, postgresql_where=text("state = 'active'")),
    )
