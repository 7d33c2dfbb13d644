"""Encryption at rest (README, "Encryption at rest"): after a chat with a document, a renamed conversation, a
summary, a feedback comment and a knowledge base's name and description, each holding a canary word (the document
and its file name too), none of them is anywhere in PostgreSQL's data directory (tables, indexes, WAL), in the file
store or anywhere else under the data dir, while the user still reads every one of them and finds the conversation
and the document by them.

The app runs on an embedded PostgreSQL of its own (a fresh data dir): the shared test database's WAL holds
plaintext written by other tests, and rows written before encryption are meant to stay readable."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select, text

from parley.config import Settings
from parley.models import Conversation, File
from parley.retrieval import service as retrieval
from tests.conftest import running_app
from tests.factories import signed_in_user

CHAT = "/api/v1/chat"
FILLER = (
    "Quarterly planning covers budgets, hiring and office moves. Each department lists its goals and the "
    "resources it needs; the leadership team reviews them in the second week of the quarter. "
)


def _canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    places = ("message", "title", "summary", "document", "comment", "filename", "kbname", "kbdescription")
    return {place: f"canary{place}{tag}" for place in places}


def _files_holding(root: Path, needles: dict[str, str]) -> dict[str, list[str]]:
    """Every file under `root` holding a needle (as UTF-8 bytes), by needle's place."""
    found: dict[str, list[str]] = {}
    encoded = {place: needle.encode() for place, needle in needles.items()}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:  # a socket or lock file gone meanwhile
            continue
        for place, needle in encoded.items():
            if needle in data:
                found.setdefault(place, []).append(str(path.relative_to(root)))
    return found


async def _wait_ready(app, file_id: str) -> None:
    deadline = time.monotonic() + 180
    while True:
        await app.state.jobs.run_pending()
        async with app.state.database.session() as session:
            status = await session.scalar(select(File.status).where(File.id == uuid.UUID(file_id)))
        if status == "ready":
            return
        assert status != "failed" and time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


class TestNoWordOfTheUserAtRest:
    async def test_canaries_are_read_back_and_found_by_search_but_are_nowhere_on_disk(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        canary = _canaries()
        data_dir = tmp_path / "data"
        own = settings.model_copy(update={"database_url": None, "data_dir": data_dir})
        async with running_app(own) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
                me = await signed_in_user(app, client)
                # Email addresses are not sealed (README, "Encryption at rest"): the user's shows the search below
                # reads what the database wrote (it must be found there), so finding no canary means something.
                control = me.email
                document = FILLER * 4 + f"The vault opens with the word {canary['document']} on Fridays. " + FILLER
                upload = await client.post(
                    f"{CHAT}/upload",
                    files={"file": (f"Vault {canary['filename']}.txt", document.encode(), "text/plain")},
                    headers=me.headers,
                )
                assert upload.status_code == 201, upload.text
                assert upload.json()["filename"] == f"Vault {canary['filename']}.txt"
                file_id = upload.json()["id"]
                await _wait_ready(app, file_id)
                made = await client.post(
                    "/api/v1/knowledge-bases",
                    json={"name": f"Vault {canary['kbname']}", "description": f"About {canary['kbdescription']}"},
                    headers=me.headers,
                )
                assert made.status_code == 201, made.text
                kb_id = made.json()["id"]
                added = await client.post(
                    f"/api/v1/knowledge-bases/{kb_id}/files", json={"file_id": file_id}, headers=me.headers
                )
                assert added.status_code in (200, 201), added.text

                # show-prompt answers with the prompt it saw: the answer holds the message and the excerpt.
                answered = await client.post(
                    CHAT,
                    json={
                        "message": f"Which word opens the vault? Remember {canary['message']}.",
                        "model": "show-prompt",
                        "file_ids": [file_id],
                        "stream": False,
                    },
                    headers=me.headers,
                )
                assert answered.status_code == 200, answered.text
                conversation_id, answer_id = answered.json()["conversation_id"], answered.json()["message_id"]
                await client.get(f"{CHAT}/{conversation_id}/stream", headers=me.headers)  # the title is written

                renamed = await client.patch(
                    f"/api/v1/conversations/{conversation_id}",
                    json={"title": f"Vault notes {canary['title']}"},
                    headers=me.headers,
                )
                assert renamed.status_code == 200 and renamed.json()["title"] == f"Vault notes {canary['title']}"
                rated = await client.put(
                    f"/api/v1/messages/{answer_id}/feedback",
                    json={"rating": "up", "comment": f"spot on {canary['comment']}"},
                    headers=me.headers,
                )
                assert rated.status_code == 200, rated.text
                async with app.state.database.session() as session:
                    conversation = await session.get(Conversation, uuid.UUID(conversation_id))
                    assert conversation is not None
                    conversation.summary = f"They talked about the vault: {canary['summary']}."

                # The user reads all of it back as written.
                detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
                assert detail["title"] == f"Vault notes {canary['title']}"
                question, answer = detail["messages"][0], detail["messages"][1]
                assert canary["message"] in question["content"]
                assert canary["document"] in answer["content"] and canary["message"] in answer["content"]
                assert any(canary["document"] in c["snippet"] for c in answer["citations"])
                assert {c["filename"] for c in answer["citations"]} == {f"Vault {canary['filename']}.txt"}
                listed_files = (await client.get("/api/v1/files", headers=me.headers)).json()
                assert f"Vault {canary['filename']}.txt" in str(listed_files)
                kb = (await client.get(f"/api/v1/knowledge-bases/{kb_id}", headers=me.headers)).json()
                assert (kb["name"], kb["description"]) == (
                    f"Vault {canary['kbname']}",
                    f"About {canary['kbdescription']}",
                )
                kb_files = (await client.get(f"/api/v1/knowledge-bases/{kb_id}/files", headers=me.headers)).json()
                assert f"Vault {canary['filename']}.txt" in str(kb_files)
                assert answer["feedback"]["comment"] == f"spot on {canary['comment']}"
                async with app.state.database.session() as session:
                    stored = await session.get(Conversation, uuid.UUID(conversation_id))
                    assert stored is not None and stored.summary == f"They talked about the vault: {canary['summary']}."

                # Search finds the conversation by a word of its title and of a message (prefixes too), and the
                # document's chunk by its word through the keyword arm alone.
                for query in (canary["title"], canary["message"], canary["message"][:7], "vault notes"):
                    listed = await client.get("/api/v1/conversations", params={"q": query}, headers=me.headers)
                    assert [c["id"] for c in listed.json()["items"]] == [conversation_id], query
                nothing = await client.get("/api/v1/conversations", params={"q": "zebra"}, headers=me.headers)
                assert nothing.json()["items"] == []
                keyword_only = own.rag.model_copy(update={"vector_weight": 0.0})
                async with app.state.database.session() as session:
                    chunks = await retrieval.search(
                        session,
                        app.state.embedder,
                        user_id=me.id,
                        role="member",
                        query=f"the word {canary['document']}",
                        scope=retrieval.RetrievalScope(file_ids=[uuid.UUID(file_id)]),
                        top_k=3,
                        settings=keyword_only,
                    )
                assert chunks and canary["document"] in chunks[0].text
                assert chunks[0].filename == f"Vault {canary['filename']}.txt"

                async with app.state.database.session() as session:
                    await session.execute(text("CHECKPOINT"))
                    await session.execute(text("SELECT pg_switch_wal()"))

            found = _files_holding(data_dir, {**canary, "control": control})
        assert any(path.startswith("postgres") for path in found.pop("control", [])), found
        assert found == {}, found
