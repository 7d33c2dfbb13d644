"""The audit trail over HTTP: the SIEM export (JSON Lines, streamed, filtered) and the chain's verification."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from parley.audit.checkpoints import write_checkpoint
from parley.audit.service import AuditAction, record
from parley.auth.permissions import Role
from tests.factories import assert_problem, signed_in_user

EVENTS = "/api/v1/admin/audit-events"


async def add(app, action: AuditAction, **details: object) -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with app.state.database.session() as session:
        event = record(session, action, actor_id=None, target_type="test", target_id="t-1", details=dict(details))
        await session.flush()
        return event.id


def lines(body: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in body.splitlines()]


class TestExport:
    async def test_json_lines_oldest_first_with_the_chain_links(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        first = await add(app, AuditAction.PLAN_PUT, name="pro")
        second = await add(app, AuditAction.GROUP_CREATE, name="Ops ✓")
        response = await client.get(f"{EVENTS}/export", headers=admin.headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["content-disposition"].startswith('attachment; filename="parley-audit-')
        assert response.text.endswith("\n")
        exported = lines(response.text)
        # The admin's own sign-in comes first; then the two rows, each linked to the one before; last, the record
        # of this very export.
        assert [e["action"] for e in exported] == ["auth.login", "plan.put", "group.create", "audit.export"]
        assert [e["id"] for e in exported[1:3]] == [str(first), str(second)]
        assert exported[2]["details"] == {"name": "Ops ✓"}
        assert [e["seq"] for e in exported] == [1, 2, 3, 4]
        assert exported[2]["prev_hash"] == exported[1]["hash"]
        assert set(exported[0]) == {
            "id", "seq", "created_at", "actor_id", "action", "target_type", "target_id", "ip", "details",
            "prev_hash", "hash",
        }  # fmt: skip

    async def test_filtered_by_action_and_time(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        await add(app, AuditAction.PLAN_PUT)
        await add(app, AuditAction.GROUP_CREATE)
        await add(app, AuditAction.GROUP_DELETE)
        await add(app, AuditAction.PLAN_DELETE)
        async with app.state.database.engine.begin() as connection:
            await connection.execute(
                text("UPDATE audit_events SET created_at = now() - interval '10 days' WHERE action = 'plan.put'")
            )
        by_action = await client.get(
            f"{EVENTS}/export",
            params=[("action", "group.create"), ("action", "group.delete")],
            headers=admin.headers,
        )
        assert [e["action"] for e in lines(by_action.text)] == ["group.create", "group.delete"]
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        recent_plans = await client.get(
            f"{EVENTS}/export", params={"since": since, "target_type": "test"}, headers=admin.headers
        )
        assert {e["action"] for e in lines(recent_plans.text)} == {"group.create", "group.delete", "plan.delete"}
        until = (datetime.now(UTC) - timedelta(days=5)).isoformat()
        old = await client.get(f"{EVENTS}/export", params={"until": until}, headers=admin.headers)
        assert [e["action"] for e in lines(old.text)] == ["plan.put"]

    async def test_many_rows_stream_in_batches(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        async with app.state.database.session() as session:
            for index in range(1200):
                record(session, AuditAction.QUOTA_WARNING, actor_id=None, details={"i": index})
        async with client.stream("GET", f"{EVENTS}/export", headers=admin.headers) as response:
            chunks = [chunk async for chunk in response.aiter_bytes()]
        exported = lines(b"".join(chunks).decode())
        assert len(exported) == 1202
        assert [e["details"]["i"] for e in exported[1:-1]] == list(range(1200))  # type: ignore[index]

    async def test_a_reversed_time_range_is_refused(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        now = datetime.now(UTC)
        response = await client.get(
            f"{EVENTS}/export",
            params={"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
            headers=admin.headers,
        )
        assert_problem(response, 422)


class TestVerification:
    async def test_verified_then_broken_at_the_edited_row(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        ids = [await add(app, AuditAction.PLAN_PUT, n=n) for n in range(3)]
        async with app.state.database.session() as session:
            await write_checkpoint(session, app.state.audit_signer)
        verified = (await client.get(f"{EVENTS}/verification", headers=admin.headers)).json()
        assert verified["status"] == "verified"
        assert verified["rows"] == 4 and verified["head_seq"] == 4
        assert verified["verified_checkpoint_seq"] == 4 and verified["problem"] is None

        async with app.state.database.engine.begin() as connection:
            await connection.execute(text("UPDATE audit_events SET ip = '10.0.0.1' WHERE id = :id"), {"id": ids[1]})
        broken = (await client.get(f"{EVENTS}/verification", headers=admin.headers)).json()
        assert broken["status"] == "broken"
        assert broken["problem"]["kind"] == "edited"
        assert broken["problem"]["seq"] == 3 and broken["problem"]["event_id"] == str(ids[1])
        assert broken["summary"].startswith("audit chain broken at row #3")

    async def test_a_user_without_the_audit_permission_is_refused(self, app, client):
        user = await signed_in_user(app, client)
        assert_problem(await client.get(f"{EVENTS}/verification", headers=user.headers), 403)
        assert_problem(await client.get(f"{EVENTS}/export", headers=user.headers), 403)
