"""Encryption at rest (issue 14): a knowledge base's name sealed with its owner's data key (its description is sealed
in place behind the marker, as message text is)

An expand step: one nullable column (no rewrite). A sealed name lives in `name_sealed` and `name` then holds an
empty string; the previous release, still running during a rolling upgrade, shows such a knowledge base without a
name and a sealed description as its marker text (README, "Encryption at rest", on upgrading).
`parley keys seal-existing` seals those written before.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_bases", sa.Column("name_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("knowledge_bases", "name_sealed")
