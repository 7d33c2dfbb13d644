"""What a plan enforces without counting tokens: the models it includes (403 naming the plan on every chat
route; the model lists show only those) and the largest upload (413 naming the plan)."""

from __future__ import annotations

import openai
import pytest
from sqlalchemy import func, select

from parley.auth.permissions import Role
from parley.models import Conversation, File, Message
from tests.factories import assert_problem, signed_in_user
from tests.files.helpers import upload, uploaded
from tests.plans.arrange import PLANS, user_on_plan
from tests.sse import answer_text, parse_events

CHAT = "/api/v1/chat"
MIB = 1024 * 1024


class TestModelAccessInChat:
    async def test_a_model_outside_the_plan_is_403_naming_the_plan_and_nothing_is_saved(self, app, client, session):
        user = await user_on_plan(app, client, "basic", {"models": ["echo", "cheap"]})

        problem = assert_problem(
            await client.post(CHAT, json={"message": "hi", "model": "slow"}, headers=user.headers), 403
        )
        assert "basic" in problem["detail"] and "slow" in problem["detail"]
        assert problem["plan"] == "basic" and problem["model"] == "slow"
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0

        allowed = await client.post(CHAT, json={"message": "hi", "model": "cheap"}, headers=user.headers)
        assert allowed.status_code == 200 and answer_text(parse_events(allowed.text)) == "the cheap answer"

    async def test_regenerate_with_a_model_outside_the_plan_is_403_and_keeps_the_answer(self, app, client, session):
        user = await user_on_plan(app, client, "basic", {"models": ["echo"]})
        first = await client.post(CHAT, json={"message": "keep me"}, headers=user.headers)
        conversation_id = parse_events(first.text)[0].data["conversation_id"]

        problem = assert_problem(
            await client.post(f"{CHAT}/{conversation_id}/regenerate", json={"model": "cheap"}, headers=user.headers),
            403,
        )
        assert "basic" in problem["detail"]
        # Whole messages: their text is sealed at rest and opened as they load.
        messages = (await session.scalars(select(Message).order_by(Message.created_at))).all()
        assert [message.content for message in messages] == ["keep me", "keep me"]

    async def test_a_plan_without_a_model_list_may_use_every_model(self, app, client):
        user = await signed_in_user(app, client)  # free: every model
        response = await client.post(CHAT, json={"message": "hi", "model": "slow"}, headers=user.headers)
        assert response.status_code == 200, response.text


class TestRoutingStaysInThePlan:
    async def test_a_fallback_the_plan_does_not_include_never_answers(self, app, client):
        # `failing` falls back to `echo`: on a plan without echo the answer fails rather than use it.
        user = await user_on_plan(app, client, "no-fallback", {"models": ["failing"]})
        response = await client.post(CHAT, json={"message": "hi there", "model": "failing"}, headers=user.headers)
        events = parse_events(response.text)
        assert any(event.event == "error" for event in events) and answer_text(events) == ""

        other = await user_on_plan(app, client, "with-fallback", {"models": ["failing", "echo"]})
        response = await client.post(CHAT, json={"message": "hi there", "model": "failing"}, headers=other.headers)
        assert answer_text(parse_events(response.text)) == "hi there"

    async def test_auto_chooses_among_the_plans_models(self, app, client):
        # A short question goes to the plan's cheapest model (`cheap` costs nothing, echo does) ...
        both = await user_on_plan(app, client, "echo-and-cheap", {"models": ["echo", "cheap"]})
        response = await client.post(CHAT, json={"message": "hi", "model": "auto"}, headers=both.headers)
        assert answer_text(parse_events(response.text)) == "the cheap answer"
        # ... so on a plan with only echo, to echo.
        user = await user_on_plan(app, client, "echo-only", {"models": ["echo"]})
        response = await client.post(CHAT, json={"message": "hi", "model": "auto"}, headers=user.headers)
        assert response.status_code == 200, response.text
        assert answer_text(parse_events(response.text)) == "hi"

        # A long question goes to the default model (echo), unless the plan leaves it out.
        long_question = "why " * 200
        user = await user_on_plan(app, client, "cheap-only", {"models": ["cheap"]})
        response = await client.post(CHAT, json={"message": long_question, "model": "auto"}, headers=user.headers)
        assert response.status_code == 200, response.text
        assert answer_text(parse_events(response.text)) == "the cheap answer"


class TestModelAccessOnV1:
    async def test_models_list_shows_only_the_plans_models(self, app, client):
        user = await user_on_plan(app, client, "basic", {"models": ["echo", "cheap"]})
        response = await client.get("/v1/models", headers=user.headers)
        assert response.status_code == 200, response.text
        assert [m["id"] for m in response.json()["data"]] == ["auto", "echo", "cheap"]

        everyone = await signed_in_user(app, client)
        all_models = [m["id"] for m in (await client.get("/v1/models", headers=everyone.headers)).json()["data"]]
        assert {"slow", "tiny", "quiet"} <= set(all_models)

    async def test_completions_with_a_model_outside_the_plan_are_403_in_openais_shape(self, app, client, live_url):
        user = await user_on_plan(app, client, "basic", {"models": ["echo"]})
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=user.access_token, max_retries=0)

        for stream in (False, True):
            with pytest.raises(openai.PermissionDeniedError) as caught:
                await sdk.chat.completions.create(
                    model="cheap", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            assert caught.value.status_code == 403 and "basic" in caught.value.message

        answer = await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi there"}])
        assert answer.choices[0].message.content == "hi there"


class TestUploadLimit:
    async def test_the_plans_upload_limit_is_413_naming_the_plan(self, app, client, session):
        user = await user_on_plan(app, client, "tiny-files", {"max_upload_mib": 1})
        problem = assert_problem(await upload(client, user, b"a" * (2 * MIB), "two.txt"), 413)
        assert "1 MiB" in problem["detail"] and "tiny-files" in problem["detail"]
        assert await session.scalar(select(func.count()).select_from(File)) == 0

        body = await uploaded(client, user, b"a" * (MIB // 2), "half.txt")
        assert body["file_size"] == MIB // 2

    async def test_an_admins_edit_of_the_plan_applies_to_the_next_upload(self, app, client):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        user = await signed_in_user(app, client)  # free: 10 MiB
        eleven_mib = b"a" * (11 * MIB)
        assert_problem(await upload(client, user, eleven_mib, "big.txt"), 413)

        await client.put(f"{PLANS}/free", json={"max_upload_mib": 12}, headers=admin.headers)
        assert (await uploaded(client, user, eleven_mib, "big.txt"))["file_size"] == 11 * MIB
