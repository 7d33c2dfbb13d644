from __future__ import annotations

import uuid

from pgvector.sqlalchemy import Vector
from sqlalchemy import Computed, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, UUIDPrimaryKey

# Every embedding model Parley stores yields (or is asked for) this many dimensions; HNSW needs a fixed size.
EMBEDDING_DIMENSIONS = 384


class FileChunk(UUIDPrimaryKey, Base):
    """A piece of a file's text with its vector and full-text index: the unit retrieval ranks and cites."""

    __tablename__ = "file_chunks"

    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    # The file's owner, copied here so the access filter of retrieval needs no join for own files.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    chunk_index: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int]
    # Where the text came from, for citations: page (PDF, PPTX slide), sheet (XLSX), nearest heading.
    page: Mapped[int | None]
    sheet: Mapped[str | None] = mapped_column(String(255))
    heading: Mapped[str | None] = mapped_column(Text)
    # Text that reads like instructions to the model ("ignore previous instructions"): fenced as data in prompts.
    injection_flagged: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    text_search: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector('simple', text)", persisted=True))

    __table_args__ = (
        UniqueConstraint("file_id", "chunk_index"),
        Index("ix_file_chunks_user_id", "user_id"),
        Index(
            "ix_file_chunks_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        Index("ix_file_chunks_text_search", "text_search", postgresql_using="gin"),
    )
