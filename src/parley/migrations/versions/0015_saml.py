"""SAML 2.0 single sign-on (issue 12): the assertions that signed someone in, remembered until they expire so a
replayed one is refused on every replica (identities, groups and waiting sign-ins reuse the tables of 0013)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saml_assertions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_saml_assertions")),
    )
    op.create_index("ix_saml_assertions_expires_at", "saml_assertions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_saml_assertions_expires_at", table_name="saml_assertions")
    op.drop_table("saml_assertions")
