"""PII (issue 14): a conversation's pseudonym map (placeholder -> value), sealed

An expand step: one nullable column, no rewrite; the previous release never reads it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("pii_mapping", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("conversations", "pii_mapping")
