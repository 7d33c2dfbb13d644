"""Feedback on answers: a user rates their own answers thumbs up or down, with an optional comment, sees the rating
when the conversation is read again, and can withdraw it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from parley.models import Message
from tests.factories import assert_problem, signed_in_user

CHAT = "/api/v1/chat"


def feedback_url(message_id: str) -> str:
    return f"/api/v1/messages/{message_id}/feedback"


async def answered(client, headers) -> dict:
    response = await client.post(CHAT, json={"message": "rate me", "stream": False}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def shown_feedback(client, headers, conversation_id: str) -> dict | None:
    detail = await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)
    answer = next(m for m in detail.json()["messages"] if m["role"] == "assistant")
    return answer["feedback"]


class TestRating:
    async def test_thumbs_down_with_comment_is_shown_with_the_message(self, client, app):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        assert await shown_feedback(client, me.headers, result["conversation_id"]) is None

        response = await client.put(
            feedback_url(result["message_id"]),
            json={"rating": "down", "comment": "  it only repeated my question  "},
            headers=me.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == result["message_id"] and body["content"] == "rate me"
        assert body["feedback"]["rating"] == "down"
        assert body["feedback"]["comment"] == "it only repeated my question"
        assert body["feedback"]["at"]
        # the raw columns are not part of the message's shape
        assert "feedback_rating" not in body

        shown = await shown_feedback(client, me.headers, result["conversation_id"])
        assert shown == body["feedback"]
        page = await client.get(f"{CHAT}/{result['conversation_id']}/messages", headers=me.headers)
        assert next(m for m in page.json()["items"] if m["role"] == "assistant")["feedback"]["rating"] == "down"

    async def test_changing_the_rating_replaces_the_comment(self, client, app, session):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        url = feedback_url(result["message_id"])
        await client.put(url, json={"rating": "down", "comment": "wrong"}, headers=me.headers)
        response = await client.put(url, json={"rating": "up"}, headers=me.headers)
        assert response.json()["feedback"]["rating"] == "up" and response.json()["feedback"]["comment"] is None
        stored = await session.scalar(select(Message).where(Message.id == uuid.UUID(result["message_id"])))
        assert (stored.feedback_rating, stored.feedback_comment) == (1, None)

    async def test_withdrawn_rating_is_gone(self, client, app):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        url = feedback_url(result["message_id"])
        await client.put(url, json={"rating": "up"}, headers=me.headers)
        assert (await client.delete(url, headers=me.headers)).status_code == 204
        assert await shown_feedback(client, me.headers, result["conversation_id"]) is None
        # withdrawing again changes nothing and is not an error
        assert (await client.delete(url, headers=me.headers)).status_code == 204


class TestRefused:
    async def test_another_users_answer_is_404(self, client, app):
        alice = await signed_in_user(app, client)
        bob = await signed_in_user(app, client)
        result = await answered(client, alice.headers)
        url = feedback_url(result["message_id"])
        assert_problem(await client.put(url, json={"rating": "down"}, headers=bob.headers), 404)
        assert_problem(await client.delete(url, headers=bob.headers), 404)
        assert await shown_feedback(client, alice.headers, result["conversation_id"]) is None

    async def test_unknown_message_is_404(self, client, app):
        me = await signed_in_user(app, client)
        assert_problem(
            await client.put(feedback_url(str(uuid.uuid4())), json={"rating": "up"}, headers=me.headers), 404
        )

    async def test_a_question_cannot_be_rated(self, client, app):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        response = await client.put(feedback_url(result["user_message_id"]), json={"rating": "up"}, headers=me.headers)
        assert_problem(response, 422)

    async def test_an_answer_being_written_cannot_be_rated_yet(self, client, app, session):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        answer = await session.get(Message, uuid.UUID(result["message_id"]))
        answer.finish_reason = None
        await session.commit()
        response = await client.put(feedback_url(result["message_id"]), json={"rating": "up"}, headers=me.headers)
        assert_problem(response, 409)

    @pytest.mark.parametrize(
        "body",
        [{"rating": "meh"}, {}, {"rating": "up", "comment": "x" * 2001}, {"rating": "up", "stars": 5}],
    )
    async def test_bad_bodies_are_422(self, client, app, body):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        assert_problem(await client.put(feedback_url(result["message_id"]), json=body, headers=me.headers), 422)
        assert await shown_feedback(client, me.headers, result["conversation_id"]) is None

    async def test_longest_comment_is_kept(self, client, app):
        me = await signed_in_user(app, client)
        result = await answered(client, me.headers)
        comment = "é" * 2000
        response = await client.put(
            feedback_url(result["message_id"]), json={"rating": "down", "comment": comment}, headers=me.headers
        )
        assert response.status_code == 200 and response.json()["feedback"]["comment"] == comment

    async def test_signed_out_is_401(self, client):
        assert_problem(await client.put(feedback_url(str(uuid.uuid4())), json={"rating": "up"}), 401)
