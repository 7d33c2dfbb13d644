"""What the audit trail records beyond sign-ins and administration: retrieval provenance (which chunks an answer
showed its user), files read by someone other than their owner, administrators reading per-user data, credential
changes, shares, and exports of the trail itself. Each is a chained row (the chain verifies afterwards)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from parley.audit import chain
from parley.auth.permissions import Role
from parley.models import AuditEvent, FileChunk
from tests.audit.test_chain import verdict
from tests.chat.test_grounded_chat import FACT, FILLER, _upload, _wait_ready
from tests.factories import signed_in_user
from tests.sse import parse_events

KBS = "/api/v1/knowledge-bases"


async def rows(session, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    found = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.seq)
        .execution_options(populate_existing=True)
    )
    events = list(found)
    await session.commit()
    return events


async def assert_chain_holds(app) -> None:  # type: ignore[no-untyped-def]
    result: chain.Verdict = await verdict(app)
    assert result.ok, result.summary()


class TestRetrievalProvenance:
    async def test_an_answer_records_the_chunks_it_showed(self, client, app, session):
        me = await signed_in_user(app, client)
        manual = await _upload(client, me.headers, "facilities.txt", FILLER * 20 + FACT + " " + FILLER * 20)
        await _wait_ready(app, session, manual["id"])
        response = await client.post(
            "/api/v1/chat",
            json={"message": "How often is the Zephyr-7 serviced?", "model": "show-prompt", "file_ids": [manual["id"]]},
            headers=me.headers,
        )
        done = next(e for e in parse_events(response.text) if e.event == "done")

        (event,) = await rows(session, "chat.retrieval_provenance")
        assert event.actor_id == me.id
        assert (event.target_type, event.target_id) == ("message", done.data["message_id"])
        details: dict[str, Any] = event.details
        assert details["mode"] == "search" and details["files"] == [manual["id"]]
        file_chunks = {
            str(c)
            for c in await session.scalars(select(FileChunk.id).where(FileChunk.file_id == uuid.UUID(manual["id"])))
        }
        assert details["chunks"] and set(details["chunks"]) <= file_chunks
        # One recorded chunk per source the model was shown (the answer's citations list every one of them).
        assert len(details["chunks"]) == len(set(details["chunks"])) == len(done.data["citations"])
        assert event.seq is not None
        await assert_chain_holds(app)

    async def test_an_answer_without_documents_records_nothing(self, client, app, session):
        me = await signed_in_user(app, client)
        response = await client.post("/api/v1/chat", json={"message": "Hello", "model": "echo"}, headers=me.headers)
        assert response.status_code == 200
        assert await rows(session, "chat.retrieval_provenance") == []


class TestFilesReadByOthers:
    async def test_a_grantee_reading_a_shared_file_is_audited_the_owner_is_not(self, client, app, session):
        owner = await signed_in_user(app, client)
        reader = await signed_in_user(app, client)
        kb = (await client.post(KBS, json={"name": "Handbook"}, headers=owner.headers)).json()
        uploaded = await _upload(client, owner.headers, "handbook.txt", FILLER)
        added = await client.post(f"{KBS}/{kb['id']}/files", json={"file_id": uploaded["id"]}, headers=owner.headers)
        assert added.status_code == 201, added.text
        grant = {"user_email": reader.email, "permission": "read"}
        assert (await client.post(f"{KBS}/{kb['id']}/grants", json=grant, headers=owner.headers)).status_code == 201

        assert (await client.get(f"/api/v1/files/{uploaded['id']}", headers=owner.headers)).status_code == 200
        assert await rows(session, "file.access_by_other") == []
        assert (await client.get(f"/api/v1/files/{uploaded['id']}", headers=reader.headers)).status_code == 200
        download = await client.get(f"/api/v1/files/{uploaded['id']}/content", headers=reader.headers)
        assert download.status_code == 200

        accesses = await rows(session, "file.access_by_other")
        assert len(accesses) == 2
        assert all(e.actor_id == reader.id and e.target_id == uploaded["id"] for e in accesses)
        assert all(e.details == {"owner_id": str(owner.id)} for e in accesses)
        shares = await rows(session, "knowledge_base.grant_create")
        assert [e.actor_id for e in shares] == [owner.id]
        await assert_chain_holds(app)


class TestAdministratorsReadingPerUserData:
    async def test_analytics_per_user_is_audited_aggregates_are_not(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        assert (await client.get("/api/v1/admin/analytics", headers=admin.headers)).status_code == 200
        assert await rows(session, "admin.user_data_read") == []
        per_user = await client.get("/api/v1/admin/analytics", params={"group_by": "user"}, headers=admin.headers)
        assert per_user.status_code == 200
        csv = await client.get("/api/v1/admin/analytics.csv", params={"group_by": "user"}, headers=admin.headers)
        assert csv.status_code == 200
        reads = await rows(session, "admin.user_data_read")
        assert [e.details["what"] for e in reads] == ["analytics", "analytics.csv"]
        assert all(e.actor_id == admin.id for e in reads)

    async def test_exporting_the_trail_is_itself_recorded(self, client, app, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        response = await client.get(
            "/api/v1/admin/audit-events/export", params={"action": "auth.login"}, headers=admin.headers
        )
        assert response.status_code == 200
        (exported,) = await rows(session, "audit.export")
        assert exported.actor_id == admin.id and exported.details == {"action": ["auth.login"]}


class TestCredentials:
    async def test_api_key_creation_and_revocation(self, client, app, session):
        me = await signed_in_user(app, client)
        created = await client.post("/api/v1/users/me/api-keys", json={"name": "ci"}, headers=me.headers)
        assert created.status_code == 201
        key_id = created.json()["id"]
        revoked = await client.delete(f"/api/v1/users/me/api-keys/{key_id}", headers=me.headers)
        assert revoked.status_code == 204
        assert [e.target_id for e in await rows(session, "api_key.create")] == [key_id]
        assert [e.target_id for e in await rows(session, "api_key.revoke")] == [key_id]
        await assert_chain_holds(app)
