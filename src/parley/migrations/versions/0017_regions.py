"""Multi-region (issue 13): users record their home region, and conversations, files (knowledge-base documents
are files) and knowledge bases the region that stored them

An expand step: nullable columns without a rewrite, so the previous release keeps running beside the new one
during a rolling upgrade (README, "Upgrades without downtime"). Existing rows keep NULL (a single-region
deployment, or data stored before the region was set).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REGION_COLUMNS = {
    "users": "home_region",
    "conversations": "region",
    "files": "region",
    "knowledge_bases": "region",
}


def upgrade() -> None:
    for table, column in _REGION_COLUMNS.items():
        op.add_column(table, sa.Column(column, sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table, column in _REGION_COLUMNS.items():
        op.drop_column(table, column)
