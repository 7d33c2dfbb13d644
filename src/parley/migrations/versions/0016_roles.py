"""Custom roles (issue 12): roles administrators define as sets of permissions, a role on groups, and the finer
admin permissions

`roles` holds the custom roles (the built-in `user` and `admin` are not rows). `groups.role` names one that every
member holds. Admin routes that needed `admin:users` or `admin:audit` now need finer permissions (`admin:groups`,
`admin:plans`, `admin:models`, `admin:analytics`); API keys scoped with the old ones get the new ones too, so a
script that worked keeps working.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What each old admin scope opened that now needs a finer one.
_SPLIT_SCOPES = {
    "admin:users": ("admin:groups", "admin:plans", "admin:models"),
    "admin:audit": ("admin:analytics",),
}


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.String(length=64)), server_default="{}", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
    )
    op.add_column("groups", sa.Column("role", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_groups_role"), "groups", ["role"])
    for old, new in _SPLIT_SCOPES.items():
        op.execute(
            sa.text(
                "UPDATE api_keys SET scopes = ARRAY(SELECT DISTINCT unnest(scopes || CAST(:new AS varchar[])) "
                "ORDER BY 1) WHERE :old = ANY(scopes)"
            ).bindparams(old=old, new=list(new))
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_groups_role"), table_name="groups")
    op.drop_column("groups", "role")
    op.drop_table("roles")
