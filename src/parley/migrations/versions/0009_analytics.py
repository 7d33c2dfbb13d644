"""analytics: cost centres for chargeback (issue 11)

Users get an optional `cost_centre` (free text an admin sets, e.g. "CC-4711 Finance") so the admin analytics can be
grouped and exported per cost centre. Nothing else is needed: usage_logs already holds tokens, cost and latencies,
and messages hold each answer's finish reason.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 04:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("cost_centre", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "cost_centre")
