"""`PARLEY_RAG__VECTORS=false` (README, "What an attacker with a copy of the database learns"): documents are read
and found by keyword, and no vector of them, or of a question, is ever made or stored."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from parley.config import RagSettings
from parley.ingestion.tasks import KEYWORD_ONLY, IngestionTask
from parley.models import File, FileChunk
from parley.retrieval import service
from parley.retrieval.service import RetrievalScope
from tests.ingestion.stored import pending_file

POLICY = (
    b"Travel. Trains are booked in second class; flights need the approval of a director.\n\n"
    b"Equipment. Laptops are replaced every four years; monitors on request."
)


class NoVectors:
    """An embedder that fails the test if anything asks it for a vector."""

    name = "must-not-be-used"
    dimensions = 384

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        raise AssertionError(f"embedded {len(texts)} document texts")

    async def embed_query(self, text: str) -> list[float]:
        raise AssertionError(f"embedded the question {text!r}")

    async def aclose(self) -> None:
        return None


async def test_documents_are_stored_without_vectors_and_found_by_keyword(app, client, session):
    settings = app.state.settings.model_copy(update={"rag": RagSettings(vectors=False)})
    task = IngestionTask(app.state.database, app.state.storage, NoVectors(), settings)
    file = await pending_file(app, POLICY, "txt")
    await task({"file_id": str(file.id)})

    stored = await session.get(File, file.id)
    chunks = (await session.scalars(select(FileChunk).where(FileChunk.file_id == file.id))).all()
    assert stored is not None and stored.status == "ready" and stored.embedding_model == KEYWORD_ONLY
    assert chunks and all(chunk.embedding is None for chunk in chunks)

    found = await service.search(
        session,
        NoVectors(),
        user_id=file.user_id,
        role="user",
        query="Who approves flights?",
        scope=RetrievalScope(file_ids=[file.id]),
        top_k=3,
        settings=settings.rag,
    )
    assert found and "approval of a director" in found[0].text

    # Read again with the setting unchanged, the file is left as it is (a duplicate job costs nothing).
    await task({"file_id": str(file.id)})
    await session.refresh(stored)
    assert stored.embedding_model == KEYWORD_ONLY and stored.status == "ready"
