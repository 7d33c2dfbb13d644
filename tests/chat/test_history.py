"""Regenerate, edit, page through and delete messages; usage and cost reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.factories import assert_problem, signed_in_user
from tests.sse import answer_text, parse_events

CHAT = "/api/v1/chat"


async def _ask(client, headers, message, conversation_id=None, **extra):
    body = {"message": message, **extra}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = await client.post(CHAT, json=body, headers=headers)
    assert response.status_code == 200, response.text
    events = parse_events(response.text)
    return events[0].data["conversation_id"], events


class TestRegenerate:
    async def test_regenerate_replaces_the_last_answer(self, client, app):
        me = await signed_in_user(app, client)
        conversation_id, _ = await _ask(client, me.headers, "first")
        await _ask(client, me.headers, "second", conversation_id)
        response = await client.post(
            f"{CHAT}/{conversation_id}/regenerate", json={"model": "cheap"}, headers=me.headers
        )
        assert response.status_code == 200
        events = parse_events(response.text)
        assert answer_text(events) == "the cheap answer"
        detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
        assert [(m["role"], m["content"]) for m in detail["messages"]] == [
            ("user", "first"),
            ("assistant", "first"),
            ("user", "second"),
            ("assistant", "the cheap answer"),
        ]
        assert detail["model"] == "cheap"

    async def test_edit_the_last_message_and_regenerate(self, client, app):
        me = await signed_in_user(app, client)
        conversation_id, _ = await _ask(client, me.headers, "what is 2+2")
        response = await client.post(
            f"{CHAT}/{conversation_id}/regenerate", json={"message": "what is 3+3", "stream": False}, headers=me.headers
        )
        assert response.json()["content"] == "what is 3+3"
        detail = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
        assert [m["content"] for m in detail["messages"]] == ["what is 3+3", "what is 3+3"]

    async def test_nothing_to_regenerate_is_409(self, client, app):
        me = await signed_in_user(app, client)
        empty = (await client.post("/api/v1/conversations", json={}, headers=me.headers)).json()
        assert_problem(await client.post(f"{CHAT}/{empty['id']}/regenerate", json={}, headers=me.headers), 409)


class TestMessages:
    async def test_pages_newest_first_and_delete(self, client, app):
        me = await signed_in_user(app, client)
        conversation_id, _ = await _ask(client, me.headers, "one")
        for word in ("two", "three"):
            await _ask(client, me.headers, word, conversation_id)
        first = (await client.get(f"{CHAT}/{conversation_id}/messages", params={"limit": 4}, headers=me.headers)).json()
        assert [m["content"] for m in first["items"]] == ["three", "three", "two", "two"]
        rest = (
            await client.get(
                f"{CHAT}/{conversation_id}/messages",
                params={"limit": 4, "cursor": first["next_cursor"]},
                headers=me.headers,
            )
        ).json()
        assert [m["role"] for m in rest["items"]] == ["assistant", "user"] and rest["next_cursor"] is None

        victim = first["items"][0]["id"]
        assert (await client.delete(f"{CHAT}/messages/{victim}", headers=me.headers)).status_code == 204
        after = (await client.get(f"{CHAT}/{conversation_id}/messages", headers=me.headers)).json()
        assert victim not in {m["id"] for m in after["items"]} and len(after["items"]) == 5

    async def test_other_users_messages_are_404(self, client, app):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        conversation_id, events = await _ask(client, alice.headers, "mine")
        message_id = events[0].data["user_message_id"]
        assert_problem(await client.get(f"{CHAT}/{conversation_id}/messages", headers=bob.headers), 404)
        assert_problem(await client.delete(f"{CHAT}/messages/{message_id}", headers=bob.headers), 404)


class TestUsage:
    async def test_totals_and_series_by_model_and_day(self, client, app):
        me = await signed_in_user(app, client)
        conversation_id, _ = await _ask(client, me.headers, "alpha beta")
        await _ask(client, me.headers, "gamma", conversation_id, model="cheap")
        by_model = (await client.get("/api/v1/users/me/usage", params={"group_by": "model"}, headers=me.headers)).json()
        models = {point["key"]: point for point in by_model["series"]}
        assert set(models) == {"echo", "cheap"}
        assert models["cheap"]["completion_tokens"] == 3
        assert by_model["total"]["requests"] == 2
        assert float(by_model["total"]["cost_usd"]) == float(models["echo"]["cost_usd"]) > 0
        by_day = (await client.get("/api/v1/users/me/usage", headers=me.headers)).json()
        today = datetime.now(UTC).date().isoformat()
        assert [point["key"] for point in by_day["series"]] == [today]
        assert by_day["series"][0]["total_tokens"] == by_day["total"]["total_tokens"]

    async def test_range_is_checked(self, client, app):
        me = await signed_in_user(app, client)
        now = datetime.now(UTC)
        backwards = {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
        assert_problem(await client.get("/api/v1/users/me/usage", params=backwards, headers=me.headers), 422)
        too_long = {"from": (now - timedelta(days=800)).isoformat(), "to": now.isoformat()}
        assert_problem(await client.get("/api/v1/users/me/usage", params=too_long, headers=me.headers), 422)
        empty = {"from": (now - timedelta(days=2)).isoformat(), "to": (now - timedelta(days=1)).isoformat()}
        body = (await client.get("/api/v1/users/me/usage", params=empty, headers=me.headers)).json()
        assert body["total"]["requests"] == 0 and body["series"] == []


class TestFollowUps:
    async def test_the_next_message_need_not_wait_for_the_title(self, client, app):
        me = await signed_in_user(app, client)
        conversation_id, _ = await _ask(client, me.headers, "hello there")
        run = app.state.chat_engine.runs.get(uuid.UUID(conversation_id))
        run.finished = False  # as if the title were still being written
        try:
            follow_up, _ = await _ask(client, me.headers, "and another thing", conversation_id)
            assert follow_up == conversation_id
        finally:
            run.finished = True
