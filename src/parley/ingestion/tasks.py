"""The `ingest_file` job: an uploaded file's bytes become chunks with vectors, and the file becomes `ready`.

Idempotent: every run first deletes the chunks a previous (crashed or retried) run left, and a file that is
already `ready` with the configured embedding model is left alone, so a job delivered twice costs nothing.
A file deleted meanwhile is nothing to do. Extraction runs in a child process with a memory ceiling and a
time limit (`ReadingSandbox`), chunking in a worker thread, embedding in the embedder's own pool; no
transaction stays open while the CPU works, and chunks are written in batches of `INSERT_BATCH`, so a
1000-page document holds neither a connection nor all its vectors for long. A file yields at most
`max_chunks_per_file` chunks, and the whole job runs within the jobs' time budget.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update

from parley.config import Settings
from parley.crypto import content as sealed
from parley.db import Database
from parley.embeddings import Embedder, EmbeddingError, count_tokens
from parley.ingestion.chunking import Chunk, chunk_sections
from parley.ingestion.extraction import ExtractedDocument, ExtractionError
from parley.ingestion.injection import looks_like_instructions
from parley.ingestion.sandbox import ReadingLimits, ReadingSandbox
from parley.jobs import PermanentJobError
from parley.jobs.worker import TIME_BUDGET_EXCEEDED
from parley.kit.languages import text_search_language
from parley.metrics import instruments as metrics
from parley.models import File, FileChunk
from parley.storage import Storage, StorageNotFound

_logger = structlog.get_logger("parley.ingestion")

JOB_KIND = "ingest_file"
# Chunks embedded and inserted per step (and per transaction).
INSERT_BATCH = 64
PENDING, PROCESSING, READY, FAILED = "pending", "processing", "ready", "failed"
# `files.embedding_model` of a file read with `PARLEY_RAG__VECTORS=false`: its chunks have no vectors.
KEYWORD_ONLY = "keyword-only"
GAVE_UP_REASON = "the file could not be read after several attempts; upload it again, or ask an administrator"


@dataclass(frozen=True)
class PreparedDocument:
    chunks: list[Chunk]
    page_count: int | None
    truncated: bool
    skipped_pages: list[int]

    @property
    def reason(self) -> str | None:
        """What a ready file's status says about what was left out, if anything."""
        notes = []
        if self.truncated:
            notes.append("the text was cut at the extraction limit")
        if self.skipped_pages:
            pages = ", ".join(str(page) for page in self.skipped_pages[:20])
            more = " …" if len(self.skipped_pages) > 20 else ""
            notes.append(f"pages {pages}{more} were left out: they are too complex to read")
        return "; ".join(notes) or None


