"""The official `anthropic` Python SDK, unchanged, against Parley's `POST /v1/messages` with a Parley API key:
plain and streamed messages, tool use, token counting, and errors in Anthropic's shape (issue 15)."""

from __future__ import annotations

import asyncio
import json

import anthropic
import httpx
import httpx2
import pytest
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.models import UsageLog
from tests.factories import signed_in_user, user_with_api_key
from tests.plans.arrange import user_on_plan
from tests.sse import parse_events

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}
HI = [{"role": "user", "content": "hi"}]
# About 16 seconds of answer at the slow model's 25 tokens a second.
LONG = " ".join(f"word{n}" for n in range(400))


async def _key(client, app, **key_body) -> tuple[object, str]:
    return await user_with_api_key(app, client, **{"name": "claude", **key_body})


async def _sdk(client, app, live_url, **key_body) -> tuple[object, str, anthropic.AsyncAnthropic]:
    me, key = await _key(client, app, **key_body)
    return me, key, anthropic.AsyncAnthropic(base_url=live_url, api_key=key, max_retries=0)


def _error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    return str(body["error"]["message"])


class TestMessages:
    async def test_a_message_with_usage_recorded_against_the_key(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(
            model="echo", max_tokens=100, system="be brief", messages=[{"role": "user", "content": "ping pong"}]
        )
        assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
        assert message.model == "echo" and message.stop_reason == "end_turn" and message.stop_sequence is None
        assert [(block.type, block.text) for block in message.content] == [("text", "ping pong")]
        assert message.usage.output_tokens == 2 and message.usage.input_tokens > 2
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row.model == "echo" and row.api_key_id is not None and row.completion_tokens == 2

    async def test_a_bearer_token_works_as_the_key_too(self, client, app, live_url):
        _, key = await _key(client, app)
        sdk = anthropic.AsyncAnthropic(base_url=live_url, auth_token=key, max_retries=0)
        message = await sdk.messages.create(model="echo", max_tokens=10, messages=HI)
        assert message.content[0].text == "hi"

    async def test_system_blocks_and_text_blocks_reach_the_model_in_order(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(
            model="show-prompt",
            max_tokens=1000,
            system=[
                {"type": "text", "text": "rule one"},
                {"type": "text", "text": "rule two", "cache_control": {"type": "ephemeral"}},
            ],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": "again"},
            ],
            metadata={"user_id": "someone"},
            # Not among this SDK's arguments; Anthropic's API and Parley still take it.
            extra_body={"temperature": 0.2},
        )
        assert message.content[0].text == (
            "system: rule one\nrule two\n\nuser: first\nsecond\n\nassistant: an answer\n\nuser: again"
        )

    async def test_max_tokens_stops_the_answer_with_max_tokens(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(
            model="echo", max_tokens=2, messages=[{"role": "user", "content": "a b c d e"}]
        )
        assert message.content[0].text == "a b" and message.stop_reason == "max_tokens"

    async def test_a_fallback_names_the_model_that_answered(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(model="failing", max_tokens=10, messages=HI)
        assert message.content[0].text == "hi" and message.model == "echo"

    async def test_structured_output_follows_the_schema_and_adaptive_thinking_is_accepted(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        message = await sdk.messages.create(
            model="echo",
            max_tokens=100,
            messages=HI,
            output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "low"},
            thinking={"type": "adaptive"},
        )
        assert json.loads(message.content[0].text) == {"city": "city 1"}


class TestStreaming:
    async def test_anthropics_events_in_order_with_event_lines(self, client, app, live_url):
        _, key = await _key(client, app)
        async with httpx.AsyncClient(base_url=live_url) as http:
            response = await http.post(
                "/v1/messages",
                json={
                    "model": "echo",
                    "max_tokens": 50,
                    "stream": True,
                    "messages": [{"role": "user", "content": "one two three"}],
                },
                headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            )
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = parse_events(response.text)
        assert all(event.event == event.data["type"] for event in events)
        names = [event.event for event in events]
        assert names == [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        start = events[0].data["message"]
        assert start["id"].startswith("msg_") and start["content"] == [] and start["stop_reason"] is None
        assert events[2].data == {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        deltas = [event.data["delta"] for event in events if event.event == "content_block_delta"]
        assert "".join(delta["text"] for delta in deltas) == "one two three"
        assert {delta["type"] for delta in deltas} == {"text_delta"}
        final = events[-2].data
        assert final["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
        assert final["usage"]["output_tokens"] == 3 and final["usage"]["input_tokens"] > 0

    async def test_the_sdk_stream_helper_gives_the_text_and_final_message(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        async with sdk.messages.stream(
            model="echo", max_tokens=50, messages=[{"role": "user", "content": "streamed words here"}]
        ) as stream:
            text = "".join([piece async for piece in stream.text_stream])
            final = await stream.get_final_message()
        assert text == "streamed words here"
        assert final.content[0].text == text and final.stop_reason == "end_turn" and final.usage.output_tokens == 3

    async def test_every_model_failing_before_a_token_is_an_error_status_not_a_200(self, client, app, live_url):
        _, key = await _key(client, app)
        sent: list[str] = []

        async def note(request: httpx2.Request) -> None:
            sent.append(request.url.path)

        sdk = anthropic.AsyncAnthropic(
            base_url=live_url,
            api_key=key,
            max_retries=1,
            http_client=httpx2.AsyncClient(event_hooks={"request": [note]}),
        )
        with pytest.raises(anthropic.InternalServerError) as caught:
            async with sdk.messages.stream(model="broken-only", max_tokens=10, messages=HI) as stream:
                await stream.get_final_message()
        assert caught.value.status_code == 529 and caught.value.body["error"]["type"] == "overloaded_error"
        assert sent == ["/v1/messages"] * 2  # the SDK retried it

    async def test_a_rate_limited_upstream_is_a_429(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await sdk.messages.create(model="rate-limited", max_tokens=10, messages=HI, stream=True)
        assert caught.value.body["error"]["type"] == "rate_limit_error"


class TestToolUse:
    async def test_a_tool_round_trip(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        question = [{"role": "user", "content": "Weather in Paris?"}]
        first = await sdk.messages.create(model="echo", max_tokens=100, messages=question, tools=[WEATHER])
        assert first.stop_reason == "tool_use"
        [call] = first.content
        assert call.type == "tool_use" and call.name == "get_weather" and call.id
        assert call.input == {"city": "city 1"}

        # The result goes back as a tool_result block: the model answers with it.
        second = await sdk.messages.create(
            model="echo",
            max_tokens=100,
            tools=[WEATHER],
            messages=[
                *question,
                {"role": "assistant", "content": [block.model_dump() for block in first.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees"}]},
            ],
        )
        assert second.stop_reason == "end_turn" and second.content[0].text == "18 degrees"
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert len(rows) == 2 and all(row.completion_tokens > 0 for row in rows)

    async def test_the_model_sees_tool_calls_and_results_as_such(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(
            model="show-prompt",
            max_tokens=1000,
            tools=[TIME],
            messages=[
                {"role": "user", "content": "what time?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_9", "name": "get_time", "input": {"zone": "UTC"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_9",
                            "content": [{"type": "text", "text": "noon"}],
                        },
                        {"type": "text", "text": "and tomorrow?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_10", "name": "get_time", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_10", "content": "no clock", "is_error": True}
                    ],
                },
            ],
        )
        assert message.content[0].text == (
            "user: what time?\n\n"
            'assistant: Let me look.\n[call toolu_9 get_time({"zone": "UTC"})]\n\n'
            "tool (toolu_9): noon\n\n"
            "user: and tomorrow?\n\n"
            "assistant: \n[call toolu_10 get_time({})]\n\n"
            "tool (toolu_10): Error: no clock"
        )

    async def test_streamed_tool_use_with_input_json_deltas(self, client, app, live_url):
        _, key, sdk = await _sdk(client, app, live_url)
        body = {
            "model": "echo",
            "max_tokens": 100,
            "stream": True,
            "tools": [WEATHER, TIME],
            "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "time and weather"}],
        }
        async with httpx.AsyncClient(base_url=live_url) as http:
            response = await http.post("/v1/messages", json=body, headers={"x-api-key": key})
        events = parse_events(response.text)
        starts = [e.data for e in events if e.event == "content_block_start"]
        assert [(s["index"], s["content_block"]["type"], s["content_block"]["name"]) for s in starts] == [
            (0, "tool_use", "get_weather"),
            (1, "tool_use", "get_time"),
        ]
        pieces = {0: "", 1: ""}
        for event in events:
            if event.event == "content_block_delta":
                assert event.data["delta"]["type"] == "input_json_delta"
                pieces[event.data["index"]] += event.data["delta"]["partial_json"]
        assert json.loads(pieces[0]) == {"city": "city 1"} and json.loads(pieces[1]) == {"zone": "zone 1"}
        assert [e.data["index"] for e in events if e.event == "content_block_stop"] == [0, 1]
        assert [e.data["delta"]["stop_reason"] for e in events if e.event == "message_delta"] == ["tool_use"]

        # The SDK's stream helper assembles the call's input from the deltas.
        async with sdk.messages.stream(
            model="echo",
            max_tokens=100,
            tools=[WEATHER, TIME],
            tool_choice={"type": "tool", "name": "get_time"},
            messages=[{"role": "user", "content": "time"}],
        ) as stream:
            final = await stream.get_final_message()
        [call] = final.content
        assert call.type == "tool_use" and call.name == "get_time" and call.input == {"zone": "zone 1"}
        assert final.stop_reason == "tool_use"

    async def test_tool_choice_none_answers_in_text(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(
            model="echo", max_tokens=10, messages=HI, tools=[WEATHER], tool_choice={"type": "none"}
        )
        assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"

    async def test_disable_parallel_tool_use_makes_one_call(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        message = await sdk.messages.create(
            model="echo",
            max_tokens=100,
            messages=HI,
            tools=[WEATHER, TIME],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )
        assert [block.name for block in message.content] == ["get_weather"]


class TestCountTokens:
    async def test_the_prompt_is_counted_as_the_model_counts_it(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        messages = [{"role": "user", "content": "one two three"}]
        counted = await sdk.messages.count_tokens(model="echo", system="be brief", messages=messages)
        # The scripted model's tokenizer: a word is a token, plus four per message.
        assert counted.input_tokens == (2 + 4) + (3 + 4)
        answered = await sdk.messages.create(model="echo", max_tokens=10, system="be brief", messages=messages)
        assert answered.usage.input_tokens == counted.input_tokens

        with_tools = await sdk.messages.count_tokens(model="echo", messages=messages, tools=[WEATHER])
        assert with_tools.input_tokens > 3 + 4

    async def test_an_unknown_model_is_404_and_no_key_is_401(self, client, app, live_url):
        _, key = await _key(client, app)
        async with httpx.AsyncClient(base_url=live_url) as http:
            unknown = await http.post(
                "/v1/messages/count_tokens", json={"model": "claude-nope", "messages": HI}, headers={"x-api-key": key}
            )
            anonymous = await http.post("/v1/messages/count_tokens", json={"model": "echo", "messages": HI})
        assert "claude-nope" in _error(unknown, 404, "not_found_error")
        _error(anonymous, 401, "authentication_error")


class TestErrors:
    async def test_credentials_are_checked_in_anthropics_shape(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url, scopes=["profile:read"])
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            await sdk.messages.create(model="echo", max_tokens=10, messages=HI)
        assert denied.value.body["error"]["type"] == "permission_error" and "chat" in denied.value.message

        wrong = anthropic.AsyncAnthropic(base_url=live_url, api_key="pk-not-a-real-key", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as unauthenticated:
            await wrong.messages.create(model="echo", max_tokens=10, messages=HI)
        assert unauthenticated.value.body["error"]["type"] == "authentication_error"

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"model": "echo", "messages": HI}, "max_tokens: Field required"),
            ({"model": "echo", "max_tokens": 0, "messages": HI}, "max_tokens"),
            ({"model": "echo", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
            (
                {
                    "model": "echo",
                    "max_tokens": 10,
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "what is this?"},
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                                },
                            ],
                        }
                    ],
                },
                "messages.0.content.1: the image is not a PNG, JPEG, WebP or GIF image",
            ),
            ({"model": "echo", "max_tokens": 10, "messages": HI, "top_k": 5}, "top_k"),
            (
                {
                    "model": "echo",
                    "max_tokens": 10,
                    "messages": HI,
                    "thinking": {"type": "enabled", "budget_tokens": 1024},
                },
                "thinking",
            ),
            (
                {
                    "model": "echo",
                    "max_tokens": 10,
                    "messages": HI,
                    "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                },
                "server tools",
            ),
            (
                {
                    "model": "echo",
                    "max_tokens": 10,
                    "messages": HI,
                    "tools": [WEATHER],
                    "tool_choice": {"type": "tool", "name": "other"},
                },
                "tool_choice.name",
            ),
        ],
    )
    async def test_a_bad_request_is_a_400_saying_what_is_wrong(self, client, app, body, says):
        _, key = await _key(client, app)
        response = await client.post("/v1/messages", json=body, headers={"x-api-key": key})
        assert says in _error(response, 400, "invalid_request_error")

    async def test_unreadable_json_and_unknown_models(self, client, app):
        _, key = await _key(client, app)
        headers = {"x-api-key": key, "content-type": "application/json"}
        broken = await client.post("/v1/messages", content=b'{"model": ', headers=headers)
        assert "not valid JSON" in _error(broken, 400, "invalid_request_error")
        unknown = await client.post(
            "/v1/messages", json={"model": "claude-opus-4", "max_tokens": 5, "messages": HI}, headers=headers
        )
        assert "claude-opus-4" in _error(unknown, 404, "not_found_error")

    async def test_the_plans_rate_limit_is_a_429_with_retry_after(self, client, app, live_url):
        user = await user_on_plan(app, client, "slow-lane", {"requests_per_minute": 1})
        created = await client.post("/api/v1/users/me/api-keys", json={"name": "k"}, headers=user.headers)
        sdk = anthropic.AsyncAnthropic(base_url=live_url, api_key=created.json()["key"], max_retries=0)
        await sdk.messages.create(model="echo", max_tokens=10, messages=HI)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await sdk.messages.create(model="echo", max_tokens=10, messages=HI)
        assert caught.value.body["error"]["type"] == "rate_limit_error"
        assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
        # The same user's minute as /v1/chat/completions.
        refused = await client.post(
            "/v1/chat/completions", json={"model": "echo", "messages": HI}, headers=user.headers
        )
        assert refused.status_code == 429


class TestRoutes:
    async def test_other_methods_and_paths_answer_in_anthropics_shape(self, client, app):
        _, key = await _key(client, app)
        wrong_method = await client.get("/v1/messages", headers={"x-api-key": key})
        _error(wrong_method, 405, "invalid_request_error")
        unknown = await client.post("/v1/messages/batches", json={}, headers={"x-api-key": key})
        assert "/v1/messages/batches" in _error(unknown, 404, "not_found_error")


class TestSuspension:
    async def test_suspending_the_user_stops_the_message_being_streamed(self, client, app, live_url):
        admin = await signed_in_user(app, client, role=Role.ADMIN)
        me, key = await _key(client, app)
        body = {"model": "slow", "max_tokens": 1000, "stream": True, "messages": [{"role": "user", "content": LONG}]}
        async with (
            httpx.AsyncClient(base_url=live_url, timeout=10) as http,
            http.stream("POST", "/v1/messages", json=body, headers={"x-api-key": key}) as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            texts = 0
            while texts < 3:
                texts += "text_delta" in await anext(lines)
            suspended = await client.post(f"/api/v1/admin/users/{me.id}/suspend", headers=admin.headers)
            assert suspended.status_code == 200, suspended.text
            after: list[str] = []
            async with asyncio.timeout(3):  # the whole answer would take about 15 more seconds
                async for line in lines:
                    after.append(line)
        events = parse_events("\n".join(after))
        assert sum(event.event == "content_block_delta" for event in events) <= 5
        assert events[-1].event == "error" and events[-1].data["error"]["type"] == "permission_error"
        assert "suspended" in events[-1].data["error"]["message"]
