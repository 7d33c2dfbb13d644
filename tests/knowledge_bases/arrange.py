"""Plain functions that put files and chunks straight into the database, for tests that are about access and
ranking rather than upload and ingestion."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from fastapi import FastAPI

from parley.db import Database
from parley.models import EMBEDDING_DIMENSIONS, File, FileChunk


async def create_file(
    app: FastAPI,
    owner_id: uuid.UUID,
    *,
    filename: str = "notes.txt",
    status: str = "ready",
    conversation_id: uuid.UUID | None = None,
) -> uuid.UUID:
    database: Database = app.state.database
    file_id = uuid.uuid4()
    async with database.session() as session:
        session.add(
            File(
                id=file_id,
                user_id=owner_id,
                conversation_id=conversation_id,
                filename=filename,
                file_type="txt",
                file_size=100,
                storage_key=f"test/{file_id}",
                status=status,
            )
        )
    return file_id


async def add_chunks(
    app: FastAPI, file_id: uuid.UUID, owner_id: uuid.UUID, chunks: Sequence[tuple[str, Sequence[float]]]
) -> list[uuid.UUID]:
    """Chunks in order, each (text, vector)."""
    database: Database = app.state.database
    ids = [uuid.uuid4() for _ in chunks]
    async with database.session() as session:
        for index, (chunk_id, (body, vector)) in enumerate(zip(ids, chunks, strict=True)):
            session.add(
                FileChunk(
                    id=chunk_id,
                    file_id=file_id,
                    user_id=owner_id,
                    chunk_index=index,
                    text=body,
                    token_count=len(body.split()),
                    embedding=list(vector),
                )
            )
        # As ingestion leaves a ready file: its chunk count in step with its chunks (search weighs words by it).
        file = await session.get(File, file_id)
        if file is not None:
            file.chunk_count = len(chunks)
    return ids


def unit_vector(seed: int) -> list[float]:
    """A reproducible random unit vector of the stored size."""
    vector = np.random.default_rng(seed).standard_normal(EMBEDDING_DIMENSIONS)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def near(vector: Sequence[float], seed: int, noise: float) -> list[float]:
    """A unit vector close to `vector` (cosine falls as `noise` grows)."""
    jitter = np.random.default_rng(seed).standard_normal(EMBEDDING_DIMENSIONS) * noise / np.sqrt(EMBEDDING_DIMENSIONS)
    mixed = np.asarray(vector) + jitter
    return [float(x) for x in mixed / np.linalg.norm(mixed)]
