"""Stored responses of /v1/responses (issue 15) are conversations of their owner: `conversations.source` tells them
(`responses`) from the web chat's (`chat`), which alone its history lists

An expand step: one column with a constant default (no table rewrite in PostgreSQL 11+); the previous release,
still running during a rolling upgrade, ignores it (and would list stored responses in the chat history, as
conversations it cannot open meaningfully, until it is gone).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 02:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("source", sa.String(16), server_default="chat", nullable=False))


def downgrade() -> None:
    op.drop_column("conversations", "source")
