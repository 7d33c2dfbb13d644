"""message feedback: a user's thumbs up / down (and optional comment) on an assistant answer (issue 11)

Stored on the answer itself (one rating per answer, by its conversation's owner): reading a conversation needs no
join, and deleting or regenerating the answer removes its rating with it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("feedback_rating", sa.SmallInteger(), nullable=True))
    op.add_column("messages", sa.Column("feedback_comment", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_messages_feedback_rating"), "messages", "feedback_rating IS NULL OR feedback_rating IN (1, -1)"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_messages_feedback_rating"), "messages", type_="check")
    op.drop_column("messages", "feedback_at")
    op.drop_column("messages", "feedback_comment")
    op.drop_column("messages", "feedback_rating")
