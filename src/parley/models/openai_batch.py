"""The `/v1/files` and `/v1/batches` of OpenAI's Batch API (`parley.batches`): a file's bytes live in the storage
layer (sealed with their owner's data key), its name sealed here; a batch's results are kept line by line while it
runs (sealed), so a worker that dies resumes where it stopped, and are gathered into result files at the end."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class BatchFile(UUIDPrimaryKey, Timestamps, Base):
    """A file of the OpenAI Files API (`file-<hex id>`): a batch's input, or the output/error file of a batch."""

    __tablename__ = "batch_files"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # batch | batch_output
    purpose: Mapped[str] = mapped_column(String(32))
    # The name as uploaded, sealed with the owner's data key.
    filename_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(500))

    region: Mapped[str | None] = mapped_column(String(32))
    __region_attribute__ = "region"

    __table_args__ = (Index("ix_batch_files_user_created", "user_id", "created_at"),)


class Batch(UUIDPrimaryKey, Timestamps, Base):
    """A batch (`batch_<hex id>`): its input file's lines run by the job workers, one at a time."""

    __tablename__ = "batches"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The key that created it: its lines run as that key (its scopes, its rate limits, its usage rows).
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    endpoint: Mapped[str] = mapped_column(String(64))
    completion_window: Mapped[str] = mapped_column(String(16))
    input_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batch_files.id", ondelete="SET NULL"))
    output_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batch_files.id", ondelete="SET NULL"))
    error_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batch_files.id", ondelete="SET NULL"))
    # validating | in_progress | finalizing | completed | failed | cancelling | cancelled | expired
    status: Mapped[str] = mapped_column(String(16), server_default="validating")
    # The caller's metadata (JSON), sealed with the owner's data key.
    metadata_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # OpenAI's `errors` of a batch that failed as a whole: [{code, message, param, line}].
    errors: Mapped[list[dict[str, object]] | None] = mapped_column(JSONB)
    total_lines: Mapped[int] = mapped_column(server_default="0")
    completed_lines: Mapped[int] = mapped_column(server_default="0")
    failed_lines: Mapped[int] = mapped_column(server_default="0")
    # Tokens the batch's lines spent, for the batch's `usage`.
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    expires_at: Mapped[datetime]
    in_progress_at: Mapped[datetime | None]
    finalizing_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    cancelling_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    region: Mapped[str | None] = mapped_column(String(32))
    __region_attribute__ = "region"

    __table_args__ = (Index("ix_batches_user_created", "user_id", "created_at"),)


class BatchResult(Base):
    """The result of one line of a running batch (its output or error line, sealed), kept until the batch's
    result files are written: a line with a result is never run again."""

    __tablename__ = "batch_results"

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    # The line's number in the input file (1-based).
    line: Mapped[int] = mapped_column(primary_key=True)
    failed: Mapped[bool]
    content_sealed: Mapped[bytes] = mapped_column(LargeBinary)
