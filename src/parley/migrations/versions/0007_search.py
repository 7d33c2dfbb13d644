"""document search: language-aware keyword arm (issue 10, item 21)

Each chunk gets the text-search configuration of its language (`language`, english/german/…/simple) and its
full-text vector is stemmed with it (`to_tsvector(language, text)`), instead of the unstemmed `simple` for all.
Existing chunks are classified here, in batches, by the same detector ingestion uses.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.kit.languages import UNSTEMMED, text_search_language

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Not safe under a rolling upgrade from the previous release (README, "Upgrades without downtime"): written
# before the check in parley.migrations.safety; upgrade across it with the old pods stopped.
DOWNTIME = (
    "drops and re-creates file_chunks.text_search, which the previous release's search reads, and "
    "rebuilds its index under lock"
)

_BATCH = 2000


def _classify_existing_chunks() -> None:
    connection = op.get_bind()
    after = None
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, text FROM file_chunks WHERE (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid))"
                " ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": _BATCH},
        ).all()
        if not rows:
            return
        languages = [(row.id, text_search_language(row.text)) for row in rows]
        stemmed = [(chunk_id, language) for chunk_id, language in languages if language != UNSTEMMED]
        if stemmed:
            connection.execute(
                sa.text(
                    "UPDATE file_chunks ch SET language = CAST(l.language AS regconfig)"
                    " FROM unnest(CAST(:ids AS uuid[]), CAST(:languages AS text[])) AS l(id, language)"
                    " WHERE ch.id = l.id"
                ),
                {"ids": [c for c, _ in stemmed], "languages": [lang for _, lang in stemmed]},
            )
        after = rows[-1].id


def upgrade() -> None:
    # The stemmed vector is computed once, after every chunk has its language.
    op.drop_index("ix_file_chunks_text_search", table_name="file_chunks", postgresql_using="gin")
    op.drop_column("file_chunks", "text_search")
    op.add_column(
        "file_chunks",
        sa.Column("language", postgresql.REGCONFIG(), server_default=sa.text("'simple'::regconfig"), nullable=False),
    )
    _classify_existing_chunks()
    op.add_column(
        "file_chunks",
        sa.Column(
            "text_search",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector(language, text)", persisted=True),
            nullable=False,
        ),
    )
    op.create_index("ix_file_chunks_text_search", "file_chunks", ["text_search"], unique=False, postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_file_chunks_text_search", table_name="file_chunks", postgresql_using="gin")
    op.drop_column("file_chunks", "text_search")
    op.drop_column("file_chunks", "language")
    op.add_column(
        "file_chunks",
        sa.Column(
            "text_search",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', text)", persisted=True),
            nullable=False,
        ),
    )
    op.create_index("ix_file_chunks_text_search", "file_chunks", ["text_search"], unique=False, postgresql_using="gin")
