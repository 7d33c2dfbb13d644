"""Self-service data export: what the zip holds, who can fetch it, how often, and its expiry."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import select

from parley.auth.permissions import Role
from parley.gdpr.exports import ExportExpiry
from parley.kit.clock import utcnow
from parley.models import AuditEvent, Job, UserExport
from tests.factories import assert_problem, signed_in_user
from tests.files.helpers import stored_objects, uploaded
from tests.gdpr.helpers import ME, chat, downloaded_zip, export_when_done, start_export

PDF_LIKE = b"quarterly numbers, canary 7f3a\n" * 50


class TestExportContents:
    async def test_the_zip_holds_conversations_files_usage_and_profile(self, app, client, session):
        user = await signed_in_user(app, client)
        answer = await chat(client, user, "What is the capital of Bolivia? canary-q1")
        file = await uploaded(client, user, PDF_LIKE, "report 2026.txt")

        started = await start_export(client, user)
        assert started["status"] == "queued" and started["download_url"] is None
        export = await export_when_done(client, user, started["id"])
        assert export["status"] == "ready", export
        assert export["size_bytes"] > 0 and export["expires_at"] is not None

        archive = await downloaded_zip(client, user, export)
        names = archive.namelist()
        profile = json.loads(archive.read("profile.json"))
        assert profile["email"] == user.email and profile["id"] == str(user.id)

        markdown = [n for n in names if n.startswith("conversations/") and n.endswith(".md")]
        documents = [n for n in names if n.startswith("conversations/") and n.endswith(".json")]
        assert len(markdown) == 1 and len(documents) == 1
        text = archive.read(markdown[0]).decode()
        assert "## You · " in text and "What is the capital of Bolivia? canary-q1" in text
        assert "## Assistant (" in text
        document = json.loads(archive.read(documents[0]))
        assert document["id"] == str(answer["conversation_id"])
        roles = [m["role"] for m in document["messages"]]
        assert roles == ["user", "assistant"]
        assert document["messages"][1]["model"] and document["messages"][0]["created_at"]

        listed = json.loads(archive.read("files/files.json"))
        assert [f["id"] for f in listed] == [file["id"]] and listed[0]["included"] is True
        assert archive.read(listed[0]["path"]) == PDF_LIKE

        usage = json.loads(archive.read("usage.json"))
        # The answer, and the title written for the new conversation.
        assert usage and document["messages"][1]["model"] in {row["model"] for row in usage}
        assert all(row["conversation_id"] == str(answer["conversation_id"]) for row in usage)

        audited = await session.scalars(select(AuditEvent).where(AuditEvent.action == "user.export"))
        assert [(e.actor_id, e.target_id) for e in audited] == [(user.id, started["id"])]

    async def test_an_empty_account_exports_its_profile(self, app, client):
        user = await signed_in_user(app, client)
        export = await export_when_done(client, user, (await start_export(client, user))["id"])
        archive = await downloaded_zip(client, user, export)
        assert json.loads(archive.read("usage.json")) == []
        assert not [n for n in archive.namelist() if n.startswith("conversations/")]


class TestExportAccess:
    async def test_only_its_owner_can_see_or_fetch_it(self, app, client):
        owner = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        export = await export_when_done(client, owner, (await start_export(client, owner))["id"])
        for stranger in (other, admin):
            assert_problem(await client.get(f"{ME}/exports/{export['id']}", headers=stranger.headers), 404)
            assert_problem(await client.get(export["download_url"], headers=stranger.headers), 404)
        listed = await client.get(f"{ME}/exports", headers=other.headers)
        assert listed.status_code == 200 and listed.json() == []

    async def test_api_keys_cannot_start_or_fetch_exports(self, app, client):
        owner = await signed_in_user(app, client)
        key = await client.post(f"{ME}/api-keys", json={"name": "k"}, headers=owner.headers)
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        assert_problem(await client.post(f"{ME}/export", headers=headers), 403)
        assert_problem(await client.get(f"{ME}/exports", headers=headers), 403)

    async def test_an_unknown_export_is_not_found(self, app, client):
        owner = await signed_in_user(app, client)
        assert_problem(await client.get(f"{ME}/exports/{uuid.uuid4()}", headers=owner.headers), 404)


class TestExportLimits:
    async def test_one_at_a_time(self, app, client, session):
        user = await signed_in_user(app, client)
        # An export still being prepared (no job: nothing will finish it during the test).
        session.add(UserExport(user_id=user.id, status="running"))
        await session.commit()
        refused = await client.post(f"{ME}/export", headers=user.headers)
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1

    async def test_at_most_the_daily_number(self, app, client, session):
        user = await signed_in_user(app, client)
        per_day = app.state.settings.gdpr.exports_per_day
        for _ in range(per_day):
            session.add(UserExport(user_id=user.id, status="expired"))
        await session.commit()
        refused = await client.post(f"{ME}/export", headers=user.headers)
        body = assert_problem(refused, 429)
        assert f"at most {per_day}" in body["detail"]
        assert 23 * 3600 < int(refused.headers["retry-after"]) <= 24 * 3600 + 1


class TestExportExpiry:
    async def test_an_expired_export_is_deleted_and_gone(self, app, client, session):
        user = await signed_in_user(app, client)
        export = await export_when_done(client, user, (await start_export(client, user))["id"])
        row = await session.get(UserExport, uuid.UUID(export["id"]))
        assert row is not None and row.storage_key is not None
        zip_path = app.state.storage.path_of(row.storage_key)
        assert zip_path in stored_objects(app)
        # Its expiry job waits for the setting's hours.
        expiry_job = await session.scalar(select(Job).where(Job.kind == "gdpr.expire_export"))
        assert expiry_job is not None and expiry_job.payload["export_id"] == export["id"]
        hours = app.state.settings.gdpr.export_expiry_hours
        assert expiry_job.run_after > utcnow() + timedelta(hours=hours) - timedelta(minutes=5)

        # Run too early, it leaves the export alone.
        await ExportExpiry(app.state.database, app.state.storage)({"export_id": export["id"]})
        assert (await client.get(export["download_url"], headers=user.headers)).status_code == 200

        row.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
        assert_problem(await client.get(export["download_url"], headers=user.headers), 410)
        await ExportExpiry(app.state.database, app.state.storage)({"export_id": export["id"]})
        assert zip_path not in stored_objects(app)
        status = (await client.get(f"{ME}/exports/{export['id']}", headers=user.headers)).json()
        assert status["status"] == "expired" and status["download_url"] is None
        assert_problem(await client.get(f"{ME}/exports/{export['id']}/download", headers=user.headers), 410)
