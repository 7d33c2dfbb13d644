"""jobs: fair claiming per owner and time budgets (issue 10, items 2 and 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Not safe under a rolling upgrade from the previous release (README, "Upgrades without downtime"): written
# before the check in parley.migrations.safety; upgrade across it with the old pods stopped.
DOWNTIME = "builds ix_jobs_running_owner without CONCURRENTLY: enqueuing jobs waits for the build"


def upgrade() -> None:
    # Whose job it is: the claim prefers (and caps) owners by how many of their jobs are running.
    op.add_column("jobs", sa.Column("owner_key", sa.String(length=64), nullable=True))
    op.create_index("ix_jobs_running_owner", "jobs", ["owner_key"], postgresql_where=sa.text("status = 'running'"))


def downgrade() -> None:
    op.drop_index("ix_jobs_running_owner", table_name="jobs")
    op.drop_column("jobs", "owner_key")
