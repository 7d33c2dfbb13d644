"""Conversations: the sidebar's list, search, rename, archive and delete."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from parley.models import Conversation, Message
from tests.factories import assert_problem, signed_in_user

CONVERSATIONS = "/api/v1/conversations"


async def _create(client, headers, title=None):
    response = await client.post(CONVERSATIONS, json={"title": title} if title else {}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _add_message(session, conversation_id: str, role: str, content: str) -> None:
    session.add(Message(conversation_id=uuid.UUID(conversation_id), role=role, content=content))
    await session.execute(
        update(Conversation)
        .where(Conversation.id == uuid.UUID(conversation_id))
        .values(last_activity_at=func.clock_timestamp())
    )
    await session.commit()


class TestCrud:
    async def test_create_read_rename_delete(self, client, app, session):
        me = await signed_in_user(app, client)
        created = await _create(client, me.headers)
        assert created["title"] == "New chat" and created["is_archived"] is False
        await _add_message(session, created["id"], "user", "hello there")
        await _add_message(session, created["id"], "assistant", "General Kenobi")

        detail = (await client.get(f"{CONVERSATIONS}/{created['id']}", headers=me.headers)).json()
        assert [(m["role"], m["content"]) for m in detail["messages"]] == [
            ("user", "hello there"),
            ("assistant", "General Kenobi"),
        ]
        renamed = await client.patch(
            f"{CONVERSATIONS}/{created['id']}", json={"title": "  Star   Wars "}, headers=me.headers
        )
        assert renamed.json()["title"] == "Star Wars"

        assert (await client.delete(f"{CONVERSATIONS}/{created['id']}", headers=me.headers)).status_code == 204
        assert_problem(await client.get(f"{CONVERSATIONS}/{created['id']}", headers=me.headers), 404)
        remaining = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == uuid.UUID(created["id"]))
        )
        assert remaining == 0

    async def test_blank_title_is_422(self, client, app):
        me = await signed_in_user(app, client)
        created = await _create(client, me.headers)
        assert_problem(
            await client.patch(f"{CONVERSATIONS}/{created['id']}", json={"title": "   "}, headers=me.headers), 422
        )

    async def test_another_users_conversation_is_404_for_every_verb(self, client, app):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        theirs = await _create(client, alice.headers, "alice's secrets")
        url = f"{CONVERSATIONS}/{theirs['id']}"
        assert_problem(await client.get(url, headers=bob.headers), 404)
        assert_problem(await client.patch(url, json={"title": "pwned"}, headers=bob.headers), 404)
        assert_problem(await client.delete(url, headers=bob.headers), 404)
        assert (await client.get(CONVERSATIONS, headers=bob.headers)).json()["items"] == []
        assert (await client.get(url, headers=alice.headers)).json()["title"] == "alice's secrets"


class TestListing:
    async def test_newest_activity_first_with_cursor_pages(self, client, app, session):
        me = await signed_in_user(app, client)
        ids = [(await _create(client, me.headers, f"chat {n}"))["id"] for n in range(5)]
        # A message in the oldest conversation brings it to the top.
        await _add_message(session, ids[0], "user", "bump")

        first = (await client.get(CONVERSATIONS, params={"limit": 2}, headers=me.headers)).json()
        assert [c["id"] for c in first["items"]] == [ids[0], ids[4]]
        second = (
            await client.get(CONVERSATIONS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=me.headers)
        ).json()
        third = (
            await client.get(CONVERSATIONS, params={"limit": 2, "cursor": second["next_cursor"]}, headers=me.headers)
        ).json()
        assert [c["id"] for c in second["items"]] == [ids[3], ids[2]]
        assert [c["id"] for c in third["items"]] == [ids[1]]
        assert third["next_cursor"] is None

    async def test_archived_filter(self, client, app):
        me = await signed_in_user(app, client)
        kept = await _create(client, me.headers, "keep")
        old = await _create(client, me.headers, "old")
        await client.patch(f"{CONVERSATIONS}/{old['id']}", json={"is_archived": True}, headers=me.headers)

        active = (await client.get(CONVERSATIONS, headers=me.headers)).json()["items"]
        archived = (await client.get(CONVERSATIONS, params={"archived": "true"}, headers=me.headers)).json()["items"]
        assert [c["id"] for c in active] == [kept["id"]]
        assert [c["id"] for c in archived] == [old["id"]]
        await client.patch(f"{CONVERSATIONS}/{old['id']}", json={"is_archived": False}, headers=me.headers)
        assert len((await client.get(CONVERSATIONS, headers=me.headers)).json()["items"]) == 2

    async def test_search_finds_titles_and_message_text_as_you_type(self, client, app, session):
        me = await signed_in_user(app, client)
        budget = await _create(client, me.headers, "Quarterly budget review")
        recipes = await _create(client, me.headers, "Dinner ideas")
        await _add_message(session, recipes["id"], "assistant", "Try a saffron paella with prawns.")
        await _create(client, me.headers, "Unrelated")

        async def search(q):
            response = await client.get(CONVERSATIONS, params={"q": q}, headers=me.headers)
            assert response.status_code == 200, response.text
            return [c["id"] for c in response.json()["items"]]

        assert await search("budget") == [budget["id"]]
        assert await search("quarterly rev") == [budget["id"]]  # every word, each as a prefix
        assert await search("PAELLA") == [recipes["id"]]
        assert await search("saffron paella") == [recipes["id"]]
        assert await search("paella budget") == []
        assert await search("'&|!:*()") == []  # tsquery syntax is not injectable

    async def test_search_never_crosses_users(self, client, app, session):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        theirs = await _create(client, alice.headers, "merger plans")
        await _add_message(session, theirs["id"], "user", "confidential acquisition of Globex")
        for q in ("merger", "globex"):
            found = (await client.get(CONVERSATIONS, params={"q": q}, headers=bob.headers)).json()["items"]
            assert found == []
