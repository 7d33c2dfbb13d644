"""SCIM 2.0 provisioning (issue 12): the identity provider's ids on users and groups, deprovisioned accounts, and
the SCIM client's token

`external_id` is the IdP's own id for an account or group (SCIM `externalId`), which the IdP filters on to match its
objects with Parley's. `deprovisioned_at` marks an account the IdP deleted: it is suspended and gone from SCIM, its
data kept for retention and audit. `scim_state` is one row: the hash of the token admins created for the SCIM client,
when, and when the client last called.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Not safe under a rolling upgrade from the previous release (README, "Upgrades without downtime"): written
# before the check in parley.migrations.safety; upgrade across it with the old pods stopped.
DOWNTIME = "builds ix_users_external_id without CONCURRENTLY: sign-ins wait for the build"


def upgrade() -> None:
    op.add_column("users", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.add_column("users", sa.Column("deprovisioned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_users_external_id"), "users", ["external_id"])
    op.add_column("groups", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_groups_external_id"), "groups", ["external_id"])
    op.create_table(
        "scim_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_call_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_scim_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_state")),
    )


def downgrade() -> None:
    op.drop_table("scim_state")
    op.drop_index(op.f("ix_groups_external_id"), table_name="groups")
    op.drop_column("groups", "external_id")
    op.drop_index(op.f("ix_users_external_id"), table_name="users")
    op.drop_column("users", "deprovisioned_at")
    op.drop_column("users", "external_id")
