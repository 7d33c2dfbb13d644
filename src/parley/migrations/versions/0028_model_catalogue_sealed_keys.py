"""Model catalogue entries may store their provider API key, sealed with the system's data key (README, "Models")

An expand step: one nullable column (no rewrite). The previous release, still running during a rolling upgrade,
ignores it and builds such a model without its stored key (it answers with the provider's authentication error
until that replica is upgraded).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("model_catalogue_entries", sa.Column("api_key_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("model_catalogue_entries", "api_key_sealed")
