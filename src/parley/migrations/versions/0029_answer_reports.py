"""Reports of answers and the admin Review queue (issue 16): `answer_reports` (the reported exchange sealed with
the reporter's data key), `answer_report_actions` (what reviewers did, with notes) and `block_list_entries` (words
and phrases the upcoming safety policy will read)

New tables only: the previous release, still running during a rolling upgrade, ignores them.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), server_default="", nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_answer_reports_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_answer_reports_message_id_messages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["users.id"], name=op.f("fk_answer_reports_resolved_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_reports")),
    )
    op.create_index(
        "uq_answer_reports_open",
        "answer_reports",
        ["user_id", "message_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_answer_reports_created", "answer_reports", ["created_at", "id"])
    op.create_index("ix_answer_reports_status_created", "answer_reports", ["status", "created_at"])
    op.create_table(
        "answer_report_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["answer_reports.id"],
            name=op.f("fk_answer_report_actions_report_id_answer_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_answer_report_actions_actor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_report_actions")),
    )
    op.create_index(op.f("ix_answer_report_actions_report_id"), "answer_report_actions", ["report_id"], unique=False)
    op.create_table(
        "block_list_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("phrase", sa.String(200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("source_report_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_block_list_entries_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["source_report_id"],
            ["answer_reports.id"],
            name=op.f("fk_block_list_entries_source_report_id_answer_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_list_entries")),
    )
    op.create_index("uq_block_list_entries_phrase", "block_list_entries", [sa.text("lower(phrase)")], unique=True)


def downgrade() -> None:
    op.drop_table("block_list_entries")
    op.drop_table("answer_report_actions")
    op.drop_table("answer_reports")
