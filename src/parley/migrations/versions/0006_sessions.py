"""sessions: revocation that takes effect at once, refresh grace (issue 10, items 6-8)

Every call with an access token now checks that its session (refresh-token family) is still open; the partial
index on the open families' tokens makes that one index probe, and replaces the index on every token's family.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Not safe under a rolling upgrade from the previous release (README, "Upgrades without downtime"): written
# before the check in parley.migrations.safety; upgrade across it with the old pods stopped.
DOWNTIME = "builds ix_refresh_tokens_open_family_id without CONCURRENTLY: sign-ins and refreshes wait for the build"


def upgrade() -> None:
    op.create_index(
        "ix_refresh_tokens_open_family_id",
        "refresh_tokens",
        ["family_id"],
        unique=False,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")


def downgrade() -> None:
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], unique=False)
    op.drop_index("ix_refresh_tokens_open_family_id", table_name="refresh_tokens")
