"""files, chunks, knowledge bases, jobs outbox, citations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 17:24:15.253477
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_claimable",
        "jobs",
        ["run_after"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index("ix_jobs_kind_created", "jobs", ["kind", "created_at"], unique=False)
    op.create_table(
        "knowledge_bases",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_knowledge_bases_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_bases")),
    )
    op.create_index("ix_knowledge_bases_owner_created", "knowledge_bases", ["owner_id", "created_at"], unique=False)
    op.create_table(
        "conversation_knowledge_bases",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("knowledge_base_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_knowledge_bases_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["knowledge_base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_conversation_knowledge_bases_knowledge_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "knowledge_base_id", name=op.f("pk_conversation_knowledge_bases")),
    )
    op.create_index(
        "ix_conversation_knowledge_bases_kb", "conversation_knowledge_bases", ["knowledge_base_id"], unique=False
    )
    op.create_table(
        "knowledge_base_grants",
        sa.Column("knowledge_base_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("permission", sa.String(length=16), server_default="read", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("permission IN ('read', 'write')", name=op.f("ck_knowledge_base_grants_permission")),
        sa.CheckConstraint("(user_id IS NULL) <> (role IS NULL)", name=op.f("ck_knowledge_base_grants_one_grantee")),
        sa.ForeignKeyConstraint(
            ["knowledge_base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_knowledge_base_grants_knowledge_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_knowledge_base_grants_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_base_grants")),
    )
    op.create_index("ix_knowledge_base_grants_role", "knowledge_base_grants", ["role"], unique=False)
    op.create_index("ix_knowledge_base_grants_user_id", "knowledge_base_grants", ["user_id"], unique=False)
    op.create_index(
        "uq_knowledge_base_grants_role",
        "knowledge_base_grants",
        ["knowledge_base_id", "role"],
        unique=True,
        postgresql_where=sa.text("role IS NOT NULL"),
    )
    op.create_index(
        "uq_knowledge_base_grants_user",
        "knowledge_base_grants",
        ["knowledge_base_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_table(
        "file_chunks",
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("sheet", sa.String(length=255), nullable=True),
        sa.Column("heading", sa.Text(), nullable=True),
        sa.Column("injection_flagged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("embedding", Vector(384), nullable=True),
        sa.Column(
            "text_search",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', text)", persisted=True),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_file_chunks_file_id_files"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_file_chunks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_chunks")),
        sa.UniqueConstraint("file_id", "chunk_index", name=op.f("uq_file_chunks_file_id")),
    )
    op.create_index(
        "ix_file_chunks_embedding_hnsw",
        "file_chunks",
        ["embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.create_index("ix_file_chunks_text_search", "file_chunks", ["text_search"], unique=False, postgresql_using="gin")
    op.create_index("ix_file_chunks_user_id", "file_chunks", ["user_id"], unique=False)
    op.create_table(
        "knowledge_base_files",
        sa.Column("knowledge_base_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_knowledge_base_files_file_id_files"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["knowledge_base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_knowledge_base_files_knowledge_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("knowledge_base_id", "file_id", name=op.f("pk_knowledge_base_files")),
    )
    op.create_index("ix_knowledge_base_files_file_id", "knowledge_base_files", ["file_id"], unique=False)
    op.add_column(
        "files",
        sa.Column("mime_type", sa.String(length=100), server_default="application/octet-stream", nullable=False),
    )
    op.add_column("files", sa.Column("page_count", sa.Integer(), nullable=True))
    op.add_column("files", sa.Column("chunk_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("files", sa.Column("embedding_model", sa.String(length=100), nullable=True))
    op.add_column("messages", sa.Column("citations", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "citations")
    op.drop_column("files", "embedding_model")
    op.drop_column("files", "chunk_count")
    op.drop_column("files", "page_count")
    op.drop_column("files", "mime_type")
    op.drop_index("ix_knowledge_base_files_file_id", table_name="knowledge_base_files")
    op.drop_table("knowledge_base_files")
    op.drop_index("ix_file_chunks_user_id", table_name="file_chunks")
    op.drop_index("ix_file_chunks_text_search", table_name="file_chunks", postgresql_using="gin")
    op.drop_index(
        "ix_file_chunks_embedding_hnsw",
        table_name="file_chunks",
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.drop_table("file_chunks")
    op.drop_index(
        "uq_knowledge_base_grants_user",
        table_name="knowledge_base_grants",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_knowledge_base_grants_role",
        table_name="knowledge_base_grants",
        postgresql_where=sa.text("role IS NOT NULL"),
    )
    op.drop_index("ix_knowledge_base_grants_user_id", table_name="knowledge_base_grants")
    op.drop_index("ix_knowledge_base_grants_role", table_name="knowledge_base_grants")
    op.drop_table("knowledge_base_grants")
    op.drop_index("ix_conversation_knowledge_bases_kb", table_name="conversation_knowledge_bases")
    op.drop_table("conversation_knowledge_bases")
    op.drop_index("ix_knowledge_bases_owner_created", table_name="knowledge_bases")
    op.drop_table("knowledge_bases")
    op.drop_index("ix_jobs_kind_created", table_name="jobs")
    op.drop_index("ix_jobs_claimable", table_name="jobs", postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.drop_table("jobs")
