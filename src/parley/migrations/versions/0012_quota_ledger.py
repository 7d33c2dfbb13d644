"""the quota ledger moves out of PostgreSQL reservations (issue 11)

Answers' holds on quotas (reservations) now live in the live ledger (`parley.quotas.ledger`: in process, or on
Redis for replicas), where an admission reads and holds in one step without a database round trip before the
first token. `quota_counters` stays the record of spend; `quota_reservations` goes. Holds are short-lived (an
answer's length), so none needs carrying over: answers being written during the upgrade settle against nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Not safe under a rolling upgrade from the previous release (README, "Upgrades without downtime"): written
# before the check in parley.migrations.safety; upgrade across it with the old pods stopped.
DOWNTIME = (
    "drops quota_reservations in the release whose code stopped using it: the previous release's answers "
    "still hold quota there"
)


def upgrade() -> None:
    op.drop_index("ix_quota_reservations_group_ids", table_name="quota_reservations")
    op.drop_index("ix_quota_reservations_user_expires", table_name="quota_reservations")
    op.drop_table("quota_reservations")


def downgrade() -> None:
    op.create_table(
        "quota_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("group_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Numeric(14, 6), server_default="0", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quota_reservations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_reservations")),
    )
    op.create_index("ix_quota_reservations_user_expires", "quota_reservations", ["user_id", "expires_at"])
    op.create_index("ix_quota_reservations_group_ids", "quota_reservations", ["group_ids"], postgresql_using="gin")