class IngestionTask:
    """The handler of `ingest_file` jobs (payload `{"file_id": "<uuid>"}`)."""

    def __init__(self, database: Database, storage: Storage, embedder: Embedder, settings: Settings) -> None:
        self.database = database
        self.storage = storage
        self.embedder = embedder
        self.settings = settings
        # What `files.embedding_model` records: the model, or that no vectors were made (keyword search only).
        self._embedding_model = embedder.name if settings.rag.vectors else KEYWORD_ONLY
        self.sandbox = ReadingSandbox(ReadingLimits.from_settings(settings.files))

    def close(self) -> None:
        """Kill the readers still running (the server stops); their jobs are handed back or retried."""
        self.sandbox.close()

    async def __call__(self, payload: dict[str, Any]) -> None:
        try:
            file_id = uuid.UUID(str(payload["file_id"]))
        except (KeyError, ValueError) as exc:
            raise PermanentJobError(f"ingest_file needs a file_id, got {payload!r}") from exc
        file = await self._start(file_id)
        if file is None:
            return
        log = _logger.bind(file_id=str(file_id), file_type=file.file_type)
        started = time.monotonic()
        try:
            data = await self.storage.get(file.storage_key)
            document = await self.sandbox.extract(data, file.file_type)
            del data  # a 200 MiB upload is not kept while its chunks are embedded
            prepared = await asyncio.to_thread(self.prepare, document)
            stored = await self._store_chunks(file, prepared.chunks)
        except ExtractionError as exc:
            await self._finish(file_id, status=FAILED, reason=exc.message)
            metrics.document_ingested(ready=False, seconds=time.monotonic() - started)
            log.info("ingestion_refused", reason=exc.message)
            return
        except StorageNotFound as exc:
            await self._finish(file_id, status=FAILED, reason="the uploaded file is missing from storage")
            metrics.document_ingested(ready=False, seconds=time.monotonic() - started)
            raise PermanentJobError(str(exc)) from exc
        except EmbeddingError as exc:
            if exc.retryable:
                await self._finish(file_id, status=FAILED, reason=f"embedding failed, will retry: {exc}")
                raise
            await self._finish(file_id, status=FAILED, reason=f"embedding failed: {exc}")
            metrics.document_ingested(ready=False, seconds=time.monotonic() - started)
            raise PermanentJobError(str(exc)) from exc
        except Exception:
            # The job is retried; until then the file says so rather than staying "processing" forever.
            await self._finish(file_id, status=FAILED, reason="processing failed, will retry")
            raise
        if not stored:
            return  # the file was deleted while it was being processed
        await self._finish(
            file_id,
            status=READY,
            reason=prepared.reason,
            chunk_count=len(prepared.chunks),
            page_count=prepared.page_count,
            embedding_model=self._embedding_model,
        )
        metrics.document_ingested(ready=True, size_bytes=file.file_size, seconds=time.monotonic() - started)
        log.info("ingestion_done", chunks=len(prepared.chunks), pages=prepared.page_count)

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        """The job was given up after its last retry (or its workers kept dying mid-file): the file's status
        says so for good instead of "will retry" (or "processing" forever)."""
        try:
            file_id = uuid.UUID(str(payload["file_id"]))
        except (KeyError, ValueError):
            return
        _logger.error("ingestion_given_up", file_id=str(file_id), error=error)
        reason = GAVE_UP_REASON
        if error.startswith(TIME_BUDGET_EXCEEDED):
            reason = (
                f"processing the file took longer than {self.settings.jobs.time_budget_seconds:g} s, the limit; "
                "split it into smaller files"
            )
        async with self.database.session() as session:
            failed = await session.scalar(
                update(File)
                .where(File.id == file_id, File.status != READY)
                .values(status=FAILED, status_reason=reason, chunk_count=0)
                .returning(File.id)
            )
            if failed is not None:  # what a crashed run left of it goes too
                metrics.document_ingested(ready=False)
                await session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))

    def prepare(self, document: ExtractedDocument) -> PreparedDocument:
        """Chunk, at most `max_chunks_per_file` chunks. Blocking (CPU): runs in a worker thread."""
        chunks = chunk_sections(
            document.sections,
            chunk_tokens=self.settings.rag.chunk_tokens,
            overlap_tokens=self.settings.rag.chunk_overlap_tokens,
            count_tokens=lambda texts: count_tokens(self.embedder, texts),
        )
        if not chunks:
            raise ExtractionError("the file contains no text")
        limit = self.settings.files.max_chunks_per_file
        return PreparedDocument(
            chunks=chunks[:limit],
            page_count=document.page_count,
            truncated=document.truncated or len(chunks) > limit,
            skipped_pages=document.skipped_pages,
        )

    async def _start(self, file_id: uuid.UUID) -> File | None:
        """Mark the file processing and clear what an earlier run left; None when there is nothing to do."""
        async with self.database.session() as session:
            file = await session.scalar(select(File).where(File.id == file_id).with_for_update())
            if file is None:
                return None
            if file.status == READY and file.embedding_model == self._embedding_model:
                return None
            await session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))
            file.status = PROCESSING
            file.status_reason = None
            file.chunk_count = 0
            return file

    async def _store_chunks(self, file: File, chunks: list[Chunk]) -> bool:
        """Embed and insert in batches; False when the file disappeared on the way."""
        for start in range(0, len(chunks), INSERT_BATCH):
            batch = chunks[start : start + INSERT_BATCH]
            # A file deleted meanwhile stops before its next batch is embedded, not after: a big document
            # must not keep the (shared) embedding pool busy for a file nobody will read.
            if not await self._exists(file.id):
                return False
            vectors: list[list[float] | None] = (
                list(await self.embedder.embed_documents([chunk.text for chunk in batch]))
                if self.settings.rag.vectors
                else [None] * len(batch)
            )
            flags = [looks_like_instructions(chunk.text) for chunk in batch]
            rows = await sealed_chunks(file.user_id, batch)
            async with self.database.session() as session:
                # Holding the row (key share) keeps a concurrent delete from pulling it away mid-insert.
                alive = await session.scalar(
                    select(File.id).where(File.id == file.id).with_for_update(read=True, key_share=True)
                )
                if alive is None:
                    return False
                await session.execute(
                    insert(FileChunk),
                    [
                        {
                            **row,
                            "file_id": file.id,
                            "user_id": file.user_id,
                            "chunk_index": chunk.index,
                            "token_count": chunk.token_count,
                            "page": chunk.page,
                            "sheet": chunk.sheet,
                            "heading": chunk.heading,
                            "injection_flagged": flagged,
                            "embedding": vector,
                        }
                        for chunk, row, vector, flagged in zip(batch, rows, vectors, flags, strict=True)
                    ],
                )
        return True

    async def _exists(self, file_id: uuid.UUID) -> bool:
        async with self.database.session() as session:
            return await session.scalar(select(File.id).where(File.id == file_id)) is not None

    async def _finish(self, file_id: uuid.UUID, *, status: str, reason: str | None, **values: Any) -> None:
        async with self.database.session() as session:
            if status == FAILED:
                await session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))
                values.setdefault("chunk_count", 0)
            await session.execute(
                update(File).where(File.id == file_id).values(status=status, status_reason=reason, **values)
            )


async def sealed_chunks(owner: uuid.UUID, chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    """Each chunk's id, language, text sealed with its file owner's data key, and blind-index tokens of its words
    under the deployment's key (README, "Encryption at rest"); plaintext where this process seals nothing."""
    key = await sealed.key_for(owner)
    index_key = await sealed.key_for(None) if key is not None else None
    rows: list[dict[str, Any]] = []
    for chunk in chunks:
        chunk_id = uuid.uuid4()
        language = text_search_language(chunk.text)
        text = chunk.text if key is None else sealed.seal_with(key, chunk.text, context=sealed.chunk_context(chunk_id))
        terms = sealed.document_terms(index_key, chunk.text, language)
        rows.append({"id": chunk_id, "language": language, "text": text, "search_terms": terms})
    return rows
