"""Encryption at rest (issue 14): an uploaded file's name, sealed with its owner's data key

An expand step: one nullable column (no rewrite). A sealed name lives in `filename_sealed` and `filename` then holds
an empty string; the previous release, still running during a rolling upgrade, shows such a file without a name
(README, "Encryption at rest", on upgrading). `parley keys seal-existing` seals the names written before.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("files", sa.Column("filename_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("files", "filename_sealed")
