"""groups of users, knowledge bases shared with groups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_index("uq_groups_name_lower", "groups", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index("ix_group_members_user_id", "group_members", ["user_id"], unique=False)

    op.add_column("knowledge_base_grants", sa.Column("group_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_knowledge_base_grants_group_id_groups"),
        "knowledge_base_grants",
        "groups",
        ["group_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(op.f("ck_knowledge_base_grants_one_grantee"), "knowledge_base_grants", type_="check")
    op.create_check_constraint(
        op.f("ck_knowledge_base_grants_one_grantee"),
        "knowledge_base_grants",
        "num_nonnulls(user_id, role, group_id) = 1",
    )
    op.create_index("ix_knowledge_base_grants_group_id", "knowledge_base_grants", ["group_id"], unique=False)
    op.create_index(
        "uq_knowledge_base_grants_group",
        "knowledge_base_grants",
        ["knowledge_base_id", "group_id"],
        unique=True,
        postgresql_where=sa.text("group_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_knowledge_base_grants_group", table_name="knowledge_base_grants")
    op.drop_index("ix_knowledge_base_grants_group_id", table_name="knowledge_base_grants")
    op.execute("DELETE FROM knowledge_base_grants WHERE group_id IS NOT NULL")
    op.drop_constraint(op.f("ck_knowledge_base_grants_one_grantee"), "knowledge_base_grants", type_="check")
    op.create_check_constraint(
        op.f("ck_knowledge_base_grants_one_grantee"), "knowledge_base_grants", "(user_id IS NULL) <> (role IS NULL)"
    )
    op.drop_constraint(op.f("fk_knowledge_base_grants_group_id_groups"), "knowledge_base_grants", type_="foreignkey")
    op.drop_column("knowledge_base_grants", "group_id")
    op.drop_index("ix_group_members_user_id", table_name="group_members")
    op.drop_table("group_members")
    op.drop_index("uq_groups_name_lower", table_name="groups")
    op.drop_table("groups")
