"""Retention: plans, groups and user overrides decide how long conversations and uploads are kept; the sweep
deletes only what is due, skips users on legal hold, audits one row per user and schedules its next run."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from parley.auth.permissions import Role
from parley.gdpr.retention import SWEEP_JOB, RetentionSweep
from parley.kit.clock import utcnow
from parley.models import AuditEvent, Conversation, File, Job
from tests.factories import assert_problem, signed_in_user
from tests.files.helpers import stored_objects, uploaded
from tests.gdpr.helpers import eventually

ADMIN = "/api/v1/admin"


def _sweep(app) -> RetentionSweep:
    return RetentionSweep(app.state.database, app.state.storage, app.state.settings.gdpr, seeds=app.state.plan_seeds)


async def _conversation(client, user, title: str, *, days_idle: int, session) -> uuid.UUID:
    response = await client.post("/api/v1/conversations", json={"title": title}, headers=user.headers)
    assert response.status_code == 201, response.text
    conversation_id = uuid.UUID(response.json()["id"])
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(last_activity_at=func.now() - timedelta(days=days_idle))
    )
    await session.commit()
    return conversation_id


async def _file(client, user, name: str, *, days_old: int, session) -> uuid.UUID:
    file_id = uuid.UUID((await uploaded(client, user, f"content of {name}\n".encode() * 10, name))["id"])
    await session.execute(
        update(File).where(File.id == file_id).values(created_at=func.now() - timedelta(days=days_old))
    )
    await session.commit()
    return file_id


async def _ids(session, model, user_id) -> set[uuid.UUID]:
    session.expire_all()
    return set(await session.scalars(select(model.id).where(model.user_id == user_id)))


class TestRetention:
    async def test_deletes_only_what_is_due_and_skips_legal_holds(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        alice = await signed_in_user(app, client)
        held = await signed_in_user(app, client)
        # Alice's plan override keeps conversations 30 days and uploads 10; the held user has the same.
        for user in (alice, held):
            put = await client.put(
                f"{ADMIN}/users/{user.id}/limits",
                json={"conversation_retention_days": 30, "file_retention_days": 10},
                headers=admin.headers,
            )
            assert put.status_code == 200, put.text
        hold = await client.post(f"{ADMIN}/users/{held.id}/legal-hold", json={"hold": True}, headers=admin.headers)
        assert hold.status_code == 200

        old = await _conversation(client, alice, "old", days_idle=40, session=session)
        recent = await _conversation(client, alice, "recent", days_idle=5, session=session)
        held_old = await _conversation(client, held, "held old", days_idle=400, session=session)
        old_file = await _file(client, alice, "old.txt", days_old=20, session=session)
        new_file = await _file(client, alice, "new.txt", days_old=1, session=session)
        held_file = await _file(client, held, "held.txt", days_old=400, session=session)
        # A knowledge-base document is curated content: retention of uploads leaves it alone.
        kb = (await client.post("/api/v1/knowledge-bases", json={"name": "Docs"}, headers=alice.headers)).json()
        kb_file = await _file(client, alice, "kb.txt", days_old=90, session=session)
        added = await client.post(
            f"/api/v1/knowledge-bases/{kb['id']}/files", json={"file_id": str(kb_file)}, headers=alice.headers
        )
        assert added.status_code in (200, 201), added.text
        old_path = app.state.storage.path_of(f"uploads/{old_file}")
        assert old_path in stored_objects(app)

        report = await _sweep(app).run()

        assert [(d.user_id, d.conversations, d.files) for d in report.deleted] == [(alice.id, 1, 1)]
        assert await _ids(session, Conversation, alice.id) == {recent}
        assert await _ids(session, File, alice.id) == {new_file, kb_file}
        assert await _ids(session, Conversation, held.id) == {held_old}
        assert await _ids(session, File, held.id) == {held_file}
        await eventually(lambda: _not_stored(app, old_path))
        assert old not in await _ids(session, Conversation, alice.id)

        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.delete")))
        assert len(events) == 1
        assert events[0].target_id == str(alice.id)
        assert events[0].details["conversations"] == 1 and events[0].details["files"] == 1

        # A second run finds nothing more to do and audits nothing.
        assert (await _sweep(app).run()).deleted == []

    async def test_group_retention_applies_to_members_in_batches(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        member = await signed_in_user(app, client)
        outsider = await signed_in_user(app, client)
        group = await client.post(f"{ADMIN}/groups", json={"name": "Short memory"}, headers=admin.headers)
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
        added = await client.post(
            f"{ADMIN}/groups/{group_id}/members", json={"user_id": str(member.id)}, headers=admin.headers
        )
        assert added.status_code == 201, added.text
        put = await client.put(
            f"{ADMIN}/groups/{group_id}/limits", json={"conversation_retention_days": 7}, headers=admin.headers
        )
        assert put.status_code == 200, put.text
        for n in range(5):
            await _conversation(client, member, f"m{n}", days_idle=8 + n, session=session)
            await _conversation(client, outsider, f"o{n}", days_idle=8 + n, session=session)
        sweep = _sweep(app)
        sweep.settings = sweep.settings.model_copy(update={"retention_batch_size": 2})
        report = await sweep.run()
        assert [(d.user_id, d.conversations) for d in report.deleted] == [(member.id, 5)]
        assert await _ids(session, Conversation, member.id) == set()
        assert len(await _ids(session, Conversation, outsider.id)) == 5

    async def test_retention_days_must_be_positive(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        refused = await client.put(
            f"{ADMIN}/plans/short", json={"conversation_retention_days": 0}, headers=admin.headers
        )
        assert_problem(refused, 422)
        created = await client.put(
            f"{ADMIN}/plans/short",
            json={"conversation_retention_days": 30, "file_retention_days": 7},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        limits = created.json()["limits"]
        assert limits["conversation_retention_days"] == 30 and limits["file_retention_days"] == 7


class TestSchedule:
    async def test_a_sweep_schedules_the_next_one(self, app, client, session):
        sweep = _sweep(app)
        await sweep({})
        jobs = list(await session.scalars(select(Job).where(Job.kind == SWEEP_JOB, Job.status == "queued")))
        assert len(jobs) == 1
        interval = timedelta(minutes=app.state.settings.gdpr.retention_interval_minutes)
        assert jobs[0].run_after > utcnow() + interval - timedelta(minutes=1)
        # Another run (or a replica starting) does not add a second one.
        await sweep({})
        session.expire_all()
        assert await session.scalar(select(func.count()).select_from(Job).where(Job.kind == SWEEP_JOB)) == 1


async def _not_stored(app, path) -> bool:
    return path not in stored_objects(app)
