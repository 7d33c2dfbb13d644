"""model catalogue managed at run time: admins' entries over the models file (issue 15)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table only: the previous release never reads it (it serves the models file as it is).
    op.execute("CREATE SEQUENCE model_catalogue_revision")
    op.create_table(
        "model_catalogue_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "revision", sa.BigInteger(), server_default=sa.text("nextval('model_catalogue_revision')"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_catalogue_entries")),
        sa.UniqueConstraint("name", name=op.f("uq_model_catalogue_entries_name")),
    )


def downgrade() -> None:
    op.drop_table("model_catalogue_entries")
    op.execute("DROP SEQUENCE model_catalogue_revision")
