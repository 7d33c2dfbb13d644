"""The plan's requests per minute on the chat routes: per user (whatever the credential) and per API key (below
the owner's), refused with 429 naming the limit, with Retry-After and the IETF RateLimit headers."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from parley.models import Message
from tests.factories import SignedIn, assert_problem
from tests.plans.arrange import user_on_plan

CHAT = "/api/v1/chat"


async def _key(client, user: SignedIn) -> dict[str, str]:
    response = await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=user.headers)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


class TestUserRequestsPerMinute:
    async def test_past_the_plans_rate_chat_is_429_naming_the_limit_and_nothing_is_saved(self, app, client, session):
        user = await user_on_plan(app, client, "slow-lane", {"requests_per_minute": 2})
        answers = [
            await client.post(CHAT, json={"message": f"hi {n}", "stream": False}, headers=user.headers) for n in (1, 2)
        ]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].headers["RateLimit-Policy"] == '"user-minute";q=2;w=60'
        assert answers[1].headers["RateLimit"].startswith('"user-minute";r=0;')

        refused = await client.post(CHAT, json={"message": "one too many"}, headers=user.headers)
        problem = assert_problem(refused, 429)
        assert problem["limit"] == "user-minute" and problem["quota"] == 2 and problem["type"].endswith("rate_limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert (
            await session.scalar(select(func.count()).select_from(Message).where(Message.content == "one too many"))
            == 0
        )

        # Regenerate counts against the same minute.
        conversation_id = answers[0].json()["conversation_id"]
        assert_problem(await client.post(f"{CHAT}/{conversation_id}/regenerate", json={}, headers=user.headers), 429)

    async def test_each_user_has_a_minute_of_their_own_and_unlimited_plans_send_no_headers(self, app, client):
        first = await user_on_plan(app, client, "slow-lane", {"requests_per_minute": 1})
        second = await user_on_plan(app, client, "slow-lane", {"requests_per_minute": 1})
        for user in (first, second):
            response = await client.post(CHAT, json={"message": "hi", "stream": False}, headers=user.headers)
            assert response.status_code == 200, response.text

        unlimited = await user_on_plan(app, client, "open", {})
        response = await client.post(CHAT, json={"message": "hi", "stream": False}, headers=unlimited.headers)
        assert response.status_code == 200 and "RateLimit" not in response.headers

    async def test_v1_counts_against_the_users_minute_and_answers_in_openais_shape(self, app, client, live_url):
        user = await user_on_plan(app, client, "slow-lane", {"requests_per_minute": 1})
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient(base_url=live_url) as http:
            first = await http.post("/v1/chat/completions", json=body, headers=user.headers)
            assert first.status_code == 200, first.text
            assert first.headers["RateLimit-Policy"] == '"user-minute";q=1;w=60'
            second = await http.post("/v1/chat/completions", json=body, headers=user.headers)
        assert second.status_code == 429 and "Retry-After" in second.headers
        assert second.json()["error"]["code"] == "rate_limit_exceeded"
        # The same user's minute, whichever route: the web chat is refused too.
        assert_problem(await client.post(CHAT, json={"message": "hi"}, headers=user.headers), 429)


class TestApiKeyRequestsPerMinute:
    async def test_a_key_is_held_to_the_key_rate_while_its_owner_still_chats(self, app, client):
        user = await user_on_plan(app, client, "keyed", {"requests_per_minute": 10, "api_key_requests_per_minute": 1})
        key = await _key(client, user)
        first = await client.post(CHAT, json={"message": "hi", "stream": False}, headers=key)
        assert first.status_code == 200, first.text
        problem = assert_problem(await client.post(CHAT, json={"message": "hi"}, headers=key), 429)
        assert problem["limit"] == "key-minute"

        # The owner's own session still has requests left this minute; a second key has its own.
        own = await client.post(CHAT, json={"message": "hi", "stream": False}, headers=user.headers)
        assert own.status_code == 200, own.text
        other_key = await _key(client, user)
        other = await client.post(CHAT, json={"message": "hi", "stream": False}, headers=other_key)
        assert other.status_code == 200, other.text
