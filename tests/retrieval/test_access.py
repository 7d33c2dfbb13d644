"""Retrieval's access filter and scope, with vectors placed directly (so what must be found is unambiguous)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from parley.auth.permissions import Role
from parley.config import RagSettings
from parley.errors import NotFound
from parley.retrieval import service
from parley.retrieval.service import RetrievalScope
from tests.factories import signed_in_user
from tests.knowledge_bases.arrange import add_chunks, create_file, near, unit_vector

KBS = "/api/v1/knowledge-bases"
RAG = RagSettings()
EVERYTHING = RetrievalScope(everything=True)
QUERY = unit_vector(1)


async def _search(session, user_id, role="user", scope=EVERYTHING, query="budget figures", vector=QUERY, top_k=10):
    found = await service.search_by_vector(
        session,
        user_id=user_id,
        role=role,
        query=query,
        query_vector=vector,
        scope=scope,
        top_k=top_k,
        settings=RAG,
    )
    await session.commit()  # each search is its own unit of work, as in a request
    return found


async def _file_with_chunks(app, owner_id, texts, *, filename="doc.txt", seed=10, **file_options):
    file_id = await create_file(app, owner_id, filename=filename, **file_options)
    chunk_ids = await add_chunks(
        app, file_id, owner_id, [(body, near(QUERY, seed + n, 0.8)) for n, body in enumerate(texts)]
    )
    return file_id, chunk_ids


async def _kb_with_file(client, owner, file_id) -> str:
    kb = (await client.post(KBS, json={"name": "shared"}, headers=owner.headers)).json()
    added = await client.post(f"{KBS}/{kb['id']}/files", json={"file_id": str(file_id)}, headers=owner.headers)
    assert added.status_code == 201, added.text
    return str(kb["id"])


class TestWhoSeesWhat:
    async def test_another_users_chunks_are_never_returned(self, client, app, session):
        owner = await signed_in_user(app, client)
        stranger = await signed_in_user(app, client, role=Role.ADMIN)
        file_id, _ = await _file_with_chunks(app, owner.id, ["budget figures for 2025"] * 5)

        assert len(await _search(session, owner.id)) == 5
        assert await _search(session, stranger.id, role="admin") == []
        # Naming the file in the scope does not open it either.
        assert await _search(session, stranger.id, role="admin", scope=RetrievalScope(file_ids=[file_id])) == []
        with pytest.raises(NotFound):
            await service.readable_file_chunks(session, user_id=stranger.id, role="admin", file_id=file_id)

    async def test_a_role_grant_shows_the_chunks_and_revoking_it_hides_them_at_once(self, client, app, session):
        owner = await signed_in_user(app, client)
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        file_id, chunk_ids = await _file_with_chunks(app, owner.id, ["budget figures", "other budget notes"])
        kb_id = await _kb_with_file(client, owner, file_id)
        assert await _search(session, admin.id, role="admin") == []

        grant = await client.post(f"{KBS}/{kb_id}/grants", json={"role": "admin"}, headers=owner.headers)
        assert grant.status_code == 201
        found = await _search(session, admin.id, role="admin", scope=RetrievalScope(knowledge_base_ids=[kb_id]))
        assert {c.chunk_id for c in found} == set(chunk_ids)
        assert found[0].filename == "doc.txt"
        # A plain user does not hold the role.
        plain = await signed_in_user(app, client)
        assert await _search(session, plain.id) == []

        revoked = await client.delete(f"{KBS}/{kb_id}/grants/{grant.json()['id']}", headers=owner.headers)
        assert revoked.status_code == 204
        assert await _search(session, admin.id, role="admin") == []
        assert await _search(session, admin.id, role="admin", scope=RetrievalScope(knowledge_base_ids=[kb_id])) == []

    async def test_a_file_taken_out_of_the_knowledge_base_is_no_longer_shared(self, client, app, session):
        owner = await signed_in_user(app, client)
        reader = await signed_in_user(app, client)
        file_id, _ = await _file_with_chunks(app, owner.id, ["budget figures"])
        kb_id = await _kb_with_file(client, owner, file_id)
        await client.post(f"{KBS}/{kb_id}/grants", json={"user_id": str(reader.id)}, headers=owner.headers)
        assert len(await _search(session, reader.id)) == 1
        chunks = await service.readable_file_chunks(session, user_id=reader.id, role="user", file_id=file_id)
        assert [c.text for c in chunks] == ["budget figures"]

        await client.delete(f"{KBS}/{kb_id}/files/{file_id}", headers=owner.headers)
        assert await _search(session, reader.id) == []

    async def test_files_not_ready_are_not_searched(self, client, app, session):
        me = await signed_in_user(app, client)
        await _file_with_chunks(app, me.id, ["budget figures"], status="processing")
        assert await _search(session, me.id) == []

    async def test_a_file_shared_through_a_knowledge_base_can_be_read_and_downloaded(self, client, app):
        owner = await signed_in_user(app, client)
        reader = await signed_in_user(app, client)
        stranger = await signed_in_user(app, client)
        file_id, _ = await _file_with_chunks(app, owner.id, ["budget figures"])
        kb_id = await _kb_with_file(client, owner, file_id)
        await client.post(f"{KBS}/{kb_id}/grants", json={"user_email": reader.email}, headers=owner.headers)

        assert (await client.get(f"/api/v1/files/{file_id}", headers=reader.headers)).status_code == 200
        assert (await client.get(f"/api/v1/files/{file_id}", headers=stranger.headers)).status_code == 404


class TestScope:
    async def test_the_scope_narrows_to_named_files_knowledge_bases_and_the_conversation(self, client, app, session):
        me = await signed_in_user(app, client)
        conversation = (await client.post("/api/v1/conversations", json={}, headers=me.headers)).json()["id"]
        conversation_id = uuid.UUID(conversation)
        named, named_chunks = await _file_with_chunks(app, me.id, ["budget named"], seed=20)
        _in_chat, chat_chunks = await _file_with_chunks(
            app, me.id, ["budget in chat"], seed=30, conversation_id=conversation_id
        )
        in_kb, kb_chunks = await _file_with_chunks(app, me.id, ["budget in kb"], seed=40)
        attached, attached_chunks = await _file_with_chunks(app, me.id, ["budget attached"], seed=50)
        kb_id = await _kb_with_file(client, me, in_kb)
        attached_kb = await _kb_with_file(client, me, attached)
        put = await client.put(
            f"/api/v1/conversations/{conversation}/knowledge-bases/{attached_kb}", headers=me.headers
        )
        assert put.status_code == 200

        async def ids(scope):
            return {c.chunk_id for c in await _search(session, me.id, scope=scope)}

        assert await ids(RetrievalScope()) == set()
        assert await ids(RetrievalScope(file_ids=[named])) == set(named_chunks)
        assert await ids(RetrievalScope(knowledge_base_ids=[kb_id])) == set(kb_chunks)
        assert await ids(RetrievalScope(conversation_id=conversation_id)) == set(chat_chunks) | set(attached_chunks)
        assert await ids(EVERYTHING) == {*named_chunks, *chat_chunks, *kb_chunks, *attached_chunks}

    async def test_whole_document_in_order(self, client, app, session):
        me = await signed_in_user(app, client)
        texts = [f"part {n}" for n in range(7)]
        file_id, _ = await _file_with_chunks(app, me.id, texts)
        chunks = await service.readable_file_chunks(session, user_id=me.id, role="user", file_id=file_id)
        assert [c.text for c in chunks] == texts and [c.chunk_index for c in chunks] == list(range(7))


class TestHnswWithFilter:
    async def test_a_readable_chunk_behind_many_nearer_unreadable_ones_is_found_through_the_index(
        self, client, app, session
    ):
        """With the HNSW index forced, 600 unreadable chunks nearer the query than the reader's own would fill a
        plain top-ef_search scan; the iterative scan keeps walking until readable rows turn up."""
        me = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        crowd = await create_file(app, other.id)
        await add_chunks(app, crowd, other.id, [(f"noise {n}", near(QUERY, 1000 + n, 0.3)) for n in range(600)])
        mine, my_chunks = await _file_with_chunks(app, me.id, ["far but mine"], seed=99)
        await session.execute(text("ANALYZE file_chunks"))
        await session.commit()

        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await session.execute(
            text(
                "EXPLAIN SELECT id FROM file_chunks WHERE (file_id IN (SELECT CAST(:f AS uuid))) IS TRUE"
                " ORDER BY embedding <=> CAST(:q AS vector) LIMIT 40"
            ),
            {"f": str(mine), "q": str(QUERY)},
        )
        assert "ix_file_chunks_embedding_hnsw" in "\n".join(row[0] for row in plan)
        found = await service.search_by_vector(
            session,
            user_id=me.id,
            role="user",
            query="unrelated words",
            query_vector=QUERY,
            scope=EVERYTHING,
            top_k=5,
            settings=RagSettings(hnsw_ef_search=10, candidates=10),
        )
        await session.rollback()
        assert [c.chunk_id for c in found] == my_chunks
