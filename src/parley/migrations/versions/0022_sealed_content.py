"""Encryption at rest (issue 14): a conversation's sealed title; blind-index tokens of messages, titles, chunks

An expand step: nullable columns (no rewrite) and GIN indexes built concurrently; the previous release never
reads them. Sealed message text, summaries and chunk text stay in their text columns behind a
marker (`parley.crypto.content`); the previous release would show a sealed value as it is (README, "Encryption at
rest", on upgrading). The generated tsvector columns then index only ciphertext; dropping them is the next
release's contract step.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("title_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("conversations", sa.Column("search_terms", postgresql.ARRAY(sa.LargeBinary()), nullable=True))
    op.add_column("messages", sa.Column("search_terms", postgresql.ARRAY(sa.LargeBinary()), nullable=True))
    op.add_column("file_chunks", sa.Column("search_terms", postgresql.ARRAY(sa.LargeBinary()), nullable=True))
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_conversations_search_terms",
            "conversations",
            ["search_terms"],
            postgresql_using="gin",
            postgresql_concurrently=True,
        )
        op.create_index(
            "ix_file_chunks_search_terms",
            "file_chunks",
            ["search_terms"],
            postgresql_using="gin",
            postgresql_concurrently=True,
        )
        op.create_index(
            "ix_messages_search_terms",
            "messages",
            ["search_terms"],
            postgresql_using="gin",
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index("ix_messages_search_terms", table_name="messages")
    op.drop_index("ix_file_chunks_search_terms", table_name="file_chunks")
    op.drop_column("file_chunks", "search_terms")
    op.drop_index("ix_conversations_search_terms", table_name="conversations")
    op.drop_column("messages", "search_terms")
    op.drop_column("conversations", "search_terms")
    op.drop_column("conversations", "title_sealed")
