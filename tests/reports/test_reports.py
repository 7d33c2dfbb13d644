"""Reports of answers and the admin Review queue: a user reports one of their answers; reviewers see the reported
exchange (and nothing else of the conversation), decide, suspend, block phrases, write notes; all audited, a
`report.created` event in the outbox; reports go with the user's export and erasure."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text

from parley.auth.permissions import Role
from parley.crypto import content as sealed
from parley.crypto.seal_existing import seal_existing
from parley.kit.clock import utcnow
from parley.models import AnswerReport, AuditEvent, BlockListEntry, Job, Message
from tests.factories import PASSWORD, assert_problem, create_user, sign_in, signed_in_user
from tests.gdpr.helpers import chat, downloaded_zip, export_when_done, start_export

MESSAGES = "/api/v1/chat/messages"
REPORTS = "/api/v1/admin/reports"


async def reported(client, user, message: str = "tell me something", **body) -> tuple[dict, dict]:
    """One answer of `user` (to `message`) and the report of it."""
    answer = await chat(client, user, message)
    response = await client.post(
        f"{MESSAGES}/{answer['message_id']}/report",
        json={"reason": "wrong", "comment": "it made this up", **body},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    return answer, response.json()


async def _audited(session, action: str) -> list[AuditEvent]:
    return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


class TestReporting:
    async def test_a_report_is_stored_sealed_audited_and_announced(self, app, client, session):
        user = await signed_in_user(app, client)
        await chat(client, user, "an earlier question canary-r0")
        answer, report = await reported(client, user, "the reported question canary-r1")
        assert report["status"] == "open" and report["reason"] == "wrong"
        assert report["comment"] == "it made this up" and report["message_id"] == answer["message_id"]

        raw = (
            await session.execute(
                text("SELECT comment, question, answer FROM answer_reports WHERE id = :id"), {"id": report["id"]}
            )
        ).one()
        assert all(sealed.is_sealed(value) for value in raw)

        created = await _audited(session, "report.create")
        assert [(e.actor_id, e.target_id, e.details["reason"]) for e in created] == [(user.id, report["id"], "wrong")]
        events = (await session.scalars(select(Job).where(Job.kind == "event"))).all()
        announced = [e.payload for e in events if e.payload["type"] == "report.created"]
        assert len(announced) == 1
        assert announced[0]["data"]["report_id"] == report["id"]
        assert announced[0]["data"]["message_id"] == answer["message_id"]
        assert "canary" not in json.dumps(announced[0])

    async def test_a_second_open_report_of_the_same_answer_is_409_and_allowed_once_decided(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        answer, report = await reported(client, user)
        url = f"{MESSAGES}/{answer['message_id']}/report"
        assert_problem(await client.post(url, json={"reason": "other"}, headers=user.headers), 409)
        decided = await client.post(
            f"{REPORTS}/{report['id']}/actions", json={"action": "dismiss"}, headers=admin.headers
        )
        assert decided.status_code == 200, decided.text
        again = await client.post(url, json={"reason": "harmful"}, headers=user.headers)
        assert again.status_code == 201 and again.json()["id"] != report["id"]

    async def test_another_users_answer_or_an_unknown_one_is_404(self, app, client, session):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        answer = await chat(client, alice, "mine")
        for message_id in (answer["message_id"], str(uuid.uuid4())):
            response = await client.post(
                f"{MESSAGES}/{message_id}/report", json={"reason": "other"}, headers=bob.headers
            )
            assert_problem(response, 404)
        assert await session.scalar(select(func.count()).select_from(AnswerReport)) == 0

    async def test_a_question_cannot_be_reported(self, app, client):
        user = await signed_in_user(app, client)
        answer = await chat(client, user, "a question")
        response = await client.post(
            f"{MESSAGES}/{answer['user_message_id']}/report", json={"reason": "other"}, headers=user.headers
        )
        assert_problem(response, 422)

    async def test_an_answer_being_written_cannot_be_reported_yet(self, app, client, session):
        user = await signed_in_user(app, client)
        answer = await chat(client, user, "a question")
        row = await session.get(Message, uuid.UUID(answer["message_id"]))
        row.finish_reason = None
        await session.commit()
        response = await client.post(
            f"{MESSAGES}/{answer['message_id']}/report", json={"reason": "other"}, headers=user.headers
        )
        assert_problem(response, 409)

    @pytest.mark.parametrize(
        "body",
        [{}, {"reason": "boring"}, {"reason": "other", "comment": "x" * 2001}, {"reason": "other", "stars": 1}],
    )
    async def test_bad_bodies_are_422(self, app, client, body):
        user = await signed_in_user(app, client)
        answer = await chat(client, user, "a question")
        assert_problem(
            await client.post(f"{MESSAGES}/{answer['message_id']}/report", json=body, headers=user.headers), 422
        )

    async def test_feedback_can_be_posted_under_chat_messages_too(self, app, client):
        user = await signed_in_user(app, client)
        answer = await chat(client, user, "rate me")
        response = await client.post(
            f"{MESSAGES}/{answer['message_id']}/feedback",
            json={"rating": "down", "comment": "meh"},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["feedback"]["rating"] == "down" and response.json()["feedback"]["comment"] == "meh"


class TestReviewQueue:
    async def test_the_reviewer_sees_the_reported_exchange_only_and_reading_is_audited(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        first = await chat(client, user, "an earlier question canary-q0")
        answer = await chat(client, user, "the reported question canary-q1", conversation_id=first["conversation_id"])
        report = (
            await client.post(
                f"{MESSAGES}/{answer['message_id']}/report", json={"reason": "harmful"}, headers=user.headers
            )
        ).json()

        response = await client.get(f"{REPORTS}/{report['id']}", headers=admin.headers)
        assert response.status_code == 200, response.text
        shown = response.json()
        assert shown["user_email"] == user.email and shown["status"] == "open" and shown["reason"] == "harmful"
        assert shown["exchange"]["question"] == "the reported question canary-q1"
        # the scripted model echoes the question: the answer is shown as it was
        assert "canary-q1" in shown["exchange"]["answer"]
        assert "canary-q0" not in response.text
        assert shown["scores"] is None and shown["actions"] == [] and shown["model"]
        read = await _audited(session, "report.read")
        assert [(e.actor_id, e.target_id) for e in read] == [(admin.id, report["id"])]

    async def test_the_exchange_survives_the_conversation_being_deleted(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        answer, report = await reported(client, user, "soon gone canary-g1")
        deleted = await client.delete(f"/api/v1/conversations/{answer['conversation_id']}", headers=user.headers)
        assert deleted.status_code == 204
        shown = (await client.get(f"{REPORTS}/{report['id']}", headers=admin.headers)).json()
        assert shown["message_id"] is None and shown["exchange"]["question"] == "soon gone canary-g1"

    async def test_list_filters_and_pages(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        _, a1 = await reported(client, alice, "one", reason="wrong")
        _, a2 = await reported(client, alice, "two", reason="harmful")
        _, b1 = await reported(client, bob, "three", reason="harmful")
        await client.post(f"{REPORTS}/{a2['id']}/actions", json={"action": "confirm"}, headers=admin.headers)

        async def ids(**params) -> list[str]:
            response = await client.get(REPORTS, params=params, headers=admin.headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids() == [b1["id"], a2["id"], a1["id"]]
        assert await ids(status="open") == [b1["id"], a1["id"]]
        assert await ids(status="confirmed") == [a2["id"]]
        assert await ids(reason="harmful") == [b1["id"], a2["id"]]
        assert await ids(user_id=str(alice.id)) == [a2["id"], a1["id"]]
        model = (await client.get(REPORTS, headers=admin.headers)).json()["items"][0]["model"]
        assert await ids(model=model) == [b1["id"], a2["id"], a1["id"]]
        assert await ids(model="no-such-model") == []
        later = (utcnow() + timedelta(minutes=1)).isoformat()
        assert await ids(since=later) == [] and len(await ids(until=later)) == 3
        page = (await client.get(REPORTS, params={"page": 2, "page_size": 2}, headers=admin.headers)).json()
        assert page["total"] == 3 and [i["id"] for i in page["items"]] == [a1["id"]]
        row = page["items"][0]
        assert row["user_email"] == alice.email and "exchange" not in row and "comment" not in row
        assert_problem(await client.get(REPORTS, params={"status": "closed"}, headers=admin.headers), 422)
        assert_problem(await client.get(f"{REPORTS}/{uuid.uuid4()}", headers=admin.headers), 404)

    async def test_users_cannot_see_the_queue(self, app, client):
        user = await signed_in_user(app, client)
        _, report = await reported(client, user)
        assert_problem(await client.get(REPORTS, headers=user.headers), 403)
        assert_problem(await client.get(f"{REPORTS}/{report['id']}", headers=user.headers), 403)
        response = await client.post(
            f"{REPORTS}/{report['id']}/actions", json={"action": "dismiss"}, headers=user.headers
        )
        assert_problem(response, 403)


class TestActions:
    async def test_decisions_and_notes_make_the_history_and_the_audit_trail(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        _, report = await reported(client, user)
        url = f"{REPORTS}/{report['id']}/actions"

        noted = await client.post(url, json={"action": "note", "note": "asked the model team"}, headers=admin.headers)
        assert noted.status_code == 200 and noted.json()["status"] == "open"
        confirmed = await client.post(url, json={"action": "confirm", "note": "it is wrong"}, headers=admin.headers)
        body = confirmed.json()
        assert body["status"] == "confirmed" and body["resolved_by"] == str(admin.id) and body["resolved_at"]
        assert_problem(await client.post(url, json={"action": "confirm"}, headers=admin.headers), 409)
        dismissed = (await client.post(url, json={"action": "dismiss"}, headers=admin.headers)).json()
        assert dismissed["status"] == "dismissed"
        history = [(a["action"], a["note"], a["actor_email"]) for a in dismissed["actions"]]
        assert history == [
            ("note", "asked the model team", admin.email),
            ("confirm", "it is wrong", admin.email),
            ("dismiss", None, admin.email),
        ]
        assert dismissed["actions"][2]["details"] == {"from": "confirmed"}
        trail = [
            (e.action, e.actor_id, e.target_id, e.details["note"])
            for e in await session.scalars(
                select(AuditEvent).where(AuditEvent.target_type == "report", AuditEvent.action != "report.create")
            )
        ]
        assert sorted(trail) == sorted(
            [
                ("report.note", admin.id, report["id"], True),
                ("report.confirm", admin.id, report["id"], True),
                ("report.dismiss", admin.id, report["id"], False),
            ]
        )
        # the note's text is not in the trail (it may quote the user)
        assert "asked the model team" not in json.dumps([e.details for e in await _audited(session, "report.note")])

    @pytest.mark.parametrize(
        "body",
        [
            {"action": "delete"},
            {"action": "note"},
            {"action": "block_phrase"},
            {"action": "dismiss", "phrase": "x"},
            {"action": "note", "note": "x" * 2001},
        ],
    )
    async def test_bad_actions_are_422(self, app, client, body):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        _, report = await reported(client, user)
        assert_problem(await client.post(f"{REPORTS}/{report['id']}/actions", json=body, headers=admin.headers), 422)

    async def test_block_phrase_goes_to_the_block_list_once(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        _, report = await reported(client, user)
        url = f"{REPORTS}/{report['id']}/actions"
        first = await client.post(
            url, json={"action": "block_phrase", "phrase": " Forbidden Words "}, headers=admin.headers
        )
        assert first.status_code == 200, first.text
        again = await client.post(
            url, json={"action": "block_phrase", "phrase": "forbidden words"}, headers=admin.headers
        )
        assert again.json()["actions"][1]["details"] == {"phrase": "forbidden words", "already_listed": True}
        entries = (await session.scalars(select(BlockListEntry))).all()
        assert [(e.phrase, e.created_by, str(e.source_report_id)) for e in entries] == [
            ("Forbidden Words", admin.id, report["id"])
        ]
        phrases = sorted(e.details["phrase"] for e in await _audited(session, "report.block_phrase"))
        assert phrases == ["Forbidden Words", "forbidden words"]

    async def test_suspend_blocks_the_users_sign_in_and_api_use(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        key = (await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=user.headers)).json()["key"]
        _, report = await reported(client, user)
        response = await client.post(
            f"{REPORTS}/{report['id']}/actions", json={"action": "suspend_user", "note": "abuse"}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert_problem(await client.get("/api/v1/users/me", headers=user.headers), 403)
        assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}), 403)
        login = await client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        assert login.status_code in (401, 403)
        assert {"report.suspend_user", "admin.user_suspend"} <= {
            e.action for e in await session.scalars(select(AuditEvent).where(AuditEvent.actor_id == admin.id))
        }

    async def test_a_reviewer_without_admin_users_cannot_suspend(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        created = await client.post(
            "/api/v1/admin/roles",
            json={"name": "reviewer", "permissions": ["profile:read", "admin:reports"]},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        reviewer_id = await create_user(app, email="reviewer@example.com")
        changed = await client.patch(
            f"/api/v1/admin/users/{reviewer_id}", json={"role": "reviewer"}, headers=admin.headers
        )
        assert changed.status_code == 200, changed.text
        reviewer = {"Authorization": f"Bearer {(await sign_in(client, 'reviewer@example.com'))['access_token']}"}
        user = await signed_in_user(app, client)
        _, report = await reported(client, user)

        assert (await client.get(REPORTS, headers=reviewer)).json()["total"] == 1
        url = f"{REPORTS}/{report['id']}/actions"
        assert_problem(await client.post(url, json={"action": "suspend_user"}, headers=reviewer), 403)
        assert (await client.post(url, json={"action": "dismiss"}, headers=reviewer)).status_code == 200
        assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200


class TestPrivacy:
    async def test_reports_are_in_the_users_export(self, app, client):
        user = await signed_in_user(app, client)
        _, report = await reported(client, user, "exported canary-x1")
        export = await export_when_done(client, user, (await start_export(client, user))["id"])
        archive = await downloaded_zip(client, user, export)
        documents = json.loads(archive.read("reports.json"))
        assert [(d["id"], d["reason"], d["comment"], d["question"]) for d in documents] == [
            (report["id"], "wrong", "it made this up", "exported canary-x1")
        ]

    async def test_reports_go_with_the_users_erasure(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        other = await signed_in_user(app, client)
        _, gone = await reported(client, user)
        _, kept = await reported(client, other)
        await client.post(
            f"{REPORTS}/{kept['id']}/actions", json={"action": "note", "note": "n"}, headers=admin.headers
        )
        assert (await client.delete(f"/api/v1/admin/users/{user.id}", headers=admin.headers)).status_code == 204
        remaining = (await session.scalars(select(AnswerReport.id))).all()
        assert [str(r) for r in remaining] == [kept["id"]]
        assert_problem(await client.get(f"{REPORTS}/{gone['id']}", headers=admin.headers), 404)


class TestSealExisting:
    async def test_a_report_written_while_sealing_was_off_is_sealed_in_place_and_still_read(self, app, client, session):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)
        report_id = uuid.uuid4()
        # as a replica with PARLEY_CRYPTO__SEAL_CONTENT off (a rolling upgrade) stores it: plain text
        await session.execute(
            insert(AnswerReport).values(
                id=report_id,
                user_id=user.id,
                reason="other",
                comment="plain note",
                question="plain q",
                answer="plain a",
            )
        )
        await session.commit()

        done = await seal_existing(app.state.database.engine, app.state.crypto)
        assert done.counts["reports"] == 1
        raw = (
            await session.execute(
                text("SELECT comment, question, answer FROM answer_reports WHERE id = :id"), {"id": report_id}
            )
        ).one()
        assert all(sealed.is_sealed(value) for value in raw)
        shown = (await client.get(f"{REPORTS}/{report_id}", headers=admin.headers)).json()
        assert (shown["comment"], shown["exchange"]) == ("plain note", {"question": "plain q", "answer": "plain a"})
        assert (await seal_existing(app.state.database.engine, app.state.crypto)).counts["reports"] == 0
