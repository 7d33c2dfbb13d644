"""Account erasure: by the user (password or a fresh sign-in) and by an admin; what goes, what stays."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from parley.auth.permissions import Role
from parley.crypto import KeyDestroyed
from parley.models import (
    ApiKey,
    AuditEvent,
    Conversation,
    DataKey,
    File,
    FileChunk,
    KnowledgeBase,
    Message,
    RefreshToken,
    UsageLog,
    User,
    UserExport,
)
from tests.factories import PASSWORD, assert_problem, signed_in_user
from tests.files.helpers import stored_objects, uploaded
from tests.gdpr.helpers import ME, chat, eventually, export_when_done, start_export

ADMIN_USERS = "/api/v1/admin/users"


async def _count(session, model, *where) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _delete_me(client, user, password: str | None = PASSWORD):
    body = {} if password is None else {"password": password}
    return await client.request("DELETE", ME, json=body, headers=user.headers)


class TestSelfErasure:
    async def test_everything_of_the_account_goes_and_usage_stays_under_a_tombstone(self, app, client, session):
        user = await signed_in_user(app, client)
        bystander = await signed_in_user(app, client)
        answer = await chat(client, user, "remember my secret canary-e1")
        await chat(client, bystander, "I stay")
        file = await uploaded(client, user, b"my bytes canary-e2\n" * 20, "mine.txt")
        kb = await client.post("/api/v1/knowledge-bases", json={"name": "My KB"}, headers=user.headers)
        assert kb.status_code == 201, kb.text
        assert (await client.post(f"{ME}/api-keys", json={"name": "k"}, headers=user.headers)).status_code == 201
        export = await export_when_done(client, user, (await start_export(client, user))["id"])
        await eventually(lambda: _chunks_of(session, user.id))
        file_path = app.state.storage.path_of(f"uploads/{file['id']}")
        zip_row = await session.get(UserExport, uuid.UUID(export["id"]))
        assert zip_row is not None and zip_row.storage_key is not None
        zip_path = app.state.storage.path_of(zip_row.storage_key)
        assert {file_path, zip_path} <= stored_objects(app)
        usage_before = await _count(session, UsageLog, UsageLog.user_id == user.id)
        assert usage_before >= 1
        sealed = await app.state.crypto.seal(user.id, b"sealed canary-e3", context="test")
        assert await _count(session, DataKey, DataKey.owner_id == user.id) == 1
        await session.commit()

        assert_problem(await _delete_me(client, user, "not the password"), 422)
        assert (await _delete_me(client, user)).status_code == 204

        session.expire_all()
        assert await session.get(User, user.id) is None
        for model, column in (
            (Conversation, Conversation.user_id),
            (File, File.user_id),
            (FileChunk, FileChunk.user_id),
            (KnowledgeBase, KnowledgeBase.owner_id),
            (ApiKey, ApiKey.user_id),
            (RefreshToken, RefreshToken.user_id),
            (UserExport, UserExport.user_id),
            (UsageLog, UsageLog.user_id),
        ):
            assert await _count(session, model, column == user.id) == 0, model
        assert await _count(session, Message, Message.conversation_id == answer["conversation_id"]) == 0
        # The bytes: the upload and the export zip leave the storage once the deletion jobs ran.
        await eventually(lambda: _gone(app, {file_path, zip_path}))

        tombstones = app.state.tombstones
        tombstone = await session.get(User, tombstones.user_id(user.id))
        assert tombstone is not None and tombstone.erased_at is not None and not tombstone.is_active
        assert tombstone.email.endswith("@erased.invalid") and user.email.split("@")[0] not in tombstone.email
        assert tombstone.full_name is None and tombstone.hashed_password is None
        assert await _count(session, UsageLog, UsageLog.user_id == tombstone.id) == usage_before

        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "user.erase"))
        assert event is not None and event.target_id == tombstones.subject(user.id)
        assert event.actor_id is None and event.details["by"] == "self" and event.details["conversations"] == 1
        # Crypto-erase: the data key is gone, so a copy of anything sealed with it no longer opens.
        assert event.details["data_keys_destroyed"] == 1
        assert await _count(session, DataKey, DataKey.owner_id == user.id) == 0
        with pytest.raises(KeyDestroyed):
            await app.state.crypto.open(user.id, sealed, context="test")
        assert str(user.id) not in str(event.details) and user.email not in str(event.details)

        # The bystander keeps everything; the erased user can neither sign in nor use their old token.
        assert await _count(session, Conversation, Conversation.user_id == bystander.id) == 1
        login = await client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        assert login.status_code == 401
        assert (await client.get(ME, headers=user.headers)).status_code == 401
        # Tombstones are not accounts: admins do not list them.
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        listed = (await client.get(ADMIN_USERS, params={"page_size": 200}, headers=admin.headers)).json()
        assert tombstone.id not in {uuid.UUID(u["id"]) for u in listed["items"]}
        # The audit chain still verifies: erasure rewrote no audit row (the erased id's own rows keep it).
        verification = await client.get("/api/v1/admin/audit-events/verification", headers=admin.headers)
        assert verification.status_code == 200 and verification.json()["status"] == "verified", verification.text

    async def test_api_keys_cannot_delete_the_account(self, app, client):
        user = await signed_in_user(app, client)
        key = (await client.post(f"{ME}/api-keys", json={"name": "k"}, headers=user.headers)).json()["key"]
        refused = await client.request(
            "DELETE", ME, json={"password": PASSWORD}, headers={"Authorization": f"Bearer {key}"}
        )
        assert_problem(refused, 403)

    async def test_single_sign_on_accounts_need_a_fresh_sign_in(self, app, client, session):
        user = await signed_in_user(app, client)
        await session.execute(update(User).where(User.id == user.id).values(hashed_password=None))
        # The session was signed in an hour ago (refreshes since do not count).
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id)
            .values(created_at=func.now() - timedelta(hours=1))
        )
        await session.commit()
        body = assert_problem(await _delete_me(client, user, None), 403)
        assert body["type"].endswith("/reauthentication_required") and body["max_age_minutes"] == 10
        await session.execute(update(RefreshToken).where(RefreshToken.user_id == user.id).values(created_at=func.now()))
        await session.commit()
        assert (await _delete_me(client, user, None)).status_code == 204


class TestAdminErasure:
    async def test_an_admin_deletes_a_user(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        await chat(client, user, "hello")
        assert (await client.delete(f"{ADMIN_USERS}/{user.id}", headers=admin.headers)).status_code == 204
        assert await session.get(User, user.id) is None
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "user.erase"))
        assert event is not None and event.actor_id == admin.id and event.details["by"] == "admin"
        assert_problem(await client.delete(f"{ADMIN_USERS}/{user.id}", headers=admin.headers), 404)
        tombstone_id = app.state.tombstones.user_id(user.id)
        assert_problem(await client.delete(f"{ADMIN_USERS}/{tombstone_id}", headers=admin.headers), 404)

    async def test_the_last_admin_cannot_be_deleted(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        assert_problem(await client.delete(f"{ADMIN_USERS}/{admin.id}", headers=admin.headers), 409)
        assert_problem(await _delete_me(client, admin), 409)
        other = await signed_in_user(app, client, role=Role.ADMIN)
        assert (await client.delete(f"{ADMIN_USERS}/{admin.id}", headers=other.headers)).status_code == 204

    async def test_a_user_under_legal_hold_cannot_be_deleted_until_it_is_lifted(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        held = await client.post(
            f"{ADMIN_USERS}/{user.id}/legal-hold", json={"hold": True, "reason": "case 42"}, headers=admin.headers
        )
        assert (
            held.status_code == 200 and held.json()["legal_hold_at"] and held.json()["legal_hold_reason"] == "case 42"
        )
        assert_problem(await client.delete(f"{ADMIN_USERS}/{user.id}", headers=admin.headers), 409)
        assert_problem(await _delete_me(client, user), 409)
        # Users do not see the hold on their profile.
        assert "legal_hold_at" not in (await client.get(ME, headers=user.headers)).json()
        lifted = await client.post(f"{ADMIN_USERS}/{user.id}/legal-hold", json={"hold": False}, headers=admin.headers)
        assert lifted.status_code == 200 and lifted.json()["legal_hold_at"] is None
        assert (await _delete_me(client, user)).status_code == 204

    async def test_running_answers_of_the_user_stop(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        engine = app.state.chat_engine
        stopped: list[uuid.UUID] = []
        original = engine.stop_answers_of

        def spy(user_id: uuid.UUID) -> None:
            stopped.append(user_id)
            original(user_id)

        engine.stop_answers_of = spy
        try:
            assert (await client.delete(f"{ADMIN_USERS}/{user.id}", headers=admin.headers)).status_code == 204
        finally:
            del engine.stop_answers_of
        assert stopped == [user.id]


async def _chunks_of(session, user_id) -> bool:
    session.expire_all()
    return await _count(session, FileChunk, FileChunk.user_id == user_id) > 0


async def _gone(app, paths) -> bool:
    return not (paths & stored_objects(app))
