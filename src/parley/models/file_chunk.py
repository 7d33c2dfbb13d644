from __future__ import annotations

import uuid

from pgvector.sqlalchemy import Vector
from sqlalchemy import Computed, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from parley.kit.languages import UNSTEMMED, text_search_language
from parley.models.base import Base, UUIDPrimaryKey

# Every embedding model Parley stores yields (or is asked for) this many dimensions; HNSW needs a fixed size.
EMBEDDING_DIMENSIONS = 384


def _language_of_text(context: DefaultExecutionContext) -> str:
    # Decided where the row is written, from the row's own text, so every writer (ingestion's bulk insert, a
    # test's session.add) indexes a chunk in its language without having to know about it.
    return text_search_language(str(context.get_current_parameters()["text"]))  # type: ignore[no-untyped-call]


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
    # The text-search configuration of the text's language (english, german, …; `simple` when unclear): the
    # full-text index stems each chunk as its own language does (kit/languages.py).
    language: Mapped[str] = mapped_column(
        REGCONFIG, default=_language_of_text, server_default=sql_text(f"'{UNSTEMMED}'::regconfig")
    )
    text_search: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector(language, text)", persisted=True))
    # README, "Encryption at rest": `text` is sealed with the owner's data key, and the keyword search matches
    # blind-index tokens of its words and stems under the deployment's key (`parley.crypto.content`).
    search_terms: Mapped[list[bytes] | None] = mapped_column(ARRAY(LargeBinary))

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
        Index("ix_file_chunks_search_terms", "search_terms", postgresql_using="gin"),
    )
