"""Encryption at rest (issue 14): users' data keys, wrapped by a key-encryption key kept outside the database,
and the registry of those KEKs (which one wraps new data keys; which are being retired by a rotation)

An expand step: two new tables, so the previous release keeps running beside the new one during a rolling
upgrade (README, "Upgrades without downtime").

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("kek_id", sa.String(length=300), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("wrapped_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    op.create_index("uq_data_keys_owner_id", "data_keys", ["owner_id"], unique=True)
    op.create_index(
        "uq_data_keys_system",
        "data_keys",
        [sa.text("(owner_id IS NULL)")],
        unique=True,
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    op.create_index("ix_data_keys_kek_id", "data_keys", ["kek_id"])
    op.create_table(
        "key_encryption_keys",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_encryption_keys")),
    )
    op.create_index(
        "uq_key_encryption_keys_active",
        "key_encryption_keys",
        ["state"],
        unique=True,
        postgresql_where=sa.text("state = 'active'"),
    )


def downgrade() -> None:
    op.drop_table("key_encryption_keys")
    op.drop_table("data_keys")
