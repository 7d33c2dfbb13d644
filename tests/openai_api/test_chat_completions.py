"""The official OpenAI Python SDK, unchanged, against Parley's /v1 with a Parley API key."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from sqlalchemy import select

from parley.models import UsageLog
from tests.factories import openai_sdk, signed_in_user


async def _sdk(client, app, live_url, **key_body):
    return await openai_sdk(app, client, live_url, **key_body)


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

    async def test_options_parley_does_not_know_are_ignored(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        completion = await sdk.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "ping", "name": "me", "cache_hint": 1}],
            seed=7,
            user="someone",
            presence_penalty=0.5,
            logit_bias={"50256": -100},
            extra_body={"vendor_option": {"nested": True}},
        )
        assert completion.choices[0].message.content == "ping"

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
        assert caught.value.body["code"] == "model_not_found" and caught.value.body["param"] == "model"

    async def test_invalid_request_is_a_400_naming_the_parameter(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}], temperature=7)
        assert caught.value.status_code == 400
        assert caught.value.body["type"] == "invalid_request_error" and caught.value.body["param"] == "temperature"
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": 42}])
        assert caught.value.body["param"] == "messages.0.content"
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model="echo", messages=[{"content": "who am I?"}])
        assert caught.value.body["param"] == "messages.0.role"

    async def test_invalid_json_is_a_400_naming_no_parameter(self, client, app, live_url):
        _, key, _ = await _sdk(client, app, live_url)
        async with httpx.AsyncClient(base_url=live_url) as http:
            response = await http.post(
                "/v1/chat/completions",
                content=b'{"model": "echo", "messages": [',
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] is None
        assert "JSON" in error["message"]

    async def test_an_unknown_route_is_not_called_an_unknown_model(self, client, app, live_url):
        _, key, _ = await _sdk(client, app, live_url)
        async with httpx.AsyncClient(base_url=live_url) as http:
            response = await http.post(
                "/v1/chat/completion", json={"model": "echo"}, headers={"Authorization": f"Bearer {key}"}
            )
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "unknown_url" and error["type"] == "not_found_error"
        assert "/v1/chat/completion" in error["message"]

    async def test_key_without_chat_scope_is_refused(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url, scopes=["conversations:read"])
        with pytest.raises(openai.PermissionDeniedError):
            await sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])

    async def test_no_model_left_is_a_server_error(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(model="broken-only", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 502


def _counting_sdk(live_url: str, key: str, *, max_retries: int) -> tuple[openai.AsyncOpenAI, list[str]]:
    """The SDK with retries on, and the list of requests it actually sent."""
    sent: list[str] = []

    async def note(request: httpx.Request) -> None:
        sent.append(request.url.path)

    http = httpx.AsyncClient(event_hooks={"request": [note]})
    return openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=max_retries, http_client=http), sent


class TestStreamedFailures:
    """A stream whose every model fails before its first token answers with the error status, so the SDK raises
    its status error (not a status-less APIError mid-stream) and retries what is worth retrying."""

    async def test_every_model_failing_before_a_token_is_a_502_the_sdk_retries(self, client, app, live_url):
        _, key, _ = await _sdk(client, app, live_url)
        sdk, sent = _counting_sdk(live_url, key, max_retries=1)
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(
                model="broken-only", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        assert caught.value.status_code == 502
        assert caught.value.body["type"] == "server_error" and "no model could answer" in caught.value.body["message"]
        assert sent == ["/v1/chat/completions"] * 2

    async def test_a_rate_limited_upstream_is_a_429_the_sdk_retries(self, client, app, live_url):
        _, key, _ = await _sdk(client, app, live_url)
        sdk, sent = _counting_sdk(live_url, key, max_retries=1)
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(
                model="rate-limited", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        assert caught.value.status_code == 429 and caught.value.body["type"] == "rate_limit_error"
        assert sent == ["/v1/chat/completions"] * 2

    async def test_models_resting_behind_an_open_circuit_are_a_503_with_retry_after(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        for _ in range(app.state.settings.llm.breaker_failure_threshold):
            with pytest.raises(openai.InternalServerError):
                await sdk.chat.completions.create(model="broken-only", messages=[{"role": "user", "content": "hi"}])
        assert app.state.router.breaker("broken-only").is_open
        for stream in (True, False):
            with pytest.raises(openai.InternalServerError) as caught:
                await sdk.chat.completions.create(
                    model="broken-only", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            assert caught.value.status_code == 503 and "circuit open" in caught.value.body["message"]
            cooldown = app.state.settings.llm.breaker_cooldown_seconds
            assert 0 < int(caught.value.response.headers["retry-after"]) <= cooldown

    async def test_a_fallback_before_the_first_token_still_streams_with_200(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        stream = await sdk.chat.completions.create(
            model="failing", messages=[{"role": "user", "content": "still here"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "still here"
        assert chunks[-1].model == "echo"


class TestUsageOfRefusedAttempts:
    """An attempt the upstream refused before any token was never billed: it is no spend."""

    async def test_a_fallback_after_a_500_records_only_the_model_that_answered(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        await sdk.chat.completions.create(model="failing", messages=[{"role": "user", "content": "a b c"}])
        stream = await sdk.chat.completions.create(
            model="failing", messages=[{"role": "user", "content": "d e"}], stream=True
        )
        [chunk async for chunk in stream]
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert sorted((row.model, row.completion_tokens) for row in rows) == [("echo", 2), ("echo", 3)]

    async def test_a_request_no_model_could_start_costs_nothing(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        for stream in (False, True):
            with pytest.raises(openai.InternalServerError):
                await sdk.chat.completions.create(
                    model="broken-only", messages=[{"role": "user", "content": "a long prompt " * 50}], stream=stream
                )
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert all(row.prompt_tokens == 0 and row.completion_tokens == 0 and row.cost_usd == 0 for row in rows)


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

    async def test_a_client_that_hangs_up_before_the_first_token_stops_the_wait(self, client, app, live_url, session):
        """While the status waits for the first token nothing is sent, yet a hang-up still cancels the upstream
        call: the attempt is over (and recorded, as nothing spent) long before the model's 10 s first token."""
        me, key, _ = await _sdk(client, app, live_url)
        body = {"model": "quiet", "stream": True, "messages": [{"role": "user", "content": "take your time"}]}
        for stream in (True, False):
            async with httpx.AsyncClient(base_url=live_url, timeout=10) as http:
                request = asyncio.create_task(
                    http.post(
                        "/v1/chat/completions",
                        json={**body, "stream": stream},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                )
                await asyncio.sleep(0.5)
                request.cancel()  # the client hangs up, its connection closed with it
                with pytest.raises(asyncio.CancelledError):
                    await request
        rows = []
        for _ in range(100):  # 5 s at most, half the model's silence
            rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
            if len(rows) == 2:
                break
            await asyncio.sleep(0.05)
            session.expire_all()
        assert len(rows) == 2, "the abandoned waits were not cut short"
        assert all(row.model == "quiet" and row.completion_tokens == 0 and row.prompt_tokens == 0 for row in rows)
