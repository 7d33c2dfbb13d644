"""OpenAI's Batch API on /v1 (issue 15): the files of `/v1/files`, the batches of `/v1/batches`, and the results of
a running batch's lines (kept until its result files are written)

An expand step: three new tables, nothing else changes, so the previous release keeps running beside the new one
during a rolling upgrade (README, "Upgrades without downtime").

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "batch_files",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("filename_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_batch_files_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_files")),
    )
    op.create_index("ix_batch_files_user_created", "batch_files", ["user_id", "created_at"])
    timestamps = ("expires_at", "in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at")
    op.create_table(
        "batches",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("completion_window", sa.String(length=16), nullable=False),
        sa.Column("input_file_id", sa.Uuid(), nullable=True),
        sa.Column("output_file_id", sa.Uuid(), nullable=True),
        sa.Column("error_file_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="validating", nullable=False),
        sa.Column("metadata_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("total_lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completed_lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default="0", nullable=False),
        *(sa.Column(name, sa.DateTime(timezone=True), nullable=name != "expires_at") for name in timestamps),
        sa.Column("cancelling_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_batches_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_batches_api_key_id_api_keys"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["input_file_id"],
            ["batch_files.id"],
            name=op.f("fk_batches_input_file_id_batch_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["output_file_id"],
            ["batch_files.id"],
            name=op.f("fk_batches_output_file_id_batch_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["error_file_id"],
            ["batch_files.id"],
            name=op.f("fk_batches_error_file_id_batch_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index("ix_batches_user_created", "batches", ["user_id", "created_at"])
    op.create_table(
        "batch_results",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("content_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_batch_results_batch_id_batches"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("batch_id", "line", name=op.f("pk_batch_results")),
    )


def downgrade() -> None:
    op.drop_table("batch_results")
    op.drop_index("ix_batches_user_created", table_name="batches")
    op.drop_table("batches")
    op.drop_index("ix_batch_files_user_created", table_name="batch_files")
    op.drop_table("batch_files")
