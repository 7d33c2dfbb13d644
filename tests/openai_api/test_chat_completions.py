"""The official OpenAI Python SDK, unchanged, against Parley's /v1 with a Parley API key."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from sqlalchemy import select

from parley.models import UsageLog
from tests.factories import signed_in_user


async def _sdk(client, app, live_url, **key_body):
    me = await signed_in_user(app, client)
    created = await client.post("/api/v1/users/me/api-keys", json={"name": "sdk", **key_body}, headers=me.headers)
    key = created.json()["key"]
    return me, key, openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0)


class TestChatCompletions:
    async def test_non_streaming_completion_and_usage_record(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        completion = await sdk.chat.completions.create(
            model="echo",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping pong"}],
        )
        assert completion.object == "chat.completion" and completion.model == "echo"
        assert completion.choices[0].message.content == "ping pong"
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage.completion_tokens == 2 and completion.usage.prompt_tokens > 2
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row.model == "echo" and row.api_key_id is not None and row.conversation_id is None

    async def test_streaming_chunks_with_usage(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        stream = await sdk.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "one two three"
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes == ["stop"]
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
        assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)

    async def test_max_tokens_and_length_finish(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        completion = await sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "a b c d e"}], max_tokens=2
        )
        assert completion.choices[0].message.content == "a b"
        assert completion.choices[0].finish_reason == "length"

    async def test_fallback_is_transparent_and_names_the_answering_model(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        completion = await sdk.chat.completions.create(model="failing", messages=[{"role": "user", "content": "hi"}])
        assert completion.choices[0].message.content == "hi" and completion.model == "echo"

    async def test_models_lists_the_catalogue(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        ids = [model.id async for model in sdk.models.list()]
        assert {"auto", "echo", "slow", "failing"} <= set(ids)

    async def test_access_tokens_work_too(self, client, app, live_url):
        me = await signed_in_user(app, client)
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=me.access_token, max_retries=0)
        completion = await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "ok"}])
        assert completion.choices[0].message.content == "ok"


class TestErrors:
    async def test_bad_key_is_an_authentication_error(self, live_url):
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key="pk-000000000000_" + "x" * 40, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["type"] == "authentication_error"

    async def test_unknown_model_is_not_found(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "hi"}])
        assert "gpt-99" in caught.value.body["message"]

    async def test_invalid_request_names_the_parameter(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}], temperature=7)
        assert caught.value.body["param"] == "temperature"

    async def test_key_without_chat_scope_is_refused(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url, scopes=["conversations:read"])
        with pytest.raises(openai.PermissionDeniedError):
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])

    async def test_no_model_left_is_a_server_error(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(model="broken-only", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 502


class TestDisconnect:
    async def test_a_client_that_hangs_up_stops_generation_at_once(self, client, app, live_url, session):
        me, key, _ = await _sdk(client, app, live_url)
        words = " ".join(f"w{n}" for n in range(200))
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": words}]}
        async with (
            httpx.AsyncClient(base_url=live_url, timeout=10) as http,
            http.stream(
                "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
            ) as response,
        ):
            received = 0
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"delta":{"content":"' in line and '"content":""' not in line:
                    received += 1
                    if received == 3:
                        break
        row = None
        for _ in range(50):
            row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
            if row is not None:
                break
            await asyncio.sleep(0.05)
            session.expire_all()
        assert row is not None, "the abandoned completion was not counted"
        # At 25 tokens/s the full answer takes 8 s; it was cut off right after the client left.
        assert 3 <= row.completion_tokens < 20
