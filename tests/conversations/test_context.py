"""The context gauge of a conversation (`GET /api/v1/conversations/{id}/context`): how many tokens the conversation
takes in the model's context window, as the last answer counted them, against that model's window; and what the
conversation has cost so far."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select

from parley.models import UsageLog
from tests.factories import assert_problem, signed_in_user

CHAT = "/api/v1/chat"


def context_url(conversation_id: str) -> str:
    return f"/api/v1/conversations/{conversation_id}/context"


async def _chat(client, headers, message: str, **options) -> dict:
    body = {"message": message, "stream": False, **options}
    response = await client.post(CHAT, json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


class TestContextGauge:
    async def test_a_new_conversation_is_empty_against_the_default_models_window(self, app, client):
        user = await signed_in_user(app, client)
        created = await client.post("/api/v1/conversations", json={}, headers=user.headers)

        response = await client.get(context_url(created.json()["id"]), headers=user.headers)

        assert response.status_code == 200, response.text
        assert response.json() == {"model": "echo", "context_window": 4096, "context_tokens": 0, "cost_usd": 0}

    async def test_after_answers_it_shows_the_last_prompt_and_answer_and_the_whole_cost(self, app, client, session):
        user = await signed_in_user(app, client)
        first = await _chat(client, user.headers, "tell me about context windows " * 5)
        conversation_id = first["conversation_id"]
        second = await _chat(client, user.headers, "and again", conversation_id=conversation_id)

        found = (await client.get(context_url(conversation_id), headers=user.headers)).json()

        # The second prompt carried the first turn, so the gauge grew; it is what the last answer counted.
        assert found["context_tokens"] == second["usage"]["prompt_tokens"] + second["usage"]["completion_tokens"]
        assert found["context_tokens"] > first["usage"]["prompt_tokens"] + first["usage"]["completion_tokens"]
        cost = await session.scalar(
            select(func.sum(UsageLog.cost_usd)).where(UsageLog.conversation_id == uuid.UUID(conversation_id))
        )
        # Both answers (and the title) cost something on the priced echo model, all of it counted.
        assert cost >= Decimal(first["cost"]) + Decimal(second["cost"]) > 0
        assert found["cost_usd"] == float(cost)
        assert (found["model"], found["context_window"]) == ("echo", 4096)

    async def test_the_window_is_that_of_the_model_that_answered_last(self, app, client):
        user = await signed_in_user(app, client)
        first = await _chat(client, user.headers, "hello")
        await _chat(client, user.headers, "hello small", conversation_id=first["conversation_id"], model="tiny")

        found = (await client.get(context_url(first["conversation_id"]), headers=user.headers)).json()
        assert (found["model"], found["context_window"]) == ("tiny", 300)

    async def test_another_users_conversation_is_not_found(self, app, client):
        owner = await signed_in_user(app, client)
        stranger = await signed_in_user(app, client)
        answer = await _chat(client, owner.headers, "mine")

        assert_problem(await client.get(context_url(answer["conversation_id"]), headers=stranger.headers), 404)
        assert_problem(await client.get(context_url(str(uuid.uuid4())), headers=owner.headers), 404)
