"""Rows written before encryption at rest stay readable and searchable, and `seal_existing` seals them in place
(README, "Encryption at rest")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import insert, select

from parley.crypto import content as sealed
from parley.crypto.seal_existing import seal_existing
from parley.models import Conversation, File, KnowledgeBase, Message
from tests.factories import TEST_CRYPTO_KEYS, signed_in_user


async def _plaintext_conversation(app, user_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A conversation and a question as a release before encryption stored them (plain columns, no tokens)."""
    conversation_id, message_id = uuid.uuid4(), uuid.uuid4()
    async with app.state.database.session() as session:
        await session.execute(
            insert(Conversation).values(
                id=conversation_id, user_id=user_id, title="Legacy heron notes", summary="They spoke of herons."
            )
        )
        await session.execute(
            insert(Message).values(
                id=message_id, conversation_id=conversation_id, role="user", content="Where do the egrets nest?"
            )
        )
    return conversation_id, message_id


async def _plaintext_file(app, user_id: uuid.UUID, name: str) -> uuid.UUID:
    """An upload's row as a release before sealed file names stored it."""
    file_id = uuid.uuid4()
    async with app.state.database.session() as session:
        await session.execute(
            insert(File).values(
                id=file_id,
                user_id=user_id,
                filename=name,
                file_type="txt",
                file_size=10,
                storage_key=f"legacy/{file_id}",
                status="ready",
            )
        )
    return file_id


async def _plaintext_knowledge_base(app, owner_id: uuid.UUID) -> uuid.UUID:
    """A knowledge base as a release before sealed names stored it."""
    kb_id = uuid.uuid4()
    async with app.state.database.session() as session:
        await session.execute(
            insert(KnowledgeBase).values(
                id=kb_id, owner_id=owner_id, name="Heron colonies", description="Counts by the estuary."
            )
        )
    return kb_id


class TestRowsFromBeforeEncryption:
    async def test_are_read_and_found_as_they_are_then_sealed_in_place(self, app, client) -> None:
        me = await signed_in_user(app, client)
        conversation_id, message_id = await _plaintext_conversation(app, me.id)
        file_id = await _plaintext_file(app, me.id, "Heron census 2019.txt")
        kb_id = await _plaintext_knowledge_base(app, me.id)

        async def kb_shown() -> tuple[str, str]:
            kb = (await client.get(f"/api/v1/knowledge-bases/{kb_id}", headers=me.headers)).json()
            return kb["name"], kb["description"]

        async def file_names() -> list[str]:
            listed = (await client.get("/api/v1/files", headers=me.headers)).json()
            return [item["filename"] for item in listed["items"]]

        async def shown() -> tuple[str, str]:
            detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
            return detail["title"], detail["messages"][0]["content"]

        async def found(query: str) -> bool:
            listed = await client.get("/api/v1/conversations", params={"q": query}, headers=me.headers)
            return [item["id"] for item in listed.json()["items"]] == [str(conversation_id)]

        assert await shown() == ("Legacy heron notes", "Where do the egrets nest?")
        assert await found("heron") and await found("egrets")
        assert await file_names() == ["Heron census 2019.txt"]
        assert await kb_shown() == ("Heron colonies", "Counts by the estuary.")

        done = await seal_existing(app.state.database.engine, app.state.crypto, batch=1)
        assert done.counts["messages"] >= 1 and done.counts["conversations"] >= 1 and done.counts["file names"] >= 1

        async with app.state.database.session() as session:
            stored = (
                await session.execute(select(Message.content, Message.search_terms).where(Message.id == message_id))
            ).one()
            row = (
                await session.execute(
                    select(Conversation.title, Conversation.title_sealed, Conversation.summary).where(
                        Conversation.id == conversation_id
                    )
                )
            ).one()
            name = (await session.execute(select(File.filename, File.filename_sealed).where(File.id == file_id))).one()
        assert stored.content.startswith(sealed.MARKER) and "egrets" not in stored.content and stored.search_terms
        assert row.title == "" and row.title_sealed and row.summary.startswith(sealed.MARKER)
        assert name.filename == "" and name.filename_sealed and b"Heron" not in name.filename_sealed
        assert await file_names() == ["Heron census 2019.txt"]
        assert done.counts["knowledge bases"] >= 1
        async with app.state.database.session() as session:
            kb_row = (
                await session.execute(
                    select(
                        KnowledgeBase.__table__.c.name,
                        KnowledgeBase.__table__.c.name_sealed,
                        KnowledgeBase.__table__.c.description,
                    ).where(KnowledgeBase.__table__.c.id == kb_id)
                )
            ).one()
        assert kb_row.name == "" and kb_row.name_sealed and kb_row.description.startswith(sealed.MARKER)
        assert await kb_shown() == ("Heron colonies", "Counts by the estuary.")
        # Read and found as before, now through the seal and the blind index.
        assert await shown() == ("Legacy heron notes", "Where do the egrets nest?")
        assert await found("heron") and await found("egrets") and await found("egr")
        # A second run finds nothing left.
        again = await seal_existing(app.state.database.engine, app.state.crypto)
        assert again.counts == {
            "messages": 0,
            "conversations": 0,
            "chunks": 0,
            "file names": 0,
            "knowledge bases": 0,
            "reports": 0,
        }


