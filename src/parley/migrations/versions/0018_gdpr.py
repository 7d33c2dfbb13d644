"""GDPR and retention (issue 14): users' legal hold and erasure tombstones, and the data exports users ask for

An expand step: nullable columns on `users` (no rewrite) and a new table, so the previous release keeps running
beside the new one during a rolling upgrade (README, "Upgrades without downtime").

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("legal_hold_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("legal_hold_reason", sa.String(length=500), nullable=True))
    op.add_column("users", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "user_exports",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_exports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_exports")),
    )
    op.create_index("ix_user_exports_user_created", "user_exports", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_user_exports_user_created", table_name="user_exports")
    op.drop_table("user_exports")
    op.drop_column("users", "erased_at")
    op.drop_column("users", "legal_hold_reason")
    op.drop_column("users", "legal_hold_at")
