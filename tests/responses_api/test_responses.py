"""The official OpenAI Python SDK's Responses client, unchanged, against Parley's /v1/responses with a Parley API
key: answers, streams its helper assembles, tools, stored chains, structured output, and OpenAI's errors."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel
from sqlalchemy import select

from parley.models import Conversation, Message, UsageLog
from tests.factories import openai_sdk
from tests.gdpr.helpers import downloaded_zip, export_when_done, start_export
from tests.plans.arrange import user_on_plan

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

# Requests Parley refuses, with the parameter the 400 names.
REFUSED = [
    ({"tools": [{"type": "web_search"}]}, "tools.0.type"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
        "input.0.content.0",
    ),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input.0.type"),
    ({"background": True}, "background"),
    ({"include": ["file_search_call.results"]}, "include"),
    ({"truncation": "auto"}, "truncation"),
    ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [WEATHER]}, "tool_choice"),
]


class Forecast(BaseModel):
    city: str
    degrees: int


async def _sdk(client, app, live_url, **key_body):
    me, _, sdk = await openai_sdk(app, client, live_url, **key_body)
    return me, sdk


class TestCreate:
    async def test_a_response_with_its_usage_recorded_against_the_key(self, client, app, live_url, session):
        me, sdk = await _sdk(client, app, live_url)
        response = await sdk.responses.create(
            model="echo", input="ping pong", instructions="be brief", metadata={"ticket": "42"}
        )
        assert response.id.startswith("resp_") and response.object == "response"
        assert response.status == "completed" and response.model == "echo"
        assert response.output_text == "ping pong"
        [message] = response.output
        assert message.type == "message" and message.role == "assistant"
        assert response.usage.output_tokens == 2 and response.usage.total_tokens > 2
        assert response.instructions == "be brief" and response.metadata == {"ticket": "42"}
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row.model == "echo" and row.api_key_id is not None and row.completion_tokens == 2

    async def test_input_items_and_max_output_tokens(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        response = await sdk.responses.create(
            model="echo",
            input=[
                {"role": "developer", "content": "answer"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a b c d e"}]},
            ],
            max_output_tokens=2,
        )
        assert response.output_text == "a b"
        assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
        long = "y" * 11_000  # a long string is one message, whatever its length
        assert (await sdk.responses.create(model="echo", input=long)).output_text == long

    async def test_the_stream_helper_assembles_the_response(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        async with sdk.responses.stream(model="echo", input="one two three") as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        kinds = [event.type for event in events]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[-1] == "response.completed"
        assert kinds.count("response.output_text.delta") == 3
        for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.done"):
            assert kind in kinds
        assert [event.sequence_number for event in events] == list(range(len(events)))
        assert final.output_text == "one two three" and final.usage.output_tokens == 3
        assert (await sdk.responses.retrieve(final.id)).output_text == "one two three"

    async def test_stream_true_yields_the_raw_events(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        stream = await sdk.responses.create(model="echo", input="hello there", stream=True)
        events = [event async for event in stream]
        deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
        assert deltas == "hello there" and events[-1].response.status == "completed"

    async def test_a_fallback_answers_and_is_named_whole_or_streamed(self, client, app, live_url, session):
        me, sdk = await _sdk(client, app, live_url)
        whole = await sdk.responses.create(model="failing", input="hi")
        assert whole.output_text == "hi" and whole.model == "echo"
        async with sdk.responses.stream(model="failing", input="hi again") as stream:
            final = await stream.get_final_response()
        assert final.output_text == "hi again" and final.model == "echo"
        models = (await session.scalars(select(UsageLog.model).where(UsageLog.user_id == me.id))).all()
        assert models.count("echo") == 2

    async def test_structured_output_through_text_format(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        parsed = await sdk.responses.parse(model="echo", input="forecast", text_format=Forecast)
        assert parsed.output_parsed == Forecast(city="city 1", degrees=1)
        anything = await sdk.responses.create(model="echo", input="hi", text={"format": {"type": "json_object"}})
        assert json.loads(anything.output_text) == {"answer": "hi"}


class TestTools:
    async def test_a_tool_round_trip_with_function_call_output(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        question = [{"role": "user", "content": "Weather in Paris?"}]
        first = await sdk.responses.create(model="echo", input=question, tools=[WEATHER], store=False)
        [call] = first.output
        assert call.type == "function_call" and call.name == "get_weather"
        assert json.loads(call.arguments) == {"city": "city 1"}
        second = await sdk.responses.create(
            model="echo",
            input=[
                *question,
                call.model_dump(),
                {"type": "function_call_output", "call_id": call.call_id, "output": "18"},
            ],
            tools=[WEATHER],
        )
        assert second.output_text == "18" and second.status == "completed"

    async def test_streamed_function_call_arguments(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        async with sdk.responses.stream(
            model="echo", input="weather", tools=[WEATHER], tool_choice="required"
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
        assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
        [call] = final.output
        assert call.type == "function_call" and json.loads(call.arguments) == {"city": "city 1"}

    async def test_continuing_a_call_by_previous_response_id(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        first = await sdk.responses.create(model="echo", input="Weather in Paris?", tools=[WEATHER])
        [call] = first.output
        second = await sdk.responses.create(
            model="echo",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 18"}],
            tools=[WEATHER],
        )
        assert second.output_text == "sunny, 18" and second.previous_response_id == first.id


class TestStorage:
    async def test_previous_response_id_carries_the_earlier_turns(self, client, app, live_url, session):
        me, sdk = await _sdk(client, app, live_url)
        first = await sdk.responses.create(model="show-prompt", input="my name is Ada", instructions="first rules")
        second = await sdk.responses.create(model="show-prompt", input="who am I?", previous_response_id=first.id)
        shown = second.output_text
        assert "my name is Ada" in shown and first.output_text in shown and "who am I?" in shown
        # The instructions are not carried over, as OpenAI does (only the first answer, which repeats them, is).
        assert shown.startswith("user: my name is Ada") and shown.count("first rules") == 1
        third = await sdk.responses.create(model="show-prompt", input="and now?", previous_response_id=second.id)
        assert "my name is Ada" in third.output_text and "who am I?" in third.output_text
        # One conversation for the chain, sealed at rest, not in the web chat's history.
        conversations = (await session.scalars(select(Conversation).where(Conversation.user_id == me.id))).all()
        assert [c.source for c in conversations] == ["responses"]
        stored = await session.scalars(select(Message.content).where(Message.conversation_id == conversations[0].id))
        assert all("Ada" not in text for text in stored.all())
        listed = await client.get("/api/v1/conversations", headers=me.headers)
        assert listed.json()["items"] == []

    async def test_a_deleted_response_leaves_only_its_own_turn_out_of_the_context(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        first = await sdk.responses.create(model="echo", input="alpha")
        second = await sdk.responses.create(model="echo", input="bravo", previous_response_id=first.id)
        third = await sdk.responses.create(model="echo", input="charlie", previous_response_id=second.id)
        await sdk.responses.delete(second.id)
        fourth = await sdk.responses.create(model="show-prompt", input="delta", previous_response_id=third.id)
        shown = fourth.output_text
        assert "alpha" in shown and "charlie" in shown and "delta" in shown and "bravo" not in shown

    async def test_retrieve_input_items_and_delete(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        created = await sdk.responses.create(model="echo", input="keep me")
        fetched = await sdk.responses.retrieve(created.id)
        assert fetched.output_text == "keep me" and fetched.usage.output_tokens == created.usage.output_tokens
        items = await sdk.responses.input_items.list(created.id)
        assert [item.content[0].text for item in items.data] == ["keep me"]
        await sdk.responses.delete(created.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(created.id)

    async def test_a_data_export_holds_stored_responses(self, client, app, live_url):
        me, sdk = await _sdk(client, app, live_url)
        await sdk.responses.create(model="echo", input="export canary-r1")
        started = await start_export(client, me)
        export = await export_when_done(client, me, started["id"])
        archive = await downloaded_zip(client, me, export)
        [markdown] = [n for n in archive.namelist() if n.startswith("conversations/") and n.endswith(".md")]
        assert "export canary-r1" in archive.read(markdown).decode()

    async def test_store_false_keeps_nothing(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        created = await sdk.responses.create(model="echo", input="forget me", store=False)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.create(model="echo", input="again", previous_response_id=created.id)

    async def test_another_users_response_is_not_found(self, client, app, live_url):
        _, owner = await _sdk(client, app, live_url)
        _, stranger = await _sdk(client, app, live_url)
        created = await owner.responses.create(model="echo", input="mine")
        for attempt in (
            stranger.responses.retrieve(created.id),
            stranger.responses.delete(created.id),
            stranger.responses.create(model="echo", input="x", previous_response_id=created.id),
        ):
            with pytest.raises(openai.NotFoundError) as caught:
                await attempt
            assert caught.value.body["type"] == "not_found_error"
        assert (await owner.responses.retrieve(created.id)).output_text == "mine"


class TestErrors:
    async def test_an_unknown_model_is_model_not_found(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk.responses.create(model="no-such-model", input="hi")
        assert caught.value.code == "model_not_found"

    async def test_what_parley_cannot_honour_is_a_400_naming_it(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        for extra, param in REFUSED:
            with pytest.raises(openai.BadRequestError) as caught:
                await sdk.responses.create(**{"model": "echo", "input": "hi", **extra})
            assert caught.value.body["param"] == param and caught.value.body["type"] == "invalid_request_error"

    async def test_a_used_up_quota_is_insufficient_quota(self, client, app, live_url):
        user = await user_on_plan(app, client, "responses-quota", {"tokens_per_day": 0})
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=user.access_token, max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError) as caught:
                await sdk.responses.create(model="echo", input="hi", stream=stream)
            assert caught.value.code == "insufficient_quota"

    async def test_a_stream_no_model_can_start_is_an_error_status(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.responses.create(model="broken-only", input="hi", stream=True)
        assert caught.value.status_code == 502