class TestSealingOffForARollingUpgrade:
    async def test_content_is_written_as_it_comes_with_its_tokens_then_sealed_in_place(self, app, client) -> None:
        crypto = app.state.crypto
        me = await signed_in_user(app, client)
        crypto.seal_content = False
        try:
            answered = await client.post(
                "/api/v1/chat", json={"message": "Plovers nest on shingle", "stream": False}, headers=me.headers
            )
            assert answered.status_code == 200, answered.text
            conversation_id = answered.json()["conversation_id"]
            renamed = await client.patch(
                f"/api/v1/conversations/{conversation_id}", json={"title": "Shorebirds"}, headers=me.headers
            )
            assert renamed.status_code == 200
            async with app.state.database.session() as session:
                stored = list(
                    await session.scalars(
                        select(Message.content).where(Message.conversation_id == uuid.UUID(conversation_id))
                    )
                )
                title = await session.scalar(
                    select(Conversation.title).where(Conversation.id == uuid.UUID(conversation_id))
                )
            # As a pod of the previous release reads them: plain.
            assert "Plovers nest on shingle" in stored and title == "Shorebirds"
            with pytest.raises(ValueError, match="SEAL_CONTENT"):
                await seal_existing(app.state.database.engine, crypto)
        finally:
            crypto.seal_content = True

        async def found(query: str) -> bool:
            listed = await client.get("/api/v1/conversations", params={"q": query}, headers=me.headers)
            return [item["id"] for item in listed.json()["items"]] == [conversation_id]

        assert await found("plov") and await found("shorebirds")
        await seal_existing(app.state.database.engine, crypto)
        async with app.state.database.session() as session:
            stored = list(
                await session.scalars(
                    select(Message.content).where(Message.conversation_id == uuid.UUID(conversation_id))
                )
            )
        assert stored and all(text.startswith(sealed.MARKER) for text in stored)
        detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
        assert detail["title"] == "Shorebirds" and detail["messages"][0]["content"] == "Plovers nest on shingle"
        assert await found("plov") and await found("shorebirds")


class TestTheCommand:
    async def test_it_seals_what_is_left_and_says_how_many(self, app, client, settings) -> None:
        me = await signed_in_user(app, client)
        conversation_id, message_id = await _plaintext_conversation(app, me.id)

        # `parley keys seal-existing` runs beside the server, as an operator runs it: its own process, engine and
        # keys (the deployment's), on DATABASE_URL.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
        env.update(DATABASE_URL=settings.database_url, PARLEY_CRYPTO__KEYS=TEST_CRYPTO_KEYS)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "parley", "keys", "seal-existing", "--batch", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert done.returncode == 0, done.stderr
        assert "sealed:" in done.stdout
        async with app.state.database.session() as session:
            stored = await session.scalar(select(Message.content).where(Message.id == message_id))
        assert stored is not None and stored.startswith(sealed.MARKER)
        detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
        assert (detail["title"], detail["messages"][0]["content"]) == (
            "Legacy heron notes",
            "Where do the egrets nest?",
        )
