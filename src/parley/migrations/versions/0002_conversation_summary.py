"""conversation summary of turns that no longer fit the context window; message order

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Not safe under a rolling upgrade from the previous release (README, "Upgrades without downtime"): written
# before the check in parley.migrations.safety; upgrade across it with the old pods stopped.
DOWNTIME = (
    "builds its message indexes and unique (conversation_id, seq) constraint without CONCURRENTLY: writes "
    "to messages wait for the builds"
)


def upgrade() -> None:
    op.add_column("conversations", sa.Column("summary", sa.Text(), nullable=True))
    op.add_column("conversations", sa.Column("summary_through_message_id", sa.Uuid(), nullable=True))
    op.add_column("messages", sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False))
    op.create_unique_constraint(op.f("uq_messages_seq"), "messages", ["seq"])
    op.create_index("ix_messages_conversation_seq", "messages", ["conversation_id", "seq"])
    # Generations still running (finish_reason NULL) are found by the interrupted-answer sweep.
    op.create_index(
        "ix_messages_unfinished",
        "messages",
        ["updated_at"],
        postgresql_where=sa.text("finish_reason IS NULL AND role = 'assistant'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unfinished", table_name="messages")
    op.drop_index("ix_messages_conversation_seq", table_name="messages")
    op.drop_constraint(op.f("uq_messages_seq"), "messages", type_="unique")
    op.drop_column("messages", "seq")
    op.drop_column("conversations", "summary_through_message_id")
    op.drop_column("conversations", "summary")
