"""quotas: token quotas and budgets with reservations, limit overrides, refusals, response-cache savings (issue 11)

- `users.limits` / `groups.limits`: an admin's overrides of plan limits (only the keys set; a group may also carry
  `shared_usd_budget_per_month`, a department's spend cap its members draw on).
- `quota_counters`: what a user or a group (by id; user and group ids never collide) spent per UTC day: the
  ledger limits are enforced against, written in the same transaction as each usage row.
- `quota_reservations`: what answers being written have reserved (estimate of prompt + max output) until they
  settle; a reservation left by a process that died counts until `expires_at`.
- `quota_alerts`: each 80 % / 100 % crossing of a limit in a period, once (the `quota.warning` / `quota.exceeded`
  events are written only by whoever inserts it).
- `limit_refusals`: requests refused by a limit, per day, user and limit (for the analytics).
- `usage_logs.cache_hit` / `saved_usd`: answers served from the response cache and what they would have cost.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("limits", postgresql.JSONB(), nullable=True))
    op.add_column("groups", sa.Column("limits", postgresql.JSONB(), nullable=True))
    op.create_table(
        "quota_counters",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Numeric(14, 6), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "day", name=op.f("pk_quota_counters")),
    )
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
    op.create_table(
        "quota_alerts",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("limit_name", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.Numeric(4, 2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "period_start", "limit_name", "threshold", name=op.f("pk_quota_alerts")),
    )
    op.create_table(
        "limit_refusals",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("limit_name", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_limit_refusals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("day", "user_id", "limit_name", name=op.f("pk_limit_refusals")),
    )
    op.add_column("usage_logs", sa.Column("cache_hit", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("usage_logs", sa.Column("saved_usd", sa.Numeric(14, 6), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("usage_logs", "saved_usd")
    op.drop_column("usage_logs", "cache_hit")
    op.drop_table("limit_refusals")
    op.drop_table("quota_alerts")
    op.drop_index("ix_quota_reservations_group_ids", table_name="quota_reservations")
    op.drop_index("ix_quota_reservations_user_expires", table_name="quota_reservations")
    op.drop_table("quota_reservations")
    op.drop_table("quota_counters")
    op.drop_column("groups", "limits")
    op.drop_column("users", "limits")
